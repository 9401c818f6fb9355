"""Each environment (conf/<env>) keeps its own artefacts under its data_root; what every data set shares stays
in data/."""

import pytest

from crack_pipeline.config import environment_config
from tests.conftest import PROJECT_ROOT

# The entries every environment shares: the synthetic set, the crack segmenter trained on it, mask tiles
# (data.sources name them by path) and the fetch report (fetched data sets land in data/01_raw).
SHARED = {
    "synthetic_images",
    "synthetic_masks",
    "crack_segmenter",
    "latest_crack_segmenter",
    "mask_tile_images",
    "mask_tile_summary",
    "fetch_summary",
}


@pytest.mark.parametrize(
    "env, root", [("local", "data"), ("general", "data/general"), ("ozgenel", "data/ozgenel")]
)
def test_each_environment_keeps_its_own_artefacts_and_shares_the_common_ones(monkeypatch, env, root):
    monkeypatch.chdir(PROJECT_ROOT)
    config = environment_config(env)
    catalog = config["catalog"]
    stored = {
        name: entry.get("filepath") or entry.get("path")
        for name, entry in catalog.items()
        if not name.startswith("_") and str(entry.get("filepath") or entry.get("path")).startswith("data/")
    }  # the project's own files, not the folders a run reads (data.source_dir, explain.input_dir, ...)
    assert set(stored) > SHARED and len(stored) > 40
    for name, where in stored.items():
        assert where.startswith("data/0" if name in SHARED else f"{root}/0"), (name, where)
    assert catalog["previous_split_manifest"]["filepath"] == catalog["split_manifest"]["filepath"]
    assert catalog["latest_crack_segmenter"]["filepath"] == catalog["crack_segmenter"]["filepath"]
    assert config["parameters"]["train"]["resume_dir"] == f"{root}/06_models/in_progress"
