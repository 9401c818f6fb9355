"""notebooks/explore.ipynb runs top to bottom against the catalog of the tiny default run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import nbformat
import yaml
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT


def test_explore_notebook_shows_data_curves_comparison_and_heatmaps(default_run):
    notebooks = default_run.project / "notebooks"
    notebooks.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "notebooks/explore.ipynb", notebooks)
    notebook = nbformat.read(notebooks / "explore.ipynb", as_version=4)
    # A configuration that selects a variant no run has trained yet (resnet18): the notebook showed the
    # selected variants' curves, and stopped on that one's.
    settings = yaml.safe_load((default_run.project / "conf/local/parameters_train.yml").read_text())
    settings["train"]["variants"].append("resnet18")
    selects_more = default_run.project / "conf/selects_more"
    selects_more.mkdir(exist_ok=True)
    (selects_more / "parameters_train.yml").write_text(yaml.safe_dump(settings))

    client = NotebookClient(
        notebook, timeout=300, allow_errors=True, resources={"metadata": {"path": str(notebooks)}}
    )
    try:
        client.execute(env={**os.environ, "KEDRO_ENV": "selects_more"})
    finally:
        shutil.rmtree(selects_more)

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    errors = [f"{out.ename}: {out.evalue}" for out in outputs if out.output_type == "error"]
    assert not errors, errors
    assert not (notebooks / "mlflow.db").exists(), "the project's store, not an empty one beside the notebook"
    shown = "".join(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # IPython's rich display colours its reprs
    assert "Traceback" not in text, "kedro's IPython extension shows failed catalog loads as displayed text"
    assert "Warning" not in text, "the first cell showed tqdm's `TqdmWarning: IProgress not found`"
    assert "as logging configuration" not in text, "Kedro's rich logging, said in notebooks/ as it loaded"
    assert "small_cnn_b" in text and "resnet18" not in text, "the variants compared, not those selected"
    assert '"promote": true' in text
    explained = int(re.search(r"(\d+) explained images in", text).group(1))
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    # the EDA grid, the compared variants' two training curves, up to four heatmap panels
    assert explained >= 1 and len(images) == 1 + 2 + min(4, explained), f"{len(images)} images shown"


def test_the_notebooks_first_cell_takes_the_projects_logging_from_the_project_folder_too():
    """A kernel started in the project's folder, not notebooks/: the cell's `../conf/logging.yml` was
    looked for beside the project, and Kedro's import stopped on a FileNotFoundError."""
    notebook = nbformat.read(PROJECT_ROOT / "notebooks/explore.ipynb", as_version=4)
    first = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    setup = "\n".join(line for line in first.splitlines() if not line.startswith("%"))
    said = "import kedro.framework.project\nprint(os.environ['KEDRO_LOGGING_CONFIG'])"
    env = {name: value for name, value in os.environ.items() if name != "KEDRO_LOGGING_CONFIG"}
    for folder in (PROJECT_ROOT, PROJECT_ROOT / "notebooks"):
        run = subprocess.run(
            [sys.executable, "-c", f"{setup}\n{said}"], cwd=folder, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == str(PROJECT_ROOT / "conf/logging.yml")
