"""A decision threshold recalibrated on a few labelled images of a new site.

A model's threshold was chosen on its own validation split; on another camera or surface its p(crack)
shifts (the Özgenel model calls few SDNET cracks at its own threshold, yet ranks them far better than
chance). A few labels of the site give a threshold for it; how well that threshold does is estimated by
cross-fitting (each half of the labels scored at the threshold chosen on the other half), never on the
labels it was chosen on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crack_pipeline.vision.evaluation.metrics import binary_metrics, threshold_for_recall

DECISION_METRICS = ("n", "accuracy", "balanced_accuracy", "recall", "specificity", "precision", "f1")


def decision_metrics(y_true, predicted) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, recall, specificity, precision and F1 of hard decisions (1 = crack)."""
    every = binary_metrics(y_true, np.asarray(predicted, dtype=float), 0.5)
    return {name: every[name] for name in DECISION_METRICS}


def cross_fitted_decisions(y_true, probability, target_recall: float, seed: int = 0) -> np.ndarray:
    """Decisions for every image at a threshold chosen for `target_recall` on the *other* half of the
    labels (halves drawn with `seed`, stratified by class)."""
    y_true, probability = np.asarray(y_true).astype(int), np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    half = np.zeros(len(y_true), dtype=bool)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y_true == label))
        half[members[: len(members) // 2]] = True
    decisions = np.zeros(len(y_true), dtype=int)
    for scored in (half, ~half):
        threshold = threshold_for_recall(y_true[~scored], probability[~scored], target_recall)
        decisions[scored] = probability[scored] >= threshold
    return decisions


def recalibrate(y_true, probability, target_recall: float) -> dict[str, Any]:
    """The site's threshold, chosen on all its labels for `target_recall`, and its cross-fitted estimate.

    Needs at least one crack image (`InputError` otherwise); the estimate needs two (one per half), and is
    None with fewer.
    """
    y_true = np.asarray(y_true).astype(int)
    value = threshold_for_recall(y_true, probability, target_recall)
    estimate = None
    if (y_true == 1).sum() >= 2:
        estimate = decision_metrics(y_true, cross_fitted_decisions(y_true, probability, target_recall))
    return {
        "value": value,
        "target_recall": float(target_recall),
        "chosen_on": f"{len(y_true)} labelled images of this folder",
        "cross_fitted": estimate,
    }
