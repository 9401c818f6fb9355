"""notebooks/explore.ipynb runs top to bottom against the catalog of the tiny default run."""

from __future__ import annotations

import re
import shutil

import nbformat
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT


def test_explore_notebook_shows_data_curves_comparison_and_heatmaps(default_run):
    notebooks = default_run.project / "notebooks"
    notebooks.mkdir(exist_ok=True)
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
    assert "Traceback" not in text, "kedro's IPython extension shows failed catalog loads as displayed text"
    assert "['small_cnn', 'small_cnn_b']" in text, "the variants from the configuration"
    assert "explained images in" in text and '"promote": true' in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    # the EDA grid, two training curves, four heatmap panels
    assert len(images) >= 7, f"{len(images)} images shown"
