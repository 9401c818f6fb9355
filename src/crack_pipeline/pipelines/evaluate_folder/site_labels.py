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
from crack_pipeline.vision.models.checkpoint import threshold_text
from crack_pipeline.vision.models.inference import views_of
from crack_pipeline.vision.settings import ConfigError
from crack_pipeline.vision.transfer.active import TYPICAL, labelling_order, uncertainty
from crack_pipeline.vision.transfer.recalibration import recalibrate, threshold_to_paste

logger = logging.getLogger(__name__)

ORDERS = ("auto", "uncertain", "typical")


def sheet_size(evaluate_folder: dict[str, Any]) -> int:
    """How many images the contact sheet shows (`evaluate_folder.label_next`; unset: 48, 0: no sheet)."""
    count = evaluate_folder.get("label_next")
    if count is None:
        return 48
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigError(f"evaluate_folder.label_next: a number of images, 0 or more, not {count!r}")
    return count


def order_setting(evaluate_folder: dict[str, Any]) -> str:
    """`evaluate_folder.label_next_order` (unset: auto), one of `ORDERS`."""
    order = evaluate_folder.get("label_next_order") or "auto"
    if order not in ORDERS:
        raise ConfigError(f"evaluate_folder.label_next_order: one of {', '.join(ORDERS)}, not {order!r}")
    return order


def labelling_order_for(order: str, unfamiliar: dict[str, Any] | None) -> str:
    """`uncertain` or `typical`: as asked, or for auto, typical where the folder was found unfamiliar (the
    share `evaluate_folder.unfamiliar_share` warns from; `unfamiliar`: `familiarity`'s, None when not
    judged), where the model's uncertainty means little and its most uncertain images lean to one class."""
    if order != "auto":
        return order
    warn_from = None if unfamiliar is None else unfamiliar["warn_from"]
    return "typical" if warn_from is not None and unfamiliar["share"] >= warn_from else "uncertain"


def chosen_for(checkpoint: dict[str, Any]) -> dict[str, float | None]:
    """What the model's own threshold was chosen for, and a site's is chosen for too: a one-class model's
    for a false-alarm rate on clean images (it records no recall), any other's for a recall (0.99 for a
    model that records none)."""
    threshold = checkpoint.get("threshold") or {}
    if threshold.get("false_alarm_rate") is not None:
        return {"target_recall": None, "false_alarm_rate": float(threshold["false_alarm_rate"])}
    return {"target_recall": float(threshold.get("target_recall") or 0.99), "false_alarm_rate": None}


def needed_class(checkpoint: dict[str, Any]) -> str:
    """The labelled class a site's threshold is chosen on: clean images for a false-alarm rate, or cracks."""
    return "no_crack" if chosen_for(checkpoint)["false_alarm_rate"] is not None else "crack"


def check_recalibration(labels: pd.Series, checkpoint: dict[str, Any]) -> None:
    """An `InputError` when `evaluate_folder.recalibrate` cannot be done on a folder whose kept images have
    these `labels` ("" unlabelled): labelled ones, none of the class it is chosen on (`needed_class`;
    `recalibrated` refuses them). Said before any image is scored: after it, the stopped run had spent hours
    on a large folder and written none of its scores. A folder of no labelled image is scored and ranked,
    not recalibrated, as before."""
    needed = needed_class(checkpoint)
    other, folder = ("no_crack", "Positive") if needed == "crack" else ("crack", "Negative")
    why = "" if needed == "crack" else f"; model {checkpoint['variant']} chooses it for a false-alarm rate"
    if (labels != "").any() and not (labels == needed).any():
        raise InputError(
            f"evaluate_folder.recalibrate needs {needed} images among the labelled ones of the folder (it "
            f"has {(labels == other).sum()} labelled {other}, none {needed}{why}): label some (move them "
            f"into {folder}/), or leave evaluate_folder.recalibrate unset"
        )


def recalibrated(
    scored: ListedImages, probability: np.ndarray, checkpoint: dict[str, Any], folder: np.ndarray
) -> dict[str, Any]:
    """The threshold this folder's labels give (`probability`: of the `scored` images) for what the model's
    own was chosen for (`chosen_for`: a recall, or a one-class model's false-alarm rate), with its
    cross-fitted estimate; logged with how to use it: with the view count and the domain (its tile size)
    the folder was scored with, for which it holds, and as many decimals as leave each image of the folder
    (`folder`: their p(crack), labelled or not) on its side of it."""
    basis, needed = chosen_for(checkpoint), needed_class(checkpoint)
    y = scored.labels.numpy()
    if not (y == CLASS_NAMES.index(needed)).any():
        raise InputError(
            f"evaluate_folder.recalibrate needs {needed} images among the labelled ones of the folder"
        )
    site = recalibrate(y, probability, **basis)
    estimate = site["cross_fitted"]
    logger.info(
        "evaluate_folder: recalibrated threshold %s for %s on %s; cross-fitted: %s. Use it with "
        "--params=explain.threshold=%s,explain.test_time_views=%d%s (or the same under evaluate_folder)",
        threshold_text(site["value"]),
        f"recall {basis['target_recall']:.2f}"
        if basis["false_alarm_rate"] is None
        else f"false alarms {basis['false_alarm_rate']:.2f}",
        site["chosen_on"],
        f"undefined (under two {needed} images)"
        if estimate is None
        else " ".join(
            f"{k}={format_metric(estimate[k])}" for k in ("balanced_accuracy", "recall", "specificity")
        ),
        threshold_to_paste(site["value"], folder),
        views_of(checkpoint),
        f",explain.domain={checkpoint['domain']}" if checkpoint.get("domain") is not None else "",
    )
    found = None if estimate is None else estimate["balanced_accuracy"]
    counts = np.bincount(y, minlength=2)
    if found is not None and found < 0.5 + np.sqrt(0.25 / counts[0] + 0.25 / counts[1]):
        # Within two standard errors of a constant call's 0.5 on so many labels: the line above recommended a
        # threshold its own estimate showed useless (0.505, specificity 0.02, on 200 SDNET walls).
        logger.warning(
            "evaluate_folder: the recalibrated threshold does no better than calling every image one class "
            "(within two standard errors) on the labels it was not chosen on (cross-fitted "
            "balanced_accuracy=%s specificity=%s): the model does not tell this site's cracks from its clean "
            "images well enough for it; fine-tune it on the labels instead (init_from: champion, README "
            "'Keep what the model knew')",
            format_metric(estimate["balanced_accuracy"]),
            format_metric(estimate["specificity"]),
        )
    return site


def labelling_table(
    data: ListedImages,
    probability: np.ndarray,
    features: np.ndarray,
    unlabelled: np.ndarray,
    threshold: float,
    order: str = "uncertain",
) -> pd.DataFrame:
    """The unlabelled images, best to label first (`order`: `labelling_order_for`'s; typical: the typical
    images of `TYPICAL` clusters first): rank, file, crack_probability, uncertainty."""
    ranked = np.flatnonzero(unlabelled)
    if len(ranked):
        typical = TYPICAL if order == "typical" else 0
        ranked = ranked[labelling_order(probability[ranked], features[ranked], threshold, typical=typical)]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1),
            "file": [data.paths[i] for i in ranked],
            "crack_probability": probability[ranked],
            "uncertainty": uncertainty(probability[ranked], threshold),
        }
    )


def plot_label_next(data: ListedImages, table: pd.DataFrame, name: str, order: str = "uncertain") -> Figure:
    pictures = data.pictures(table.file)
    shown = table[table.file.isin(pictures)]  # a file changed since it was scored is not shown
    # Named as label_these_next.csv names it, its folder too: cameras number each card's photos from
    # IMG_0001 again, and by its file name alone day1/'s and day2/'s read the same.
    captions = [f"#{r.rank}: {r.file}\np(crack) {r.crack_probability:.3f}" for r in shown.itertuples()]
    return grid(
        [pictures[f] for f in shown.file],
        captions,
        f"{name}: label these next ({order} and unlike each other first)",
    )
