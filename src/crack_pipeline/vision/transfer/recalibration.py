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

from crack_pipeline.vision.evaluation.metrics import (
    binary_metrics,
    threshold_for_false_alarms,
    threshold_for_recall,
)
from crack_pipeline.vision.models.checkpoint import threshold_text

DECISION_METRICS = ("n", "accuracy", "balanced_accuracy", "recall", "specificity", "precision", "f1")


def decision_metrics(y_true, predicted) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, recall, specificity, precision and F1 of hard decisions (1 = crack)."""
    every = binary_metrics(y_true, np.asarray(predicted, dtype=float), 0.5)
    return {name: every[name] for name in DECISION_METRICS}


def site_threshold(y_true, probability, target_recall: float | None, false_alarm_rate: float | None) -> float:
    """The threshold these labels give, chosen as the model's own was: for `false_alarm_rate` of the clean
    images (a one-class model's), else for `target_recall` of the cracks."""
    if false_alarm_rate is not None:
        return threshold_for_false_alarms(y_true, probability, false_alarm_rate)["value"]
    return threshold_for_recall(y_true, probability, target_recall)


def threshold_to_paste(value: float, scores) -> str:
    """`value` as a setting to paste: the fewest decimals, 4 at least (more where `threshold_text` shows
    more), that leave each of `scores` (the p(crack) of the images it is to decide) on the side of it `value`
    leaves it. Rounded to 4, it moved them: 0.51992 between a crack at 0.51994 and a clean image at 0.51990
    was pasted as 0.5199, which calls that clean image cracked."""
    scores = np.asarray(scores, dtype=float)
    called = scores >= value
    decimals = 4
    while (
        float(text := threshold_text(value, decimals)) != value and ((scores >= float(text)) != called).any()
    ):
        decimals += 1
    return text


def cross_fitted_decisions(
    y_true, probability, target_recall: float | None, seed: int = 0, false_alarm_rate: float | None = None
) -> np.ndarray:
    """Decisions for every image at a threshold chosen (`site_threshold`) on the *other* half of the
    labels (halves drawn with `seed`, stratified by class)."""
    y_true, probability = np.asarray(y_true).astype(int), np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    half = np.zeros(len(y_true), dtype=bool)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y_true == label))
        half[members[: len(members) // 2]] = True
    decisions = np.zeros(len(y_true), dtype=int)
    for scored in (half, ~half):
        threshold = site_threshold(y_true[~scored], probability[~scored], target_recall, false_alarm_rate)
        decisions[scored] = probability[scored] >= threshold
    return decisions


def recalibrate(
    y_true, probability, target_recall: float | None, false_alarm_rate: float | None = None
) -> dict[str, Any]:
    """The site's threshold, chosen on all its labels for `target_recall` (or, a one-class model's, for
    `false_alarm_rate`), and its cross-fitted estimate.

    Needs at least one image of the class it is chosen on, crack (clean for a false-alarm rate):
    `InputError` otherwise; the estimate needs two (one per half), and is None with fewer.
    """
    y_true = np.asarray(y_true).astype(int)
    value = site_threshold(y_true, probability, target_recall, false_alarm_rate)
    estimate = None
    if (y_true == (0 if false_alarm_rate is not None else 1)).sum() >= 2:
        decisions = cross_fitted_decisions(
            y_true, probability, target_recall, false_alarm_rate=false_alarm_rate
        )
        estimate = decision_metrics(y_true, decisions)
    return {
        "value": value,
        "target_recall": None if target_recall is None else float(target_recall),
        **({"false_alarm_rate": float(false_alarm_rate)} if false_alarm_rate is not None else {}),
        "chosen_on": f"{len(y_true)} labelled images of this folder",
        "cross_fitted": estimate,
    }
