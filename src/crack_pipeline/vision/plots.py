"""Figures of training and evaluation."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure


def plot_training_history(history: list[dict[str, float]], title: str) -> Figure:
    """Loss and accuracy per epoch, train against validation."""
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        for split in ("train", "val"):
            axis.plot(epochs, [row[f"{split}_{metric}"] for row in history], marker="o", label=split)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"{title}: training history")
    return figure


def plot_confusion_matrix(metrics: dict[str, float], title: str) -> Figure:
    figure = Figure(figsize=(4.2, 3.8), layout="constrained")
    axis = figure.subplots()
    counts = [[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]]
    axis.imshow(counts, cmap="Blues")
    for row in range(2):
        for column in range(2):
            axis.text(column, row, str(counts[row][column]), ha="center", va="center", fontsize=14)
    axis.set_xticks([0, 1], ["no_crack", "crack"])
    axis.set_yticks([0, 1], ["no_crack", "crack"])
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{title}\nthreshold {metrics['threshold']:.3f}")
    return figure


def plot_roc_pr(y_true, probability, title: str) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    figure = Figure(figsize=(9, 3.8), layout="constrained")
    roc_axis, pr_axis = figure.subplots(1, 2)
    fpr, tpr, _ = roc_curve(y_true, probability)
    roc_axis.plot(fpr, tpr, label=f"AUC {roc_auc_score(y_true, probability):.4f}")
    roc_axis.plot([0, 1], [0, 1], "--", color="grey")
    roc_axis.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC")
    precision, recall, _ = precision_recall_curve(y_true, probability)
    pr_axis.plot(recall, precision, label=f"AP {average_precision_score(y_true, probability):.4f}")
    pr_axis.set(xlabel="recall", ylabel="precision", title="precision-recall")
    for axis in (roc_axis, pr_axis):
        axis.legend(loc="lower left" if axis is pr_axis else "lower right")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def plot_reliability(y_true, probability, title: str, bins: int = 10) -> Figure:
    import numpy as np

    figure = Figure(figsize=(4.5, 4.2), layout="constrained")
    axis = figure.subplots()
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1], right=True), 0, bins - 1)
    centres, observed = [], []
    for b in range(bins):
        members = which == b
        if members.any():
            centres.append(float(np.mean(probability[members])))
            observed.append(float(np.mean(np.asarray(y_true)[members])))
    axis.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    axis.plot(centres, observed, marker="o", label="model")
    axis.set(
        xlabel="predicted crack probability", ylabel="observed share of cracks", title=f"{title}: reliability"
    )
    axis.legend()
    axis.grid(alpha=0.3)
    return figure


def plot_mistakes(images, rows: list[dict], title: str) -> Figure:
    """The most confident mistakes: each image titled with its file, true label and crack probability.

    `images` maps a row's `file` to an HxWx3 uint8 array.
    """
    import math

    shown = max(len(rows), 1)
    columns = min(4, shown)
    figure = Figure(figsize=(3 * columns, 3.2 * math.ceil(shown / columns)), layout="constrained")
    axes = figure.subplots(math.ceil(shown / columns), columns, squeeze=False).ravel()
    for axis in axes:
        axis.axis("off")
    if not rows:
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14)
    for axis, row in zip(axes, rows, strict=False):
        axis.imshow(images[row["file"]])
        axis.set_title(
            f"{row['file'].rsplit('/', 1)[-1]}\ntrue {row['true_label']}, "
            f"p(crack) {row['crack_probability']:.3f}",
            fontsize=8,
        )
    figure.suptitle(f"{title}: most confident mistakes")
    return figure
