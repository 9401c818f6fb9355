"""What a folder's labels give beyond its scores: the site's own decision threshold
(`evaluate_folder.recalibrate`), and, among its unlabelled images, which to label next
(`label_these_next.csv` and its contact sheet)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.listed_images import ListedImages
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.metrics import format_metric
from crack_pipeline.vision.figures import grid
from crack_pipeline.vision.models.inference import views_of
from crack_pipeline.vision.settings import ConfigError
from crack_pipeline.vision.transfer.active import labelling_order, uncertainty
from crack_pipeline.vision.transfer.recalibration import recalibrate

logger = logging.getLogger(__name__)


def sheet_size(evaluate_folder: dict[str, Any]) -> int:
    """How many images the contact sheet shows (`evaluate_folder.label_next`; unset: 48, 0: no sheet)."""
    count = evaluate_folder.get("label_next")
    if count is None:
        return 48
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigError(f"evaluate_folder.label_next: a number of images, 0 or more, not {count!r}")
    return count


def check_recalibration(labels: pd.Series) -> None:
    """An `InputError` when `evaluate_folder.recalibrate` cannot be done on a folder whose kept images have
    these `labels` ("" unlabelled): labelled ones, none of them a crack (`recalibrated` refuses them). Said
    before any image is scored: after it, the stopped run had spent hours on a large folder and written none
    of its scores. A folder of no labelled image is scored and ranked, not recalibrated, as before."""
    if (labels != "").any() and not (labels == "crack").any():
        raise InputError(
            "evaluate_folder.recalibrate needs crack images among the labelled ones of the folder (it has "
            f"{(labels == 'no_crack').sum()} labelled no_crack, none crack): label some (move them into "
            "Positive/), or leave evaluate_folder.recalibrate unset"
        )


def recalibrated(scored: ListedImages, probability: np.ndarray, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The threshold this folder's labels give for the recall the model's own threshold was chosen for,
    with its cross-fitted estimate; logged with how to use it: with the view count and the domain (its
    tile size) the folder was scored with, for which it holds."""
    target_recall = float((checkpoint.get("threshold") or {}).get("target_recall", 0.99))
    y = scored.labels.numpy()
    if not (y == CLASS_NAMES.index("crack")).any():
        raise InputError(
            "evaluate_folder.recalibrate needs crack images among the labelled ones of the folder"
        )
    site = recalibrate(y, probability, target_recall)
    estimate = site["cross_fitted"]
    logger.info(
        "evaluate_folder: recalibrated threshold %.4f for recall %.2f on %s; cross-fitted: %s. Use it with "
        "--params=explain.threshold=%.4f,explain.test_time_views=%d%s (or the same under evaluate_folder)",
        site["value"],
        target_recall,
        site["chosen_on"],
        "undefined (under two crack images)"
        if estimate is None
        else " ".join(
            f"{k}={format_metric(estimate[k])}" for k in ("balanced_accuracy", "recall", "specificity")
        ),
        site["value"],
        views_of(checkpoint),
        f",explain.domain={checkpoint['domain']}" if checkpoint.get("domain") is not None else "",
    )
    return site


def labelling_table(
    data: ListedImages,
    probability: np.ndarray,
    features: np.ndarray,
    unlabelled: np.ndarray,
    threshold: float,
) -> pd.DataFrame:
    """The unlabelled images, best to label first: rank, file, crack_probability, uncertainty."""
    where = np.flatnonzero(unlabelled)
    order = where[labelling_order(probability[where], features[where], threshold)] if len(where) else where
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "file": [data.paths[i] for i in order],
            "crack_probability": probability[order],
            "uncertainty": uncertainty(probability[order], threshold),
        }
    )


def plot_label_next(data: ListedImages, table: pd.DataFrame, name: str) -> Figure:
    pictures = data.pictures(table.file)
    shown = table[table.file.isin(pictures)]  # a file changed since it was scored is not shown
    captions = [
        f"#{r.rank} {r.file.rsplit('/', 1)[-1]}\np(crack) {r.crack_probability:.3f}"
        for r in shown.itertuples()
    ]
    return grid(
        [pictures[f] for f in shown.file],
        captions,
        f"{name}: label these next (uncertain and unlike each other first)",
    )
