"""Kedro session runs of synth -> ingest -> split on tiny data, in a scratch copy of the project."""

from pathlib import Path

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from crack_pipeline.vision.errors import InputError
from tests.conftest import image_bytes, logged_lines, run_session, write

UP_TO_SPLIT = ["split_images", "describe_images", "plot_intensity_histograms", "plot_sample_grid"]
TINY = {"synth": {"count_per_class": 12, "image_size": 64, "workers": 1}}


def run(project: Path, pipeline: str | None = None, params: dict | None = None) -> list[str]:
    """Run a pipeline up to the split (training has its own tests); the lines it logged."""
    with logged_lines() as lines:
        run_session(project, params, pipeline_names=[pipeline] if pipeline else None, to_nodes=UP_TO_SPLIT)
    return lines


def latest(project: Path, relative: str) -> pd.DataFrame:
    versions = sorted((project / relative).iterdir())
    return pd.read_csv(versions[-1] / Path(relative).name)


def test_default_pipeline_synth_ingest_split(kedro_project):
    lines = run(kedro_project, params=TINY)
    assert "ingest: scanned 24 files, kept 24 (crack 12, no_crack 12), skipped 0" in lines
    images = kedro_project / "data/01_raw/synthetic/images"
    assert len(list(images.rglob("*.jpg"))) == 24
    assert len(list((kedro_project / "data/01_raw/synthetic/masks").rglob("*.png"))) == 12
    index = latest(kedro_project, "data/02_intermediate/image_index.csv")
    assert (index.status == "ok").all() and len(index) == 24
    manifest = latest(kedro_project, "data/03_primary/split_manifest.csv")
    assert manifest.groupby("split").size().to_dict() == {"test": 4, "train": 16, "val": 4}
    assert set(manifest.root) == {str(images)}, "each image's folder is recorded with the split"
    for report in [
        "class_counts.csv",
        "image_sizes.csv",
        "channel_stats.csv",
        "sample_grid.png",
        "intensity_histograms.png",
    ]:
        assert any((kedro_project / "data/08_reporting/eda" / report).rglob("*.*")), report

    run(kedro_project, params=TINY)  # a second run adds versions, never overwrites
    assert len(list((kedro_project / "data/03_primary/split_manifest.csv").iterdir())) == 2


def test_from_folder_on_a_user_folder_with_a_bad_file(kedro_project, tmp_path):
    source = tmp_path / "photos"
    for i in range(6):
        write(source, f"cracked/c{i}.jpg", image_bytes(fmt="JPEG", seed=i))
        write(source, f"uncracked/u{i}.png", image_bytes(seed=100 + i))
    write(source, "cracked/broken.jpg", b"\xff\xd8\xff\xe0 not really")
    lines = run(
        kedro_project,
        "from_folder",
        {"data": {"source_dir": str(source)}, "split": {"ratios": {"train": 0.5, "val": 0.25, "test": 0.25}}},
    )
    assert "ingest: scanned 13 files, kept 12 (crack 6, no_crack 6), skipped 1" in lines
    assert any(line.startswith("  skipped, unreadable: 1 — cracked/broken.jpg (") for line in lines)
    assert not (kedro_project / "data/01_raw/synthetic").exists(), (
        "synthetic data is not generated for a user folder"
    )
    manifest = latest(kedro_project, "data/03_primary/split_manifest.csv")
    assert len(manifest) == 12 and "cracked/broken.jpg" not in set(manifest.path)


def test_a_source_folder_that_does_not_exist_is_an_error_naming_the_setting(kedro_project, tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(DatasetError, match=rf"data\.source_dir: image folder '{missing}' does not exist"):
        run(kedro_project, "from_folder", {"data": {"source_dir": str(missing)}})


@pytest.mark.parametrize("setting", ["source_dir", "sources"])
def test_default_pipeline_refuses_a_user_folder(kedro_project, tmp_path, setting):
    folders = str(tmp_path) if setting == "source_dir" else [{"domain": "mine", "path": str(tmp_path)}]
    with pytest.raises(InputError, match=f"data.{setting}.*--pipelines=from_folder"):
        run(kedro_project, params={**TINY, "data": {setting: folders}})


def test_impossible_split_fails_before_writing_a_manifest(kedro_project):
    with pytest.raises(ValueError, match="sum to 1"):
        run(kedro_project, params={**TINY, "split": {"ratios": {"train": 0.9, "val": 0.2, "test": 0.1}}})
    assert not (kedro_project / "data/03_primary/split_manifest.csv").exists()
