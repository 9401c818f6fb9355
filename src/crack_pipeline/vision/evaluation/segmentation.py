"""Pixel scores of crack masks against true masks, with a tolerance for a crack drawn a pixel or two aside.

A pixel is matched when a pixel of the other mask lies within `tolerance` px of it (Euclidean; 0 asks for
the same pixel). Precision is the share of predicted pixels matched, recall the share of true ones.
Empty masks: both empty score 1.0 throughout (nothing to find, nothing claimed); one empty scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from crack_pipeline.vision.data.masks import as_crack_mask
from crack_pipeline.vision.errors import InputError

THRESHOLDS = np.linspace(0.01, 0.99, 99)  # the 0.01 steps of the crack papers' ODS
_WIDEST_SHIFTED = 9.5  # px: a disc of 253 offsets; past it a distance transform is the quicker


def _disc(tolerance: float) -> np.ndarray:
    """The offsets within `tolerance` px of a pixel, as a (2r+1)x(2r+1) bool footprint."""
    radius = int(tolerance)
    rows, columns = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return rows**2 + columns**2 <= tolerance**2


def _within(mask: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels within `tolerance` px of a pixel of `mask` (none when it is empty): the mask dilated by the
    disc of that radius, exactly (pixel offsets are whole numbers), as shifted copies of it OR-ed
    together. A copy costs ~1 ms on a 12-MP mask, 13 of them at 2 px; a distance transform, ~0.6 s at
    any radius, takes over for the wide discs (a BSDS-style 0.75 % of a 12-MP diagonal is 38 px)."""
    if tolerance > _WIDEST_SHIFTED:
        return ndimage.distance_transform_edt(~mask) <= tolerance if mask.any() else np.zeros_like(mask)
    radius = int(tolerance)
    height, width = mask.shape
    padded = np.pad(mask, radius)
    within = np.zeros_like(mask)
    for dy, dx in zip(*np.nonzero(_disc(tolerance)), strict=True):
        within |= padded[dy : dy + height, dx : dx + width]
    return within


def _precision_recall(
    matched_predicted: ArrayLike, predicted: ArrayLike, matched_truth: ArrayLike, truth: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall from pixel counts (numbers, or arrays over thresholds), empty cases included."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 where nothing was predicted or is true
        precision = np.where(predicted > 0, matched_predicted / predicted, 0.0)
        recall = np.where(truth > 0, matched_truth / truth, 0.0)
    both_empty = (predicted == 0) & (truth == 0)
    return np.where(both_empty, 1.0, precision), np.where(both_empty, 1.0, recall)


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)


def _same_size(predicted: np.ndarray, truth: np.ndarray, name: str) -> None:
    if predicted.shape != truth.shape:
        raise InputError(f"{name} {predicted.shape} and its truth {truth.shape} differ in size")


def _check_tolerance(tolerance: float) -> None:
    if not tolerance >= 0:
        raise InputError(f"tolerance must be 0 or more pixels, got {tolerance}")


def tolerant_scores(predicted: np.ndarray, truth: np.ndarray, tolerance: float = 2) -> dict[str, float]:
    """`precision`, `recall` and `f1` of a predicted HxW crack mask against the true one, pixels matched
    within `tolerance` px; `iou` of the two masks as they are."""
    predicted, truth = as_crack_mask(predicted, "predicted"), as_crack_mask(truth, "truth")
    _same_size(predicted, truth, "predicted")
    _check_tolerance(tolerance)
    precision, recall = _precision_recall(
        (predicted & _within(truth, tolerance)).sum(),
        predicted.sum(),
        (truth & _within(predicted, tolerance)).sum(),
        truth.sum(),
    )
    union = (predicted | truth).sum()
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(_f1(precision, recall)),
        "iou": float((predicted & truth).sum() / union) if union else 1.0,
    }


def _at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of `values` are >= each threshold."""
    return len(values) - np.searchsorted(np.sort(values), thresholds, side="left")


def image_precision_recall(
    probability: np.ndarray,
    truth: np.ndarray,
    thresholds: Sequence[float] | np.ndarray = THRESHOLDS,
    tolerance: float = 0,
    name: str = "probability map",
) -> tuple[np.ndarray, np.ndarray]:
    """One image's precision and recall at each threshold (a crack where `probability` >= it), against its
    HxW true mask: what `ods_f1` averages, for callers that see one image at a time. `name` names the
    image in errors."""
    probability, truth = np.asarray(probability, dtype=np.float64), as_crack_mask(truth, f"truth of {name}")
    _same_size(probability, truth, name)
    _check_tolerance(tolerance)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    # All thresholds from one pass: a true pixel is found at threshold t when the highest probability
    # within the tolerance reaches t, and a pixel above t is right when it lies near the truth.
    reach = ndimage.maximum_filter(probability, footprint=_disc(tolerance), mode="constant", cval=-np.inf)
    return _precision_recall(
        _at_least(probability[_within(truth, tolerance)], thresholds),
        _at_least(probability.ravel(), thresholds),
        _at_least(reach[truth], thresholds),
        truth.sum(),
    )


def best_threshold(
    precision: np.ndarray, recall: np.ndarray, thresholds: Sequence[float] | np.ndarray = THRESHOLDS
) -> dict[str, float]:
    """From precision and recall averaged over images at each threshold: the best threshold's `f1` (of
    the two averages), `threshold`, `precision` and `recall`."""
    f1 = _f1(np.asarray(precision), np.asarray(recall))
    best = int(np.argmax(f1))
    return {
        "f1": float(f1[best]),
        "threshold": float(np.asarray(thresholds)[best]),
        "precision": float(precision[best]),
        "recall": float(recall[best]),
    }


def ods_f1(
    probability_maps: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    thresholds: Sequence[float] | np.ndarray = THRESHOLDS,
    tolerance: float = 0,
) -> dict[str, float]:
    """The optimal-dataset-scale F1 of crack probability maps against their true masks (any sizes, each
    map the size of its mask): at each threshold (a crack where p >= it) every image's precision and
    recall, averaged over the images; F1 of the two averages; the best threshold's `f1`, `threshold`,
    `precision` and `recall`."""
    if len(probability_maps) != len(truths) or not len(truths):
        raise InputError(
            f"need as many probability maps as truths, got {len(probability_maps)}, {len(truths)}"
        )
    curves = [
        image_precision_recall(probability, truth, thresholds, tolerance, f"probability map {index}")
        for index, (probability, truth) in enumerate(zip(probability_maps, truths, strict=True))
    ]
    precision, recall = (np.mean(part, axis=0) for part in zip(*curves, strict=True))
    return best_threshold(precision, recall, thresholds)
