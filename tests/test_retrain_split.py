"""split_for_retrain: earlier images keep their split; a split made anew under a champion is warned of."""

import logging

import pytest

from crack_pipeline.pipelines.ingest.nodes import scan_folder_images, scan_images
from crack_pipeline.pipelines.retrain.nodes import split_for_retrain
from crack_pipeline.pipelines.split.nodes import split_counts, split_images
from crack_pipeline.provenance import split_fingerprint
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.sources import Source, scan_sources
from crack_pipeline.vision.errors import InputError
from tests.conftest import write
from tests.test_sources import wall_patches

SPLIT = {"ratios": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 42}


def test_a_split_made_anew_under_a_champion_is_warned_of_and_an_extended_one_is_not(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="crack_pipeline")
    walls = wall_patches(tmp_path / "walls", range(1, 11), 2, seed=0)
    index = scan_sources([Source("walls", Folder.scan(walls), r"^(\d+)-")], DEFAULT_ALIASES, workers=1).index
    # The 20 images' few test images are warned of too (split_counts): not what this test is about.
    leaks = lambda: [r for r in caplog.records if "too few to judge" not in r.message]  # noqa: E731
    first, _ = split_for_retrain(index, None, {"champion_split_fingerprint": None}, SPLIT, CLASSIFIER)
    assert not leaks(), "no champion yet: nothing it learned from to leak"
    trained_on = {"champion_split_fingerprint": split_fingerprint(first)}
    again, _ = split_for_retrain(index, first, trained_on, SPLIT, CLASSIFIER)
    assert again.set_index("path").split.equals(first.set_index("path").split) and not leaks()
    split_for_retrain(index, None, trained_on, SPLIT, CLASSIFIER)  # the environment's earlier split is gone
    assert "retrain: this environment holds no earlier split, though the champion was trained on one" in (
        caplog.text
    )


def test_an_image_saved_again_under_its_name_keeps_its_split(tmp_path, caplog):
    walls = wall_patches(tmp_path / "walls", range(1, 11), 2, seed=0)
    scan = lambda: scan_sources([Source("walls", Folder.scan(walls))], DEFAULT_ALIASES, workers=1).index  # noqa: E731
    first, _ = split_for_retrain(scan(), None, {"champion_split_fingerprint": None}, SPLIT, CLASSIFIER)
    # Every image exported again: other bytes (a new seed), the same names.
    wall_patches(walls, range(1, 11), 2, seed=50)
    caplog.set_level(logging.WARNING, logger="crack_pipeline")
    # Another seed: split afresh, the images would move.
    again, _ = split_for_retrain(
        scan(), first, {"champion_split_fingerprint": None}, {**SPLIT, "seed": 7}, CLASSIFIER
    )
    assert not set(again.sha256) & set(first.sha256), "all content changed"
    assert again.set_index("path").split.equals(first.set_index("path").split)
    assert "20 image(s) changed content under the same name since the last split" in caplog.text


def test_the_new_images_split_is_said_in_words(tmp_path, caplog):
    walls = wall_patches(tmp_path / "walls", range(1, 11), 2, seed=0)
    scan = lambda: scan_sources([Source("walls", Folder.scan(walls))], DEFAULT_ALIASES, workers=1).index  # noqa: E731
    first, _ = split_for_retrain(scan(), None, {"champion_split_fingerprint": None}, SPLIT, CLASSIFIER)
    wall_patches(walls, range(11, 13), 2, seed=1)  # two more wall photos' patches
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    split_for_retrain(scan(), first, {"champion_split_fingerprint": None}, SPLIT, CLASSIFIER)
    assert (
        "retrain: 20 images kept their split, 4 new ones split towards train 0.6, val 0.2, test 0.2 of all "
        "the images of their class" in caplog.text
    ), "was {'train': 0.6, ...}, a Python dict's repr"


# A run's variants: crack classifiers need both classes, the one-class patch_memory clean images alone.
MODELS = {"small_cnn": {"architecture": "small_cnn"}, "patch_memory": {"architecture": "patch_memory_lite0"}}
CLASSIFIER = {"variants": ["small_cnn", "patch_memory"], "models": MODELS}
ONE_CLASS = {"variants": ["patch_memory"], "models": MODELS}
INGEST = {"label_aliases": DEFAULT_ALIASES, "min_side": 32, "max_pixels": 10**7, "workers": 1}


def test_a_folder_of_one_class_is_refused_before_any_image_is_decoded(tmp_path, monkeypatch):
    """A folder of cracks alone was decoded whole (and, in from_folder, the crack segmenter trained) before
    the split refused it: 40,000 images of one class waited for nothing."""
    cracks = wall_patches(tmp_path / "cracks", range(2, 12, 2), 2, seed=0)  # even photos: all cracked
    clean = wall_patches(tmp_path / "clean", range(1, 11, 2), 2, seed=0)

    def decoded(*args, **kwargs):
        raise AssertionError("an image was decoded")

    with monkeypatch.context() as patched:
        patched.setattr("crack_pipeline.pipelines.ingest.nodes.scan_sources", decoded)
        for train in (CLASSIFIER, ONE_CLASS):  # cracks alone train no variant
            with pytest.raises(InputError) as refused:
                scan_images(Folder.scan(cracks), INGEST, {}, train)
            assert str(refused.value) == (
                f"every image in {cracks} is 'crack': a crack classifier needs both classes (image files per "
                "class folder, none decoded yet: {'crack': 10})"
            )
        with pytest.raises(InputError) as refused:
            scan_images(Folder.scan(clean), INGEST, {}, CLASSIFIER)
        assert str(refused.value) == (
            f"every image in {clean} is 'no_crack': a crack classifier needs both classes (train.variants: "
            "small_cnn) (image files per class folder, none decoded yet: {'no_crack': 10}); clean photos "
            "alone train a one-class variant only: train.variants: [patch_memory] (README: 'A model trained "
            "without crack photos')"
        )
    # What can train is split: clean photos for the one-class variant alone, a clean domain beside others.
    index, _ = scan_images(Folder.scan(clean), INGEST, {}, ONE_CLASS)
    manifest, _ = split_images(index, SPLIT, ONE_CLASS)
    assert set(manifest.label) == {"no_crack"} and set(manifest.split) == {"train", "val", "test"}
    pooled = {"sources": [{"domain": "walls", "path": str(cracks)}, {"domain": "clean", "path": str(clean)}]}
    index, _ = scan_images(None, INGEST, pooled, CLASSIFIER)
    assert split_images(index, SPLIT, CLASSIFIER)[0].label.nunique() == 2
    # A folder to score has no variant to train: one class is fine there.
    assert set(scan_folder_images(Folder.scan(cracks), INGEST)[0].label) == {"crack"}


def test_a_class_all_of_whose_files_are_skipped_is_refused_once_decoded_and_by_the_split(tmp_path):
    walls = wall_patches(tmp_path / "walls", range(2, 12, 2), 2, seed=0)  # even photos: all cracked
    write(walls, "Negative/broken.png", b"not an image")
    expected = rf"every usable image in {walls} is 'crack'.*'no_crack': 1"
    with pytest.raises(InputError, match=expected):
        scan_images(Folder.scan(walls), INGEST, {}, CLASSIFIER)
    # An index an earlier ingest saved (one for other variants, or before this check): the split refuses it.
    index = scan_sources([Source("walls", Folder.scan(walls))], DEFAULT_ALIASES, workers=1).index
    with pytest.raises(InputError, match=expected):
        split_images(index, {**SPLIT, "subset_fraction": 1.0}, CLASSIFIER)
    # ... and so does retrain's split (`--from-nodes=split_for_retrain`), which went on to the tensors and the
    # training node, there to stop on the variant's check, its words about clean photos for cracks alone.
    with pytest.raises(InputError, match=expected):
        split_for_retrain(index, None, {"champion_split_fingerprint": None}, SPLIT, CLASSIFIER)


def test_a_split_asked_for_no_test_images_warns_of_no_domain_without_them(tmp_path, caplog):
    """`split.ratios.test: 0` (a split alone may keep none) warned of every domain: 'keeps no test image ...
    the champion is chosen without it. Add more of its photos', which no photo added changes. Asked for test
    images, a domain left without them is still warned of."""
    caplog.set_level(logging.WARNING, logger="crack_pipeline")
    walls = wall_patches(tmp_path / "walls", range(1, 11), 2, seed=0)
    index = scan_sources([Source("walls", Folder.scan(walls), r"^(\d+)-")], DEFAULT_ALIASES, workers=1).index
    none = {**SPLIT, "ratios": {"train": 0.8, "val": 0.2, "test": 0.0}}
    manifest, _ = split_images(index, none, CLASSIFIER)
    assert "test" not in set(manifest.split)
    split_for_retrain(index, None, {"champion_split_fingerprint": None}, none, CLASSIFIER)
    assert [r.message for r in caplog.records if "keeps no test image" in r.message] == []
    split_counts(manifest)  # asked for them: the domain kept none
    assert [r.message for r in caplog.records if "keeps no test image" in r.message]
