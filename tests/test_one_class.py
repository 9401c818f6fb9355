"""A model fitted on clean images only: its memory bank, scores, threshold, checkpoint and anomaly maps."""

import io

import numpy as np
import pytest
import torch

from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.metrics import binary_metrics, threshold_for_false_alarms
from crack_pipeline.vision.evaluation.plots import plot_training_history
from crack_pipeline.vision.explain.anomaly import ANOMALY, AnomalyExplainer, methods_for
from crack_pipeline.vision.explain.localisation import centre_gaussian, pointing_game
from crack_pipeline.vision.models.checkpoint import model_from_checkpoint
from crack_pipeline.vision.models.inference import crack_probabilities
from crack_pipeline.vision.models.one_class import greedy_coreset, nearest_distances
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import ConfigError, settings_from
from crack_pipeline.vision.training.one_class import OneClassConfig, fit_patch_memory
from tests.test_checkpoint import checkpoint_of
from tests.tiny_training import tiny_split

SPEC = get_spec("patch_memory_lite0")
FP32 = Precision("fp32")


@pytest.fixture(scope="module")
def fitted():
    train, val, test = (
        tiny_split(24, seed=1, size=160),
        tiny_split(12, seed=2, size=160),
        tiny_split(12, seed=3, size=160),
    )
    model = create_model(SPEC.name, pretrained=True)
    config = OneClassConfig(bank_patches=300, patches_per_image=16, false_alarm_rate=0.1)
    return fit_patch_memory(model, SPEC, train, val, config), train, val, test


def test_nearest_distances_match_a_direct_computation():
    generator = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(50, 8, generator=generator), torch.randn(30, 8, generator=generator)
    expected = torch.cdist(queries, bank).amin(1)
    assert torch.allclose(nearest_distances(queries, bank, chunk=7), expected, atol=1e-4)


def test_the_coreset_covers_far_points_a_random_sample_would_miss():
    generator = torch.Generator().manual_seed(0)
    crowd = torch.randn(1000, 16, generator=generator) * 0.1
    outliers = torch.randn(5, 16, generator=generator) + 20
    candidates = torch.cat([crowd, outliers])
    chosen = greedy_coreset(candidates, 20, dims=8, seed=0)
    assert len(set(chosen.tolist())) == 20
    assert set(range(1000, 1005)) <= set(chosen.tolist()), "every far-off patch is kept"
    assert torch.equal(chosen, greedy_coreset(candidates, 20, dims=8, seed=0))
    assert len(greedy_coreset(candidates, 5000, dims=8, seed=0)) == len(candidates)


def test_fitted_on_clean_images_only_it_scores_cracks_higher(fitted, monkeypatch):
    result, train, val, test = fitted
    model = result.model
    assert model.head.bank.shape[0] == 300 and result.history[0]["bank_megabytes"] < 1
    probabilities = crack_probabilities(model, test.images, SPEC.mean, SPEC.std, FP32)
    scores = binary_metrics(test.labels.numpy(), probabilities)
    assert scores["roc_auc"] > 0.9, "the tiny synthetic cracks are plain anomalies"
    # The cracked training images never reach the bank: fitting on their clean half alone gives the same.
    clean = ImageTensors(train.images[train.labels == 0], train.labels[train.labels == 0], ["x"] * 24)
    again = fit_patch_memory(
        create_model(SPEC.name, pretrained=True),
        SPEC,
        clean,
        val,
        OneClassConfig(bank_patches=300, patches_per_image=16, false_alarm_rate=0.1),
    )
    assert torch.allclose(again.model.head.bank, model.head.bank)


def test_the_threshold_allows_the_chosen_share_of_false_alarms_on_clean_images():
    labels = np.array([0] * 100 + [1] * 10)
    probabilities = np.concatenate([np.linspace(0, 0.5, 100), np.full(10, 0.9)])
    threshold = threshold_for_false_alarms(labels, probabilities, 0.05)
    called = probabilities[:100] >= threshold["value"]
    assert called.sum() == 5 and threshold["validation_recall"] == 1.0
    assert threshold_for_false_alarms(labels, probabilities, 0.0)["value"] > 0.5
    ties = threshold_for_false_alarms(np.zeros(4), np.array([0.2, 0.7, 0.7, 0.7]), 0.5)
    assert (np.array([0.2, 0.7, 0.7, 0.7]) >= ties["value"]).sum() == 0, (
        "never more false alarms than allowed"
    )
    assert threshold_for_false_alarms(np.zeros(1), np.array([0.3]), 0.0)["value"] > 0.3
    for rate in (1.0, -0.1):
        with pytest.raises(InputError, match="false-alarm rate"):
            threshold_for_false_alarms(labels, probabilities, rate)
    with pytest.raises(ConfigError, match="bank_patches"):
        settings_from(OneClassConfig, {"bank_patches": 0}, "train.models.patch_memory.one_class")


def test_a_checkpoint_brings_back_the_bank_and_answers_the_same(fitted):
    result, _, _, test = fitted
    checkpoint = checkpoint_of(result.model, architecture=SPEC.name)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = model_from_checkpoint(torch.load(buffer, weights_only=True))
    assert torch.equal(loaded.head.bank, result.model.head.bank)
    before = crack_probabilities(result.model, test.images, SPEC.mean, SPEC.std, FP32)
    after = crack_probabilities(loaded, test.images, SPEC.mean, SPEC.std, FP32)
    assert np.allclose(before, after, atol=1e-6)


def test_it_is_explained_by_its_anomaly_map_which_points_at_the_crack(fitted):
    result, _, _, test = fitted
    assert methods_for(SPEC.name, ["layercam", "gradcam"]) == [ANOMALY]
    assert methods_for("small_cnn", ["layercam"]) == ["layercam"]
    explainer = AnomalyExplainer(result.model, SPEC.mean, SPEC.std)
    cracked = test.images[test.labels == 1]
    explanation = explainer.explain(cracked)
    assert explanation.heatmaps.shape == (len(cracked), 160, 160)
    assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() <= 1
    expected = crack_probabilities(result.model, cracked, SPEC.mean, SPEC.std, FP32)
    assert np.allclose(explanation.probabilities, expected, atol=1e-5)
    config = SynthConfig(count_per_class=12, image_size=160, seed=3, difficulty=0.0)
    masks = [render_sample(config, True, index).mask for index in range(1, 13)]
    hits = [pointing_game(heatmap, mask) for heatmap, mask in zip(explanation.heatmaps, masks, strict=True)]
    centred = [pointing_game(centre_gaussian(mask.shape), mask) for mask in masks]
    # A 10 x 10 map at 160 px (1/16): coarse, but on the crack far more often than a centred blob.
    assert np.mean(hits) >= np.mean(centred) + 0.3, "the most anomalous patch lies on the crack"
    with pytest.raises(ConfigError, match="one-class"):
        AnomalyExplainer(create_model("small_cnn"), SPEC.mean, SPEC.std)


def test_the_settings_a_one_class_model_does_not_follow_are_named():
    """Fitted in this process in fp32, it took `train.processes: 2` and `precision: bf16` without a word."""
    from crack_pipeline.pipelines.train.variants import one_class_ignores
    from crack_pipeline.vision.training.config import TrainConfig

    assert one_class_ignores({"processes": 2}, TrainConfig(precision="bf16")) == [
        "train.processes: 2",
        "precision: bf16",
    ]
    assert one_class_ignores({"processes": 1}, TrainConfig(precision="auto")) == []
    assert one_class_ignores({}, TrainConfig(precision="fp32")) == []


def test_its_training_history_is_said_in_words_not_drawn_as_empty_charts():
    """patch_memory learns no weights by epochs: its training curves were two empty charts (axes -0.04 to
    0.04), in training_curves.png and the notebook."""
    history = [{"epoch": 1, "bank_patches": 4000.0, "bank_megabytes": 4.864, "val_roc_auc": 0.9125}]
    figure = plot_training_history(history, "patch_memory")
    said = " ".join(text.get_text() for text in figure.texts)
    assert not figure.axes
    assert "no loss or accuracy by epoch" in said
    assert "bank_patches 4000" in said and "val_roc_auc 0.9125" in said
    drawn = plot_training_history([{"epoch": 1, "train_loss": 0.5, "val_loss": 0.4}], "small_cnn")
    assert len(drawn.axes) == 2


def test_a_crack_classifier_is_refused_a_split_of_clean_images_alone_before_it_trains(monkeypatch):
    """Ingest lets a folder of clean photos alone through for a one-class variant (train.variants:
    [patch_memory]), and --pipelines=train trains every defined variant: a classifier trained on one class
    scored F1 0 and could be promoted."""
    from crack_pipeline.config import environment_parameters
    from crack_pipeline.pipelines.train import nodes as train_nodes

    train = environment_parameters("local")["train"]
    paths = [f"site/Negative/{i}.png" for i in range(6)]
    clean = ImageTensors(torch.zeros(6, 3, 8, 8, dtype=torch.uint8), torch.zeros(6, dtype=torch.long), paths)

    def fitted(*args, **kwargs):
        raise AssertionError("a model was trained")

    monkeypatch.setattr(train_nodes, "fit_distributed", fitted)
    small_cnn = train["models"]["small_cnn"]
    with pytest.raises(InputError) as refused:
        train_nodes.train_variant(
            {"train": clean}, None, None, None, None, small_cnn, train, "cpu", name="small_cnn"
        )
    assert str(refused.value) == (
        "train: small_cnn is a crack classifier, and the split's 6 training images are all 'no_crack': it "
        "needs both classes (a split of clean photos alone trains one-class variants only, such as "
        "patch_memory; README 'A model trained without crack photos')"
    )
