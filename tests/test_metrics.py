"""Every metric against scikit-learn (or by hand) on fixed inputs, and the recall-first threshold search."""

import numpy as np
import pytest
from sklearn import metrics as sk

from crack_pipeline.vision.metrics import binary_metrics, expected_calibration_error, threshold_for_recall

Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
P = np.array([0.9, 0.8, 0.45, 0.6, 0.3, 0.55, 0.1, 0.2, 0.65, 0.95])


def test_metrics_match_scikit_learn():
    m = binary_metrics(Y, P, 0.5)
    predicted = (P >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(Y, predicted))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(Y, predicted))
    assert m["precision"] == pytest.approx(sk.precision_score(Y, predicted))
    assert m["recall"] == pytest.approx(sk.recall_score(Y, predicted))
    assert m["f1"] == pytest.approx(sk.f1_score(Y, predicted))
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(Y, P))
    assert m["pr_auc"] == pytest.approx(sk.average_precision_score(Y, P))
    assert m["brier"] == pytest.approx(sk.brier_score_loss(Y, P))
    # By hand: predicted crack at 0.9 0.8 0.6 0.55 0.65 0.95 -> tp 4, fp 2, fn 1 (0.45), tn 3.
    assert (m["tp"], m["fp"], m["fn"], m["tn"], m["n"]) == (4, 2, 1, 3, 10)
    assert m["specificity"] == pytest.approx(3 / 5)


def test_threshold_changes_the_counts():
    m = binary_metrics(Y, P, 0.7)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 0, 2, 5)


def test_expected_calibration_error_by_hand():
    # Two bins used (10 bins over confidence 0.5..1): confidences 0.9 x4 (3 right) and 0.6 x2 (1 right).
    y = np.array([1, 1, 1, 0, 1, 0])
    p = np.array([0.9, 0.9, 0.9, 0.9, 0.6, 0.6])
    expected = 4 / 6 * abs(3 / 4 - 0.9) + 2 / 6 * abs(1 / 2 - 0.6)
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


def test_threshold_for_recall_is_the_highest_that_reaches_it():
    # Crack probabilities sorted: 0.95 0.9 0.8 0.6 0.45
    assert threshold_for_recall(Y, P, 1.0) == 0.45
    assert threshold_for_recall(Y, P, 0.8) == 0.6
    assert threshold_for_recall(Y, P, 0.79) == 0.6
    assert threshold_for_recall(Y, P, 0.2) == 0.95
    for target in (0.2, 0.5, 0.8, 0.99, 1.0):
        threshold = threshold_for_recall(Y, P, target)
        assert binary_metrics(Y, P, threshold)["recall"] >= target - 1e-12


def test_threshold_needs_crack_images():
    with pytest.raises(ValueError, match="no crack image"):
        threshold_for_recall(np.zeros(4), np.full(4, 0.3), 0.9)
    with pytest.raises(ValueError, match="target_recall"):
        threshold_for_recall(Y, P, 0.0)


def test_promotion_needs_strictly_better():
    from crack_pipeline.pipelines.evaluate.nodes import is_better

    assert is_better(0.9, None)  # no champion yet: the best variant becomes one
    assert is_better(0.91, 0.90)
    assert not is_better(0.90, 0.90)  # a tie keeps the current champion
    assert not is_better(0.89, 0.90)
    assert is_better(0.02, 0.03, higher_is_better=False)  # e.g. ECE or Brier score
    assert not is_better(0.03, 0.03, higher_is_better=False)


def test_comparison_ranks_variants_and_keeps_a_tied_champion():
    from crack_pipeline.pipelines.evaluate.nodes import compare_variants

    def metrics(variant, f1, checkpoint_id):
        block = {
            "accuracy": 0.9,
            "balanced_accuracy": 0.9,
            "roc_auc": 0.95,
            "pr_auc": 0.94,
            "ece": 0.05,
            "recall": 0.99,
            "precision": 0.8,
            "f1": f1,
        }
        return {
            "variant": variant,
            "checkpoint_id": checkpoint_id,
            "threshold_at_target_recall": 0.3,
            "at_half": block,
            "at_target_recall": block,
            "training": {
                "architecture": variant,
                "pretrained": False,
                "epochs": 2,
                "best_epoch": 2,
                "input_size": 64,
                "train_seconds": 1.0,
                "train_images_per_second": 10.0,
            },
        }

    settings = {"champion_metric": "at_target_recall.f1", "target_recall": 0.99}
    table, markdown, decision = compare_variants(
        settings, None, {}, metrics("a", 0.8, "ca"), metrics("b", 0.9, "cb")
    )
    assert table.variant.tolist() == ["b", "a"] and "| b " in markdown
    assert decision["candidate"] == "b" and decision["promote"]
    current = {"checkpoint_id": "cb", "variant": "b", "model_version": "7"}
    _, _, again = compare_variants(settings, current, {}, metrics("a", 0.8, "ca"), metrics("b", 0.9, "cb"))
    assert again["current_value"] == again["candidate_value"] and not again["promote"]
