"""The CAM wrapper: every method by name, batched, bf16-safe, and pointing at drawn cracks."""

import numpy as np
import pytest
import torch

from crack_pipeline.vision.cam import METHODS, CamExplainer
from crack_pipeline.vision.explaining import randomised_weights_correlation
from crack_pipeline.vision.localisation import centre_gaussian, energy_in_mask, pointing_game
from crack_pipeline.vision.models import create_model
from crack_pipeline.vision.precision import Precision
from crack_pipeline.vision.synthetic import SynthConfig, render_sample
from tests.test_training import SPEC


@pytest.fixture(scope="module")
def cracks():
    settings = SynthConfig(count_per_class=1, image_size=96, seed=9, difficulty=0.0)
    samples = [render_sample(settings, True, i) for i in range(1, 13)]
    images = torch.from_numpy(np.stack([s.image.transpose(2, 0, 1) for s in samples]))
    return images, [s.mask for s in samples]


@pytest.mark.parametrize(
    "method", ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam", "ablationcam"]
)
def test_every_method_gives_one_normalised_heatmap_per_image(trained, cracks, method):
    images, _ = cracks
    explainer = CamExplainer(
        trained, SPEC.cam_layer, SPEC.mean, SPEC.std, method=method, precision=Precision("fp32")
    )
    result = explainer.explain(images[:4])
    explainer.close()
    assert result.heatmaps.shape == (4, 96, 96) and result.heatmaps.dtype == np.float32
    assert result.heatmaps.min() >= 0 and result.heatmaps.max() <= 1 + 1e-6
    assert (
        result.probabilities.shape == (4,)
        and ((result.probabilities >= 0) & (result.probabilities <= 1)).all()
    )


def test_score_cam_is_available_by_name():
    assert "scorecam" in METHODS  # slow (one forward pass per channel): exercised by the explain bench


def test_heatmaps_point_at_the_drawn_cracks(trained, cracks):
    images, masks = cracks
    explainer = CamExplainer(trained, SPEC.cam_layer, SPEC.mean, SPEC.std, precision=Precision("fp32"))
    result = explainer.explain(images)
    explainer.close()
    hits = np.mean([pointing_game(h, m) for h, m in zip(result.heatmaps, masks, strict=True)])
    centre = np.mean([pointing_game(centre_gaussian(m.shape), m) for m in masks])
    energy = np.mean([energy_in_mask(h, m) for h, m in zip(result.heatmaps, masks, strict=True)])
    area = np.mean([m.mean() for m in masks])
    assert hits >= 0.7 and hits > centre, (hits, centre)
    assert energy > 1.5 * area, (energy, area)


def test_bf16_heatmaps_match_fp32(trained, cracks):
    images, _ = cracks
    maps = {}
    for precision in ("fp32", "bf16"):
        explainer = CamExplainer(trained, SPEC.cam_layer, SPEC.mean, SPEC.std, precision=Precision(precision))
        maps[precision] = explainer.explain(images).heatmaps
        explainer.close()
    correlation = np.corrcoef(maps["fp32"].ravel(), maps["bf16"].ravel())[0, 1]
    assert correlation > 0.95


def test_gradients_stop_at_the_target_layer(trained, cracks):
    images, _ = cracks
    explainer = CamExplainer(trained, SPEC.cam_layer, SPEC.mean, SPEC.std, precision=Precision("fp32"))
    explainer.explain(images[:2])
    explainer.close()
    assert all(p.grad is None and not p.requires_grad for p in trained.parameters())


def test_unknown_method_and_target():
    model = create_model("small_cnn")
    with pytest.raises(ValueError, match="unknown CAM method"):
        CamExplainer(model, "features", SPEC.mean, SPEC.std, method="magiccam")
    with pytest.raises(ValueError, match="target"):
        CamExplainer(model, "features", SPEC.mean, SPEC.std, target="pores")


def test_randomised_weights_give_other_heatmaps(trained_checkpoint, cracks):
    images, _ = cracks
    checkpoint = trained_checkpoint
    correlation = randomised_weights_correlation(checkpoint, images, "gradcam", "predicted", "fp32", seed=0)
    assert -1 <= correlation < 0.9, "a trained model's heatmaps must not be what random weights give"
