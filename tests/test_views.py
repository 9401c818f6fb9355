"""Test-time views: p(crack) averaged over an image's mirrored and turned views, as its checkpoint says."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from crack_pipeline.pipelines.explain.nodes import explanation_setup
from crack_pipeline.pipelines.train.nodes import train_variant
from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo, render_sample
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.evaluation.evaluate import (
    checkpoint_probabilities,
    checkpoint_probabilities_and_features,
    checkpoint_views,
    thresholds_by_views,
)
from crack_pipeline.vision.evaluation.metrics import threshold_on_validation
from crack_pipeline.vision.explain.cam import CamExplainer
from crack_pipeline.vision.explain.photo_explainer import PhotoExplainer
from crack_pipeline.vision.explain.photos import classify_photos, tiled_photos
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.explain.tiling import TilingConfig, aggregate
from crack_pipeline.vision.models.inference import (
    DIHEDRAL_VIEWS,
    VIEW_COUNTS,
    ViewAveragedClassifier,
    check_views,
    crack_probabilities_and_features,
    crack_probability_of,
    describe_views,
    inference_model,
    logits_per_view,
    normalizer,
    predict_logits,
    views_of,
    with_views,
)
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import ConfigError

FP32 = Precision("fp32")
SPEC = get_spec("small_cnn")
MIRROR, UPSIDE_DOWN, HALF_TURN, QUARTER_TURN, DIAGONAL = (DIHEDRAL_VIEWS[i] for i in (1, 2, 3, 5, 4))


@pytest.fixture(scope="module")
def untrained():
    """A small_cnn with random weights: nothing about it is symmetric."""
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=2).eval()


@pytest.fixture(scope="module")
def images():
    seeded = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (5, 3, 48, 48), dtype=torch.uint8, generator=seeded)


def logits(model, images, views=1):
    """In passes of 2 images: a mean taken across the wrong axis would show."""
    return predict_logits(model, images, SPEC.mean, SPEC.std, FP32, batch_size=2, views=views)


def test_the_first_one_two_four_and_eight_views_are_distinct_and_each_a_group():
    square = torch.arange(25.0).view(1, 1, 5, 5)
    seen = [view(square) for view in DIHEDRAL_VIEWS]
    assert len({tuple(v.flatten().tolist()) for v in seen}) == 8
    for count in VIEW_COUNTS:
        first = {tuple(v.flatten().tolist()) for v in seen[:count]}
        for a in DIHEDRAL_VIEWS[:count]:
            for b in DIHEDRAL_VIEWS[:count]:
                assert tuple(a(b(square)).flatten().tolist()) in first, f"the first {count} are not closed"


def test_each_views_logits_are_those_of_the_turned_images_over_several_passes(untrained, images):
    each = logits_per_view(untrained, images, SPEC.mean, SPEC.std, FP32, batch_size=2, views=8)
    assert each.shape == (8, len(images), 2)
    for view, found in zip(DIHEDRAL_VIEWS, each, strict=True):
        torch.testing.assert_close(found, logits(untrained, view(images).contiguous()), rtol=1e-4, atol=1e-5)
    nothing = images[:0]
    assert logits_per_view(untrained, nothing, SPEC.mean, SPEC.std, FP32, views=4).shape == (4, 0, 2)
    assert logits(untrained, nothing, 4).shape == (0, 2)


def test_views_average_the_logits_of_each_view(untrained, images):
    for count in (2, 4, 8):
        each = torch.stack([logits(untrained, view(images).contiguous()) for view in DIHEDRAL_VIEWS[:count]])
        torch.testing.assert_close(logits(untrained, images, count), each.mean(0), rtol=1e-4, atol=1e-5)


def test_averaged_views_make_p_crack_blind_to_the_photos_orientation(untrained, images):
    plain = logits(untrained, images)
    assert not torch.allclose(plain, logits(untrained, QUARTER_TURN(images)), atol=1e-3), "not symmetric"
    for count, turns in ((2, [MIRROR]), (4, [MIRROR, UPSIDE_DOWN, HALF_TURN]), (8, [QUARTER_TURN, DIAGONAL])):
        averaged = logits(untrained, images, count)
        for turn in turns:
            torch.testing.assert_close(logits(untrained, turn(images), count), averaged, rtol=1e-4, atol=1e-5)
    # And what the classifier sees of an image, averaged over the same views.
    _, features = crack_probabilities_and_features(
        untrained, SPEC.head, images, SPEC.mean, SPEC.std, FP32, batch_size=2, views=8
    )
    _, turned = crack_probabilities_and_features(
        untrained, SPEC.head, QUARTER_TURN(images), SPEC.mean, SPEC.std, FP32, batch_size=2, views=8
    )
    assert features.shape[0] == len(images)
    np.testing.assert_allclose(turned, features, rtol=1e-4, atol=1e-5)


def test_the_registered_form_of_a_model_gives_the_logits_its_views_give(untrained, images):
    normalised = normalizer(SPEC.mean, SPEC.std)(images.float() / 255)
    for count in VIEW_COUNTS:
        with torch.no_grad():
            registered = ViewAveragedClassifier(untrained, count)(normalised)
        torch.testing.assert_close(registered, logits(untrained, images, count), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="one of 1, 2, 4, 8"):
        ViewAveragedClassifier(untrained, 3)


@pytest.mark.parametrize("views", [0, 3, 16, True, "4", 4.0])
def test_only_one_two_four_or_eight_views(views):
    with pytest.raises(ValueError, match=r"test_time_views: .*; one of 1, 2, 4, 8"):
        check_views(views)
    with pytest.raises(ConfigError, match=r"train\.test_time_views: .*; one of 1, 2, 4, 8"):
        train_variant({}, None, None, None, None, {}, {"test_time_views": views}, "cpu", name="v")


def test_quarter_turns_need_square_images(untrained):
    wide = torch.zeros(1, 3, 32, 48, dtype=torch.uint8)
    assert logits(untrained, wide, 4).shape == (1, 2)
    with pytest.raises(ValueError, match="square"):
        logits(untrained, wide, 8)


def test_a_checkpoint_is_inferred_with_the_views_it_was_given(trained_checkpoint):
    sample = [render_sample(SynthConfig(image_size=96, seed=5), i % 2 == 0, i) for i in range(1, 7)]
    images = torch.from_numpy(np.stack([s.image for s in sample])).permute(0, 3, 1, 2).contiguous()
    data = ImageTensors(images, torch.zeros(len(images), dtype=torch.int64), [str(i) for i in range(6)])
    turned = ImageTensors(QUARTER_TURN(images).contiguous(), data.labels, data.paths)
    assert views_of(trained_checkpoint) == 1, "a checkpoint without the setting: as it is"
    assert describe_views(trained_checkpoint) == "p(crack) of each image as it is"
    plain = checkpoint_probabilities(trained_checkpoint, data, "fp32")
    assert not np.allclose(plain, checkpoint_probabilities(trained_checkpoint, turned, "fp32"), atol=1e-4)
    eight = {**trained_checkpoint, "test_time_views": 8}
    assert describe_views(eight) == "p(crack) averaged over 8 test-time views"
    averaged, features = checkpoint_probabilities_and_features(eight, data, "fp32")
    np.testing.assert_allclose(checkpoint_probabilities(eight, data, "fp32"), averaged)
    again, turned_features = checkpoint_probabilities_and_features(eight, turned, "fp32")
    np.testing.assert_allclose(again, averaged, atol=1e-5)
    np.testing.assert_allclose(turned_features, features, rtol=1e-4, atol=1e-5)
    assert not np.allclose(averaged, plain, atol=1e-4)


def test_a_photos_tiles_are_scored_with_the_models_views(trained_checkpoint, tmp_path):
    photo = render_photo(SynthConfig(image_size=96, seed=3), 200, 250, cracks=1)
    Image.fromarray(photo.image).save(tmp_path / "deck.png")
    ref = ImageRef("deck.png", tmp_path / "deck.png")
    eight = {**trained_checkpoint, "test_time_views": 8}
    tiling = TilingConfig().at_scale_of(eight)
    (tiled,) = tiled_photos([ref], tiling, 96, {})
    assert len(tiled.grid) > 1
    by_tile = {}
    for views in (1, 8):
        by_tile[views] = crack_probabilities_and_features(
            inference_model(eight, FP32),
            SPEC.head,
            torch.from_numpy(tiled.tiles),
            SPEC.mean,
            SPEC.std,
            FP32,
            views=views,
        )
    seen = []
    found, _ = classify_photos(eight, [ref], TilingConfig(), precision="fp32", tile_features=seen.append)
    probabilities, features = by_tile[8]
    assert found["deck.png"] == pytest.approx(aggregate(probabilities, tiling.aggregate, tiling.top_k))
    np.testing.assert_allclose(seen[0], features, rtol=1e-5, atol=1e-6)
    assert not np.allclose(by_tile[1][1], features, atol=1e-4), "the views change what the tiles show"


def test_explain_scores_a_patch_with_the_models_views_not_its_cams_one(trained_checkpoint, tmp_path):
    eight = {**trained_checkpoint, "test_time_views": 8}
    samples = [render_sample(SynthConfig(image_size=96, seed=6), i % 2 == 0, i) for i in range(1, 5)]
    names = [f"p{i}.png" for i in range(len(samples))]
    for name, sample in zip(names, samples, strict=True):
        Image.fromarray(sample.image).save(tmp_path / name)
    items = [ImageRef(name, tmp_path / name) for name in names]
    result = explain_images(eight, items, ["layercam"], 0.5, precision="fp32", sanity_images=2)
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous()
    data = ImageTensors(images, torch.zeros(len(names), dtype=torch.int64), names)
    found = result.predictions.set_index("file").loc[names, "crack_probability"].to_numpy()
    np.testing.assert_allclose(found, checkpoint_probabilities(eight, data, "fp32"), atol=1e-4)


def test_explain_gives_a_patch_the_cam_of_the_class_its_views_call(trained_checkpoint, tmp_path):
    eight = {**trained_checkpoint, "test_time_views": 8}
    samples = [render_sample(SynthConfig(image_size=96, seed=6), True, i) for i in range(1, 7)]
    items = []
    for i, sample in enumerate(samples):
        Image.fromarray(sample.image).save(tmp_path / f"p{i}.png")
        items.append(ImageRef(f"p{i}.png", tmp_path / f"p{i}.png"))
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous()
    data = ImageTensors(images, torch.ones(len(items), dtype=torch.int64), [i.name for i in items])
    p_views = checkpoint_probabilities(eight, data, "fp32")
    p_one = checkpoint_probabilities({**eight, "test_time_views": 1}, data, "fp32")
    apart = int(np.argmax(np.abs(np.log(p_views / p_one))))
    threshold = float(p_views[apart] + p_one[apart]) / 2  # there the views and the single view call apart
    explainer = PhotoExplainer(eight, ["gradcam"], threshold, precision="fp32")
    (chunk,) = explainer.explain(items, {})
    explainer.close()
    called = [int(p >= threshold) for p in p_views]
    assert chunk.classes == called and called[apart] != int(p_one[apart] >= threshold)
    cam = CamExplainer(inference_model(eight, FP32), SPEC.cam_layer, SPEC.mean, SPEC.std, precision=FP32)
    expected = cam.explain(chunk.tiles, [CLASS_NAMES[c] for c in called]).heatmaps
    cam.close()
    np.testing.assert_allclose(np.stack(chunk.cams["gradcam"]), expected, atol=1e-5)


def test_a_threshold_is_chosen_for_every_view_count_and_scoring_with_one_takes_it(trained_checkpoint):
    samples = [render_sample(SynthConfig(image_size=96, seed=8), i % 2 == 0, i) for i in range(1, 21)]
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([int(s.mask is not None) for s in samples])
    data = ImageTensors(images, labels, [str(i) for i in range(len(samples))])
    checkpoint = {**trained_checkpoint, "test_time_views": 2}
    checkpoint["threshold"] = threshold_on_validation(
        labels.numpy(), checkpoint_probabilities(checkpoint, data), 0.99
    )

    def choose(found):
        return threshold_on_validation(labels.numpy(), found, 0.99)

    each, features = checkpoint_views(checkpoint, data)
    by_views = thresholds_by_views(each, choose)
    assert sorted(by_views) == list(VIEW_COUNTS) and by_views[2] == checkpoint["threshold"]
    own_probabilities, own_features = checkpoint_probabilities_and_features(checkpoint, data)
    np.testing.assert_allclose(crack_probability_of(each[:2].mean(0)), own_probabilities, rtol=1e-6)
    np.testing.assert_allclose(features[:2].mean(0).numpy(), own_features, rtol=1e-6)
    model = inference_model(checkpoint, FP32)
    for count in (1, 4, 8):  # each view's image scored as it is, then averaged
        each = torch.stack([logits(model, view(images).contiguous()) for view in DIHEDRAL_VIEWS[:count]])
        expected = choose(torch.softmax(each.mean(0), dim=1)[:, 1].numpy())
        assert by_views[count]["value"] == pytest.approx(expected["value"], rel=1e-4)

    checkpoint["thresholds_by_views"] = by_views
    assert with_views(checkpoint, None, "explain.test_time_views") is checkpoint
    assert with_views(checkpoint, 2, "explain.test_time_views") is checkpoint
    faster = with_views(checkpoint, 1, "explain.test_time_views")
    assert views_of(faster) == 1 and faster["threshold"] is by_views[1] and views_of(checkpoint) == 2
    for wrong in (3, 2.0, True):
        with pytest.raises(ConfigError, match=rf"explain\.test_time_views: {wrong}; one of 1, 2, 4, 8"):
            with_views(checkpoint, wrong, "explain.test_time_views")
    older = {key: value for key, value in checkpoint.items() if key != "thresholds_by_views"}
    with pytest.raises(
        ConfigError, match=r"explain\.test_time_views: 1, but model small_cnn has no threshold"
    ):
        with_views(older, 1, "explain.test_time_views")


def test_a_threshold_given_with_another_view_count_is_used_and_logged(trained_checkpoint, caplog):
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    chosen = {
        count: {"value": count / 10, "target_recall": 0.99, "chosen_on": "validation"}
        for count in VIEW_COUNTS
    }
    checkpoint = {
        **trained_checkpoint,
        "test_time_views": 2,
        "threshold": chosen[2],
        "thresholds_by_views": chosen,
    }
    settings = {"methods": ["layercam"], "test_time_views": 1}
    prepared, _, threshold, _ = explanation_setup(checkpoint, settings, {})
    assert views_of(prepared) == 1 and threshold["value"] == 0.1 and "in place of" not in caplog.text
    prepared, _, threshold, _ = explanation_setup(checkpoint, {**settings, "threshold": 0.3}, {})
    assert views_of(prepared) == 1 and threshold["value"] == 0.3
    used = "explain.threshold 0.3 is used on p(crack) with 1 views, in place of the 0.1000 training chose"
    assert used in caplog.text
