"""Figures of training and evaluation: scikit-learn's displays drawn on matplotlib `Figure`s (no pyplot
state, no backend chosen here)."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.evaluation.calibration import BINS, expected_calibration_error
from crack_pipeline.vision.figures import grid
from crack_pipeline.vision.models.checkpoint import threshold_text


def plot_training_history(history: list[dict[str, float]], title: str) -> Figure:
    """Loss and accuracy per epoch, train against validation (a head stage, epoch 0, has no train figures);
    a history with neither (patch_memory's one pass that fills its memory bank) as its last row's figures
    in words: drawn, it was two empty charts whose axes ran from -0.04 to 0.04."""
    curves = [f"{split}_{metric}" for split in ("train", "val") for metric in ("loss", "accuracy")]
    if not any(name in row for row in history for name in curves):
        figures = ", ".join(f"{name} {value:.4g}" for name, value in (history or [{}])[-1].items())
        return plot_note(
            f"no loss or accuracy by epoch to draw; {figures or 'no epoch recorded'}",
            f"{title}: training history",
        )
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        for split in ("train", "val"):
            values = [row.get(f"{split}_{metric}", float("nan")) for row in history]
            axis.plot(epochs, values, marker="o", label=split)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"{title}: training history")
    return figure


def plot_confusion_matrix(metrics: dict[str, float], title: str) -> Figure:
    """The counts of `binary_metrics` at its threshold."""
    figure = Figure(figsize=(4.2, 3.8), layout="constrained")
    axis = figure.subplots()
    counts = np.array([[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]])
    ConfusionMatrixDisplay(counts, display_labels=list(CLASS_NAMES)).plot(
        ax=axis, cmap="Blues", colorbar=False
    )
    threshold = "each domain's" if metrics["threshold"] is None else threshold_text(metrics["threshold"])
    axis.set(xlabel="predicted", ylabel="true", title=f"{title}\nthreshold {threshold}")
    return figure


def plot_roc_pr(y_true, probability, title: str) -> Figure:
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    roc_axis, pr_axis = figure.subplots(1, 2)
    RocCurveDisplay.from_predictions(y_true, probability, ax=roc_axis, name=title, plot_chance_level=True)
    PrecisionRecallDisplay.from_predictions(y_true, probability, ax=pr_axis, name=title)
    roc_axis.set_title("ROC")
    pr_axis.set_title("precision-recall")
    for axis in (roc_axis, pr_axis):
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def plot_reliability(y_true, probability, title: str) -> Figure:
    """The reliability diagram over the bins the expected calibration error is computed on."""
    figure = Figure(figsize=(4.5, 4.2), layout="constrained")
    axis = figure.subplots()
    CalibrationDisplay.from_predictions(y_true, probability, n_bins=BINS, ax=axis, name=title)
    error = expected_calibration_error(y_true, probability)
    axis.set(xlabel="predicted crack probability", ylabel="observed share of cracks")
    axis.set_title(f"{title}: reliability (ECE {error:.3f}, {BINS} bins)")
    axis.grid(alpha=0.3)
    return figure


def plot_mistakes(images, rows: list[dict], title: str) -> Figure:
    """The most confident mistakes: each image titled with its file, true label and crack probability.

    `images` maps a row's `file` to an HxWx3 uint8 array.
    """
    if not rows:
        return plot_note("no mistakes", f"{title}: most confident mistakes")
    # Named with their folder, as the tables name them: by file name alone day1/IMG_0001.jpg and
    # day2/IMG_0001.jpg read the same.
    captions = [
        f"{row['file']}\ntrue {row['true_label']}, p(crack) {row['crack_probability']:.3f}" for row in rows
    ]
    pictures = [images[row["file"]] for row in rows]
    return grid(pictures, captions, f"{title}: most confident mistakes", columns=min(4, len(rows)))


def plot_note(text: str, title: str) -> Figure:
    """A figure that says in words why there is nothing to draw."""
    lines = textwrap.wrap(text, 70)
    figure = Figure(figsize=(3 if len(text) <= 30 else 6.5, 1.2 + 0.3 * len(lines)))
    figure.text(0.5, 0.45, "\n".join(lines), ha="center", va="center", fontsize=14 if len(lines) == 1 else 11)
    figure.suptitle(title)
    return figure
