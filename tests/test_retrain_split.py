"""split_for_retrain: earlier images keep their split; a split made anew under a champion is warned of."""

import logging

import pytest

from crack_pipeline.pipelines.retrain.nodes import split_for_retrain
from crack_pipeline.pipelines.split.nodes import split_images
from crack_pipeline.provenance import split_fingerprint
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.sources import Source, scan_sources
from crack_pipeline.vision.data.splitting import SplitError
from tests.conftest import write
from tests.test_sources import wall_patches

SPLIT = {"ratios": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 42}


def test_a_split_made_anew_under_a_champion_is_warned_of_and_an_extended_one_is_not(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="crack_pipeline")
    walls = wall_patches(tmp_path / "walls", range(1, 11), 2, seed=0)
    index = scan_sources([Source("walls", Folder.scan(walls), r"^(\d+)-")], DEFAULT_ALIASES, workers=1).index
    # The 20 images' few test images are warned of too (split_counts): not what this test is about.
    leaks = lambda: [r for r in caplog.records if "too few to judge" not in r.message]  # noqa: E731
    first, _ = split_for_retrain(index, None, {"champion_split_fingerprint": None}, SPLIT)
    assert not leaks(), "no champion yet: nothing it learned from to leak"
    trained_on = {"champion_split_fingerprint": split_fingerprint(first)}
    again, _ = split_for_retrain(index, first, trained_on, SPLIT)
    assert again.set_index("path").split.equals(first.set_index("path").split) and not leaks()
    split_for_retrain(index, None, trained_on, SPLIT)  # the environment's earlier split is gone
    assert "retrain: this environment holds no earlier split, though the champion was trained on one" in (
        caplog.text
    )


def test_an_image_saved_again_under_its_name_keeps_its_split(tmp_path, caplog):
    walls = wall_patches(tmp_path / "walls", range(1, 11), 2, seed=0)
    scan = lambda: scan_sources([Source("walls", Folder.scan(walls))], DEFAULT_ALIASES, workers=1).index  # noqa: E731
    first, _ = split_for_retrain(scan(), None, {"champion_split_fingerprint": None}, SPLIT)
    # Every image exported again: other bytes (a new seed), the same names.
    wall_patches(walls, range(1, 11), 2, seed=50)
    caplog.set_level(logging.WARNING, logger="crack_pipeline")
    # Another seed: split afresh, the images would move.
    again, _ = split_for_retrain(scan(), first, {"champion_split_fingerprint": None}, {**SPLIT, "seed": 7})
    assert not set(again.sha256) & set(first.sha256), "all content changed"
    assert again.set_index("path").split.equals(first.set_index("path").split)
    assert "20 image(s) changed content under the same name since the last split" in caplog.text


def test_a_folder_of_one_class_is_refused_before_anything_is_split_or_trained(tmp_path):
    walls = wall_patches(tmp_path / "walls", range(2, 12, 2), 2, seed=0)  # even photos: all cracked
    write(walls, "Negative/broken.png", b"not an image")
    index = scan_sources([Source("walls", Folder.scan(walls))], DEFAULT_ALIASES, workers=1).index
    with pytest.raises(SplitError, match=rf"every usable image in {walls} is 'crack'.*'no_crack': 1"):
        split_images(index, {**SPLIT, "subset_fraction": 1.0})
    with pytest.raises(SplitError, match="a crack classifier needs both classes"):
        split_for_retrain(index, None, {"champion_split_fingerprint": None}, SPLIT)
