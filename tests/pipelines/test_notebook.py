"""notebooks/explore.ipynb runs top to bottom against the catalog of a tiny default run."""

from __future__ import annotations

import re
import shutil

import nbformat
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT, use_tiny_training

TINY = {"synth": {"count_per_class": 12, "image_size": 64, "workers": 2}}


def test_explore_notebook_shows_data_curves_comparison_and_heatmaps(kedro_project):
    use_tiny_training(kedro_project, epochs=1)
    bootstrap_project(kedro_project)
    with KedroSession.create(project_path=kedro_project, runtime_params=TINY) as session:
        session.run()
    notebooks = kedro_project / "notebooks"
    notebooks.mkdir()
    shutil.copy(PROJECT_ROOT / "notebooks/explore.ipynb", notebooks)
    notebook = nbformat.read(notebooks / "explore.ipynb", as_version=4)

    client = NotebookClient(
        notebook, timeout=300, allow_errors=True, resources={"metadata": {"path": str(notebooks)}}
    )
    client.execute()

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    errors = [f"{out.ename}: {out.evalue}" for out in outputs if out.output_type == "error"]
    assert not errors, errors
    shown = "".join(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # IPython's rich display colours its reprs
    assert "['small_cnn']" in text, "the variants from the configuration"
    assert "explained images in" in text and '"promote": true' in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    # the EDA grid, one training curve, four heatmap panels
    assert len(images) >= 6, f"{len(images)} images shown"
