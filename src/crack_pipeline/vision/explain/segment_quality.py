"""How good are the crack masks? Pixel scores against true masks next to two baselines that know nothing of
the model, and the error of what an inspector would measure (length, width), one image at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from skimage.filters import threshold_otsu

from crack_pipeline.vision.evaluation.segmentation import (
    THRESHOLDS,
    best_threshold,
    image_precision_recall,
    tolerant_scores,
)
from crack_pipeline.vision.explain.localisation import grey, sobel_map
from crack_pipeline.vision.explain.measurements import listed_cracks

TOLERANCE = 2  # px: the usual tolerance for thin cracks drawn a pixel or two aside


def _otsu_below(values: np.ndarray) -> np.ndarray:
    """Pixels under Otsu's threshold of `values` (none for a flat image)."""
    return values < threshold_otsu(values) if np.ptp(values) > 0 else np.zeros(values.shape, dtype=bool)


def baseline_masks(image: np.ndarray) -> dict[str, np.ndarray]:
    """The masks a model-free tool would draw: `threshold`, the pixels darker than Otsu's global threshold
    of the grey image; `sobel`, the pixels whose edge strength is above Otsu's threshold of it."""
    edges = sobel_map(image)
    return {"threshold": _otsu_below(grey(image)), "sobel": ~_otsu_below(edges) & (edges > 0)}


def _measured(mask: np.ndarray, gap: int) -> tuple[int, float, float]:
    """The count, total length and length-weighted mean width (nan when none) of a mask's cracks, as its
    measurements table lists them (`listed_cracks`, pieces `gap` px apart one crack)."""
    cracks = listed_cracks(mask, gap)
    length = float(cracks["length_px"].sum())
    width = float((cracks["mean_width_px"] * cracks["length_px"]).sum() / length) if length else float("nan")
    return len(cracks), length, width


@dataclass
class SegmentQuality:
    """The crack-mask scores of one method over a run, added image by image (only the per-image figures
    are kept, never the maps: a survey of 12-MP photos fits in memory)."""

    scores: dict[str, list[float]] = field(
        default_factory=lambda: {
            k: [] for k in ("precision", "recall", "f1", "iou", "baseline_threshold_f1", "baseline_sobel_f1")
        }
    )
    length_errors: list[float] = field(default_factory=list)  # relative, per image with a true crack
    width_errors: list[float] = field(default_factory=list)  # px, per image where both masks hold a crack
    count_errors: list[int] = field(default_factory=list)  # |ours - true| cracks, as the table lists them
    curves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # ODS precision, recall

    def add(
        self, predicted: np.ndarray, score: np.ndarray, truth: np.ndarray, image: np.ndarray, gap: int = 0
    ) -> None:
        """One image: its predicted mask, its crack score in [0, 1] (for the ODS threshold sweep, over the
        mask's pixels), its true mask and its pixels (for the baselines); `gap`: px between pieces of one
        crack, as its measurements table joins them (for the count and the measuring errors)."""
        for name, value in tolerant_scores(predicted, truth, TOLERANCE).items():  # iou: without tolerance
            self.scores[name].append(value)
        for name, mask in baseline_masks(image).items():
            self.scores[f"baseline_{name}_f1"].append(tolerant_scores(mask, truth, TOLERANCE)["f1"])
        # The sweep ranks the pixels the mask keeps: outside it, the score is of specks and blobs the mask
        # leaves out (CFD: ODS 0.497 sweeping the whole score, 0.521 within the mask; since, 0.560 and
        # 0.546 on CFD's odd photos but 0.855 and 0.862 on the synthetic split: README).
        kept = np.where(predicted, score, 0)
        self.curves.append(image_precision_recall(kept, truth, THRESHOLDS, tolerance=0))
        # The cracks the table lists, the true mask's alike: the errors measured on those the count counts
        # (the length and width went by measure_cracks' own minimum of 10 px, pieces apart unjoined).
        true_count, true_length, true_width = _measured(truth, gap)
        count, length, width = _measured(predicted, gap)
        if true_length:
            self.length_errors.append(abs(length - true_length) / true_length)
        if np.isfinite(true_width) and np.isfinite(width):
            self.width_errors.append(abs(width - true_width))
        self.count_errors.append(abs(count - true_count))

    def summary(self) -> dict[str, Any]:
        """Means over the images (`n`), the ODS F1 at zero tolerance with its threshold, the median
        errors of total length (relative) and of mean width (px), and the mean error of the crack count."""
        if not self.curves:
            return {}
        precision, recall = (np.mean(part, axis=0) for part in zip(*self.curves, strict=True))
        ods = best_threshold(precision, recall, THRESHOLDS)
        return {
            "n": len(self.curves),
            "tolerance": TOLERANCE,
            **{name: float(np.mean(values)) for name, values in self.scores.items()},
            "ods_f1": ods["f1"],
            "ods_threshold": ods["threshold"],
            "length_error": float(np.median(self.length_errors)) if self.length_errors else float("nan"),
            "width_error_px": float(np.median(self.width_errors)) if self.width_errors else float("nan"),
            # The mean: a median of whole cracks is 0 or 1 on most runs and would not move.
            "count_error": float(np.mean(self.count_errors)),
        }


def segment_line(method: str, summary: dict[str, Any]) -> str:
    """The printed line of a method's mask scores."""
    s = summary
    return (
        f"segment: method={method} n={s['n']} f1={s['f1']:.3f} precision={s['precision']:.3f} "
        f"recall={s['recall']:.3f} iou={s['iou']:.3f} ods_f1={s['ods_f1']:.3f} tolerance={s['tolerance']} "
        f"baseline_threshold_f1={s['baseline_threshold_f1']:.3f} "
        f"baseline_sobel_f1={s['baseline_sobel_f1']:.3f} "
        f"length_error={s['length_error']:.3f} width_error_px={s['width_error_px']:.2f} "
        f"count_error={s['count_error']:.2f}"
    )
