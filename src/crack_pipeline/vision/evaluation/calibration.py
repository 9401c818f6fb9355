"""Calibration: does p(crack) = 0.8 mean a crack 8 times in 10? The reliability bins and the expected
calibration error over the same bins, so the number and the plot never disagree."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve

BINS = 10  # equal-width bins of p(crack) over [0, 1]


def reliability(y_true, probability, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per non-empty bin: the observed share of cracks, the mean predicted p(crack) and the image count
    (scikit-learn's `calibration_curve`, uniform bins)."""
    y_true, probability = np.asarray(y_true).astype(int), np.asarray(probability, dtype=float)
    observed, predicted = calibration_curve(y_true, probability, n_bins=bins, strategy="uniform")
    # The bin of each image exactly as calibration_curve assigns it.
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], probability)
    counts = np.bincount(which, minlength=bins)
    return observed, predicted, counts[counts > 0]


def expected_calibration_error(y_true, probability, bins: int = BINS) -> float:
    """Mean |observed share of cracks - mean p(crack)| over the reliability bins, weighted by their size."""
    if len(np.asarray(y_true)) == 0:
        return float("nan")
    observed, predicted, counts = reliability(y_true, probability, bins)
    return float(np.sum(counts / counts.sum() * np.abs(observed - predicted)))
