"""The crack segmenter: a small U-Net trained on synthetic masks, run where the heatmap says crack, its
pixels joined to darkness's in the crack mask."""

import logging
from dataclasses import asdict

import numpy as np
import pytest
import torch
from kedro.io.core import DatasetError, Version

from crack_pipeline.datasets import CrackSegmenterDataset, TorchCheckpointDataset
from crack_pipeline.pipelines.explain.nodes import segmenter_to_use
from crack_pipeline.pipelines.segmenter.nodes import train_crack_segmenter
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.segmentation import tolerant_scores
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig, crack_mask
from crack_pipeline.vision.explain.crack_segmenter import (
    SegmenterConfig,
    check_segmenter,
    load_segmenter,
    local_contrast,
    train_segmenter,
)
from crack_pipeline.vision.explain.crack_tracing import crack_probability
from crack_pipeline.vision.settings import ConfigError, settings_from
from tests.conftest import needs_gpu

TINY = {"samples": 4, "steps": 3, "crop": 32, "width": 4}


def test_local_contrast_is_the_relief_against_the_surface_whatever_the_exposure():
    surface = np.full((64, 64), 120.0, dtype=np.float32)
    surface[:, 30] = 60.0  # a dark line
    surface += np.random.default_rng(0).normal(0, 2, surface.shape).astype(np.float32)
    relief = local_contrast(surface)
    assert relief[:, 30].mean() < -3 and abs(float(np.median(relief[:, :20]))) < 0.5
    np.testing.assert_allclose(local_contrast(surface * 2 + 30), relief, rtol=1e-4, atol=1e-4)
    rgb = np.repeat(surface[..., None], 3, axis=2)
    np.testing.assert_allclose(local_contrast(rgb), relief, atol=1e-4)


def test_a_trained_segmenter_finds_synthetic_cracks_it_never_saw_and_not_their_joints(learned, held_out):
    net = load_segmenter(learned)
    whole = np.ones((227, 227), dtype=bool)
    scores = []
    for sample in held_out(6, positive=True):
        probability = crack_probability(net, sample.image, whole)
        scores.append(tolerant_scores(crack_mask(probability, learned=True), sample.mask)["f1"])
    assert np.mean(scores) > 0.6, scores
    # Clean surfaces (joints, stains and pores among them) stay almost free of crack pixels.
    false_alarms = [
        (crack_probability(net, sample.image, whole) > 0.5).mean() for sample in held_out(6, positive=False)
    ]
    assert np.mean(false_alarms) < 0.02, false_alarms
    losses = learned["losses"]
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])


def test_a_checkpoint_round_trips_and_a_foreign_one_is_refused(tmp_path, caplog):
    path = str(tmp_path / "segmenter.pt")
    dataset = CrackSegmenterDataset(filepath=path, version=Version(None, None))
    latest = CrackSegmenterDataset(filepath=path, version=Version(None, None), read_only=True)
    assert latest.load() is None, "none trained yet"
    checkpoint = train_segmenter(settings_from(SegmenterConfig, TINY, "segmenter"))
    dataset.save(checkpoint)
    again = latest.load()
    grey = torch.randn(1, 1, 40, 40)
    with torch.no_grad():
        assert torch.equal(load_segmenter(checkpoint)(grey), load_segmenter(again)(grey))
    # Saved and read back, the node still knows it as trained with these settings.
    assert train_crack_segmenter(TINY, "cpu", again) is again
    with pytest.raises(DatasetError, match="read-only"):
        latest.save(checkpoint)
    (saved,) = (tmp_path / "segmenter.pt").glob("*/segmenter.pt")
    saved.write_bytes(saved.read_bytes()[:300])
    with pytest.raises(DatasetError, match=rf"{saved} is damaged"):
        latest.load()  # where it is used: the run stops, naming it
    weighed = CrackSegmenterDataset(
        filepath=path, version=Version(None, None), read_only=True, damaged_as_none=True
    )
    with caplog.at_level(logging.WARNING):
        assert weighed.load() is None, "the segmenter pipeline trains a new one"
    assert f"{saved} is damaged" in caplog.text and "a new one is trained" in caplog.text
    with pytest.raises(InputError, match="classifier.pt: not a crack segmenter.*--pipelines=segmenter"):
        check_segmenter({"format": "crack_pipeline.checkpoint/1"}, "classifier.pt")
    with pytest.raises(InputError, match="without state_dict"):
        check_segmenter({k: v for k, v in checkpoint.items() if k != "state_dict"}, "x.pt")
    with pytest.raises(InputError, match="weights do not fit"):
        load_segmenter({**checkpoint, "config": {**checkpoint["config"], "width": 8}})
    # Weights that do not fit the file's own settings: the file is named where it is read, and the
    # segmenter pipeline trains a new one in its place.
    misfit = tmp_path / "misfit.pt"
    torch.save({**checkpoint, "config": {**checkpoint["config"], "width": 8}}, misfit)
    with pytest.raises(DatasetError, match=rf"^{misfit}: its weights do not fit its settings"):
        CrackSegmenterDataset(filepath=str(misfit), read_only=True).load()
    replaced = CrackSegmenterDataset(filepath=str(misfit), read_only=True, damaged_as_none=True)
    with caplog.at_level(logging.WARNING):
        assert replaced.load() is None
    assert f"{misfit}: its weights do not fit" in caplog.text
    # The classifier's dataset refuses a segmenter, naming the file.
    torch.save(checkpoint, tmp_path / "model.pt")
    with pytest.raises(DatasetError, match="model.pt"):
        TorchCheckpointDataset(filepath=str(tmp_path / "model.pt")).load()


def test_the_node_reuses_the_latest_segmenter_only_with_the_same_settings_and_format():
    first = train_crack_segmenter(TINY, "cpu", None)
    assert train_crack_segmenter(TINY, "cpu", first) is first
    other = train_crack_segmenter({**TINY, "seed": 1}, "cpu", first)
    assert other["segmenter_id"] != first["segmenter_id"] and other["config"]["seed"] == 1
    older = {**first, "format": "crack_pipeline.segmenter/0"}
    assert train_crack_segmenter(TINY, "cpu", older)["segmenter_id"] != first["segmenter_id"]


def test_explain_says_what_to_run_when_no_segmenter_was_trained():
    with pytest.raises(InputError, match="kedro run --pipelines=segmenter"):
        segmenter_to_use({}, None)
    assert segmenter_to_use({"segmenter": False}, None) is None
    checkpoint = {"segmenter_id": "x"}
    assert segmenter_to_use({"segmenter": True}, checkpoint) is checkpoint


def test_explain_warns_when_the_latest_segmenter_was_trained_with_other_settings(caplog):
    # explain alone trains none: after `segmenter.steps` is changed it used the old one without a word.
    checkpoint = {"segmenter_id": "x", "config": asdict(settings_from(SegmenterConfig, TINY, "segmenter"))}
    with caplog.at_level(logging.WARNING):
        assert segmenter_to_use({}, checkpoint, TINY) is checkpoint
        assert "trained with other settings" not in caplog.text
        assert segmenter_to_use({}, checkpoint, {**TINY, "steps": 5}) is checkpoint
    assert f"steps {TINY['steps']}, now 5" in caplog.text and "--pipelines=segmenter" in caplog.text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 0}, "at least 1"),
        ({"crop": 300}, "crop"),
        ({"stpes": 10}, "unknown setting"),
        ({"seed": -1}, r"segmenter\.seed: .*greater than or equal to 0"),  # numpy crashed on it
    ],
)
def test_bad_segmenter_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        settings_from(SegmenterConfig, settings, "segmenter")


def test_mask_settings_for_the_segmenter_are_checked():
    with pytest.raises(ValueError, match="segmenter_low"):
        CrackMaskConfig(segmenter_low=0.6, segmenter_high=0.5)
    with pytest.raises(ValueError, match="segmenter_reach"):
        CrackMaskConfig(segmenter_reach=2.0)
    for bad, problem in (
        ({"segmenter_finds": "long"}, r"explain.crack_masks.segmenter_finds: Input should be a valid number"),
        ({"segmenter_finds": 0}, "segmenter_finds is a crack's span in tile sides"),
        ({"segmenter_shortest": -0.1}, "segmenter_shortest is a crack's span in tile sides"),
        ({"segmenter_kept": 0.8}, r"segmenter_kept is .* 0 to segmenter_finds \(the crack that calls"),
        ({"segmenter_kept": -0.1}, "segmenter_kept is a crack's span in tile sides"),
        ({"segmenter_step": 3}, r"explain.crack_masks.segmenter_step: unknown setting \(a typo\?\)"),
    ):
        with pytest.raises(ConfigError, match=problem):
            settings_from(CrackMaskConfig, bad, "explain.crack_masks")


@needs_gpu
def test_a_segmenter_trains_and_runs_on_a_gpu(held_out):
    checkpoint = train_segmenter(settings_from(SegmenterConfig, TINY, "segmenter"), "cuda")
    net = load_segmenter(checkpoint, "cuda")
    image = held_out(1, positive=True)[0].image
    probability = crack_probability(net, image, np.ones((227, 227), dtype=bool))
    assert probability.shape == (227, 227) and 0 <= probability.min() <= probability.max() <= 1
