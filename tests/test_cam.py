"""The CAM wrapper: every method by name, batched, bf16-safe, and pointing at drawn cracks."""

import numpy as np
import pytest
import torch

from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.explain.cam import METHODS, CamExplainer
from crack_pipeline.vision.explain.localisation import centre_gaussian, energy_in_mask, pointing_game
from crack_pipeline.vision.explain.quality import randomised_weights_correlation
from crack_pipeline.vision.models.inference import crack_probabilities
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import create_model
from crack_pipeline.vision.settings import ConfigError
from tests.tiny_training import SPEC


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

    def heatmaps_of(name: str) -> np.ndarray:
        explainer = CamExplainer(
            trained, SPEC.cam_layer, SPEC.mean, SPEC.std, method=name, precision=Precision("fp32")
        )
        result = explainer.explain(images[:4])
        explainer.close()
        assert result.heatmaps.shape == (4, 96, 96) and result.heatmaps.dtype == np.float32
        assert result.heatmaps.min() >= 0 and result.heatmaps.max() <= 1 + 1e-6
        expected = crack_probabilities(trained, images[:4], SPEC.mean, SPEC.std, Precision("fp32"))
        np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5, atol=1e-6)
        return result.heatmaps

    heatmaps = heatmaps_of(method)
    if method != "gradcam":  # each name runs its own method, not another's
        assert np.abs(heatmaps - heatmaps_of("gradcam")).max() > 0.05


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


def test_gradients_flow_only_from_the_output_back_to_the_target_layer(trained, cracks):
    """The autograd graph starts at the CAM layer: everything before it runs without one (no backward pass
    through it), everything after it is in it, and no weight keeps a gradient."""
    images, _ = cracks
    layers = [m for m in trained.modules() if not list(m.children())]
    position = layers.index(trained.get_submodule(SPEC.cam_layer))
    in_graph = {}
    hooks = [
        m.register_forward_hook(lambda m, i, out: in_graph.__setitem__(m, out.requires_grad)) for m in layers
    ]
    explainer = CamExplainer(trained, SPEC.cam_layer, SPEC.mean, SPEC.std, precision=Precision("fp32"))
    explainer.explain(images[:2])
    explainer.close()
    for hook in hooks:
        hook.remove()
    assert not any(in_graph[m] for m in layers[:position]), "no graph below the CAM layer"
    assert all(in_graph[m] for m in layers[position + 1 :] if m in in_graph), "the score depends on the layer"
    assert all(p.grad is None for p in trained.parameters()), "no weight gradient is computed or kept"


def test_probabilities_are_the_models_and_the_map_follows_the_target(trained, cracks):
    images, _ = cracks
    explainer = CamExplainer(trained, SPEC.cam_layer, SPEC.mean, SPEC.std, precision=Precision("fp32"))
    crack = explainer.explain(images[:6], ["crack"] * 6)
    clean = CamExplainer(trained, SPEC.cam_layer, SPEC.mean, SPEC.std, precision=Precision("fp32"))
    other = clean.explain(images[:6], ["predicted"] * 6)
    explainer.close()
    clean.close()
    expected = crack_probabilities(trained.eval(), images[:6], SPEC.mean, SPEC.std, Precision("fp32"))
    np.testing.assert_allclose(crack.probabilities, expected, atol=1e-5)
    predicted_crack = expected >= 0.5
    # Where the model predicts crack, "predicted" explains the same class as "crack": the same map.
    np.testing.assert_allclose(crack.heatmaps[predicted_crack], other.heatmaps[predicted_crack], atol=1e-5)


@pytest.mark.parametrize("method", ["gradcam", "ablationcam"])  # the call made in the graph / by a first pass
def test_predicted_explains_the_class_called_at_the_threshold(trained, cracks, method):
    images = cracks[0][:6]
    p_crack = crack_probabilities(trained.eval(), images, SPEC.mean, SPEC.std, Precision("fp32"))
    threshold = float(np.median(p_crack))  # half the images called each way
    called = ["crack" if p >= threshold else "no_crack" for p in p_crack]
    assert 0 < called.count("crack") < len(called)
    assert any(0.5 <= p < threshold for p in p_crack), "some call differs from the larger logit's"

    def maps(targets, at=0.5):
        explainer = CamExplainer(
            trained, SPEC.cam_layer, SPEC.mean, SPEC.std, method, precision=Precision("fp32"), threshold=at
        )
        result = explainer.explain(images, targets)
        explainer.close()
        return result.heatmaps

    np.testing.assert_allclose(maps(["predicted"] * 6, threshold), maps(called), atol=1e-5)
    assert not np.allclose(maps(["crack"] * 6), maps(["no_crack"] * 6), atol=1e-3), "the classes' maps differ"


@pytest.mark.parametrize("method, extra", [("eigencam", 0), ("layercam", 0), ("ablationcam", 1)])
def test_predicted_costs_a_first_pass_only_where_the_method_scores_masked_copies(
    trained, cracks, method, extra
):
    explainer = CamExplainer(
        trained, SPEC.cam_layer, SPEC.mean, SPEC.std, method, precision=Precision("fp32")
    )
    calls = []
    hook = explainer.model.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))

    def passes_over_the_images(targets):
        calls.clear()
        explainer.explain(cracks[0][:3], targets)
        return calls.count(3)  # AblationCAM's own passes over masked copies come in other batch sizes

    try:
        named = passes_over_the_images(["crack", "no_crack", "crack"])
        assert passes_over_the_images(["predicted"] * 3) == named + extra
    finally:  # the model is the module's: no hook left on it
        hook.remove()
        explainer.close()


def test_unknown_method_and_target():
    model = create_model("small_cnn")
    with pytest.raises(ValueError, match="unknown CAM method"):
        CamExplainer(model, "features", SPEC.mean, SPEC.std, method="magiccam")
    with pytest.raises(ValueError, match="target"):
        CamExplainer(model, "features", SPEC.mean, SPEC.std, target="pores")
    with pytest.raises(ValueError, match="one target of"):
        CamExplainer(model, "features", SPEC.mean, SPEC.std).explain(
            torch.zeros(1, 3, 32, 32, dtype=torch.uint8), ["pores"]
        )


def test_an_unknown_layer_names_the_setting_and_the_layers_there_are():
    """It was an AttributeError traceback from torch."""
    with pytest.raises(ConfigError) as caught:
        CamExplainer(create_model("small_cnn"), "bn2", SPEC.mean, SPEC.std)
    message = str(caught.value)
    assert message.startswith("explain.cam_layer: SmallCNN has no layer 'bn2'; its outer layers: features, ")
    assert "features.6, " in message and "classifier" in message


def test_randomised_weights_give_other_heatmaps(trained_checkpoint, cracks):
    images, _ = cracks
    checkpoint = trained_checkpoint
    correlation = randomised_weights_correlation(
        checkpoint, images, "gradcam", [1] * len(images), Precision("fp32"), seed=0
    )
    assert -1 <= correlation < 0.9, "a trained model's heatmaps must not be what random weights give"
    clean = randomised_weights_correlation(
        checkpoint, images, "gradcam", [0] * len(images), Precision("fp32"), 0
    )
    assert clean != pytest.approx(correlation, abs=1e-6), "the maps of the classes the run explained"
