"""The crack segmenter adapted to a surface from its own photos (vision/transfer/segmenter_adaptation.py) and
the node that keeps, makes or leaves out the adaptation (pipelines/segmenter/nodes.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from crack_pipeline.pipelines import segmenter
from crack_pipeline.pipelines.explain.nodes import segmenter_to_use
from crack_pipeline.pipelines.segmenter.nodes import adapt_crack_segmenter, train_crack_segmenter
from crack_pipeline.settings_check import check_run_settings
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.segmentation import tolerant_scores
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import load_segmenter
from crack_pipeline.vision.explain.crack_tracing import crack_probability
from crack_pipeline.vision.explain.segmenter_calls import segmenter_finding
from crack_pipeline.vision.settings import ConfigError
from crack_pipeline.vision.transfer.segmenter_adaptation import (
    AdaptationConfig,
    adapted_segmenter,
    pseudo_labels,
)

TILE = 64  # px: the synthetic photos' patch side, the unit of crack_masks' lengths
MASKS = CrackMaskConfig()
INGEST = {"min_side": 32, "max_pixels": 10_000_000}
QUICK = {"photos": 3, "crops_per_photo": 2, "steps": 1, "batch_size": 4, "synthetic_samples": 2}


def unseen_surface(index: int, cracks: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A photo of a surface no segmenter of the tests trained on (a softer camera, a mottled grain), with
    its crack mask."""
    sample = render_photo(SynthConfig(image_size=TILE, seed=5, difficulty=0.8), 160, 160, cracks, index)
    image = ndimage.gaussian_filter(sample.image.astype(float), (1.2, 1.2, 0))
    mottling = ndimage.gaussian_filter(np.random.default_rng(index).normal(0, 1, image.shape[:2]), 3) * 90
    return np.clip(image + mottling[..., None], 0, 255).astype(np.uint8), sample.mask


def found_mask(net, image: np.ndarray) -> np.ndarray | None:
    found = segmenter_finding(image, TILE, 0.0, 1.0, MASKS, net)
    return None if found is None else found.mask


def test_pseudo_labels_are_the_segmenters_cracks_its_clear_surface_and_unsure_pixels_between(learned):
    net = load_segmenter(learned)
    image = render_photo(SynthConfig(image_size=TILE, seed=5, difficulty=0.3), 160, 160, 2, 1).image
    config = AdaptationConfig(clean_below=0.1, clear_of_cracks=4)
    labels = pseudo_labels(image, net, TILE, MASKS, config)
    crack = found_mask(net, image)
    assert crack is not None and np.array_equal(labels == 1, crack)
    clean = labels == 0
    assert crack_probability(net, image, clean).max() < 0.1
    assert not (clean & ndimage.binary_dilation(crack, iterations=4)).any()
    unsure = labels == -1
    assert unsure.any() and clean.mean() > 0.5  # most of a photo is surface it is sure of


def test_adapting_to_an_unseen_surface_finds_its_cracks_in_photos_it_never_learned_from(learned):
    """On the mottled, softer surface the synthetic-only segmenter calls none of 6 cracked photos (tolerant
    F1 0); adapted to 8 others, no mask given, 0.37-0.39 on 1 or 2 torch threads (AVX2), and it still
    calls none of 4 clean photos cracked."""

    def scores(checkpoint) -> tuple[float, int]:
        net = load_segmenter(checkpoint)
        f1 = []
        for index in range(20, 26):
            image, truth = unseen_surface(index)
            mask = found_mask(net, image)
            f1.append(tolerant_scores(np.zeros_like(truth) if mask is None else mask, truth)["f1"])
        clean_called = sum(
            found_mask(net, unseen_surface(100 + index, 0)[0]) is not None for index in range(4)
        )
        return float(np.mean(f1)), clean_called

    # Synthetic patches as many as `learned` was trained on, not the 200 a class of a real adaptation's 400
    # steps: rendering them was half this test's time; 100 steps draw 800 crops from them.
    config = AdaptationConfig(photos=8, crops_per_photo=16, steps=100, synthetic_samples=40)
    photos = (unseen_surface(index)[0] for index in range(8))
    adapted, learned_from = adapted_segmenter(learned, photos, config, TILE, MASKS)
    assert learned_from["photos"] == 8 and 0 < learned_from["crack"] < 0.1
    assert adapted["segmenter_id"] != learned["segmenter_id"] and adapted["config"] == learned["config"]
    (base_f1, base_clean), (adapted_f1, adapted_clean) = scores(learned), scores(adapted)
    assert adapted_f1 > base_f1 + 0.2
    assert base_clean == adapted_clean == 0


def photo_folder(root: Path, count: int = 3) -> Folder:
    root.mkdir()
    for index in range(count):
        Image.fromarray(unseen_surface(index)[0]).save(root / f"photo_{index}.png")
    return Folder.scan(root)


def adapt(synthetic, previous, folder, **settings):
    adaptation = {"folder": str(folder.root) if folder else None, **QUICK, **settings}
    return adapt_crack_segmenter(
        synthetic, previous, folder, adaptation, {}, {"tile_size": TILE}, INGEST, "cpu"
    )


def test_the_node_keeps_an_adaptation_only_for_the_same_segmenter_photos_and_settings(learned, tmp_path):
    folder = photo_folder(tmp_path / "photos")
    adapted = adapt(learned, None, folder)
    assert adapted["adapted_from"]["segmenter_id"] == learned["segmenter_id"]
    assert adapted["adapted_to"]["folder"] == folder.shown and adapted["adapted_to"]["photos"] == 3
    assert adapt(learned, adapted, folder) is adapted
    assert adapt(learned, adapted, folder, steps=2)["segmenter_id"] != adapted["segmenter_id"]
    other = {**learned, "segmenter_id": "another"}
    assert adapt(other, adapted, folder)["adapted_from"]["segmenter_id"] == "another"
    Image.fromarray(unseen_surface(9)[0]).save(folder.root / "photo_9.png")
    again = adapt(learned, adapted, Folder.scan(folder.root))
    assert again["segmenter_id"] != adapted["segmenter_id"] and again["adapted_to"]["photos"] == 3


def test_without_a_folder_the_segmenter_trained_on_synthetic_data_is_used_again(learned, tmp_path, caplog):
    adapted = adapt(learned, None, photo_folder(tmp_path / "photos"))
    with caplog.at_level(logging.INFO):
        assert adapt(learned, adapted, None) is learned
    assert f"not the latest one, adapted to {tmp_path / 'photos'}" in caplog.text
    # The segmenter pipeline's first node takes the one it was adapted from, not a new training.
    assert train_crack_segmenter(learned["config"], "cpu", adapted) is adapted["adapted_from"]


def test_photos_it_cannot_learn_from_are_named_and_skipped(learned, tmp_path, caplog):
    folder = tmp_path / "photos"
    photo_folder(folder, 2)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    Image.fromarray(np.zeros((40, 300, 3), np.uint8)).save(folder / "strip.png")
    with caplog.at_level(logging.WARNING):
        adapted = adapt(learned, None, Folder.scan(folder), photos=10)
    assert adapted["adapted_to"]["photos"] == 2
    assert f"skipped {folder / 'broken.jpg'}" in caplog.text
    assert f"skipped {folder / 'strip.png'} (300x40 px: smaller than the 48-px crop" in caplog.text


def test_a_folder_without_a_photo_to_learn_from_is_refused_naming_it(learned, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(InputError, match=r"segmenter_adaptation.folder '.*photos': none of its 1 image file"):
        adapt(learned, None, Folder.scan(folder))


def test_explain_says_which_photos_its_segmenter_was_adapted_to(learned, tmp_path, caplog):
    adapted = adapt(learned, None, photo_folder(tmp_path / "photos"))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert segmenter_to_use({}, learned) is learned
        assert "adapted" not in caplog.text
        assert segmenter_to_use({}, adapted) is adapted
    assert f"the crack segmenter is adapted to 3 photos of {tmp_path / 'photos'}" in caplog.text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 0}, r"segmenter_adaptation\.steps: .*greater than or equal to 1"),
        ({"clean_below": 1.5}, r"segmenter_adaptation\.clean_below"),
        ({"stpes": 10}, r"segmenter_adaptation\.stpes: unknown setting"),
    ],
)
def test_bad_adaptation_settings_stop_the_segmenter_pipeline_before_it_runs(settings, message):
    adaptation = {"folder": None, **settings}
    with pytest.raises(ConfigError, match=message):
        check_run_settings(segmenter.create_pipeline(), {"segmenter_adaptation": adaptation})
