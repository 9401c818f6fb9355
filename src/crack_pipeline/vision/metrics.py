"""Binary classification metrics for crack detection (positive class = crack), and threshold choice."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as sk


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width bins of the predicted class's confidence, by bin size."""
    y_true, probability = np.asarray(y_true), np.asarray(probability, dtype=float)
    predicted = (probability >= 0.5).astype(int)
    confidence = np.where(predicted == 1, probability, 1 - probability)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            accuracy = (predicted[members] == y_true[members]).mean()
            error += members.mean() * abs(accuracy - confidence[members].mean())
    return float(error)


def binary_metrics(y_true, probability, threshold: float = 0.5) -> dict[str, float]:
    """Every reported metric at one threshold (a crack when probability >= threshold)."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    predicted = (probability >= threshold).astype(int)
    tn, fp, fn, tp = sk.confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(y_true)) == 2
    return {
        "threshold": float(threshold),
        "n": int(len(y_true)),
        "accuracy": float(sk.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(sk.balanced_accuracy_score(y_true, predicted))
        if both_classes
        else float("nan"),
        "precision": float(sk.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(sk.recall_score(y_true, predicted, zero_division=0)),
        "specificity": float(tn / (tn + fp)) if tn + fp else float("nan"),
        "f1": float(sk.f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(sk.roc_auc_score(y_true, probability)) if both_classes else float("nan"),
        "pr_auc": float(sk.average_precision_score(y_true, probability)) if both_classes else float("nan"),
        "brier": float(sk.brier_score_loss(y_true, probability, pos_label=1)),
        "ece": expected_calibration_error(y_true, probability),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
    }


def threshold_for_recall(y_true, probability, target_recall: float) -> float:
    """The highest threshold whose recall reaches `target_recall` (the fewest false alarms that keep it).

    Missed cracks cost more than false alarms, so recall rules; among thresholds meeting it, the
    highest keeps precision as high as possible.
    """
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    positives = np.sort(probability[y_true == 1])[::-1]
    if len(positives) == 0:
        raise ValueError("the validation split has no crack image: no threshold can be chosen for recall")
    needed = int(np.ceil(target_recall * len(positives) - 1e-9))
    return float(positives[max(needed, 1) - 1])
