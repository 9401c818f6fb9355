"""Evaluating a trained checkpoint on labelled images: probabilities, metrics, predictions, figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from crack_pipeline.vision import plots
from crack_pipeline.vision.inference import inference_model
from crack_pipeline.vision.labels import CLASS_NAMES
from crack_pipeline.vision.metrics import binary_metrics, threshold_for_recall
from crack_pipeline.vision.precision import Precision
from crack_pipeline.vision.tensor_cache import ImageTensors
from crack_pipeline.vision.training import predict_logits


def crack_probabilities(
    checkpoint: dict[str, Any], data: ImageTensors, precision: str = "auto"
) -> np.ndarray:
    """p(crack) for every image, with the checkpoint's own normalisation, in eval mode."""
    model = inference_model(checkpoint, Precision.resolve(precision))
    logits = predict_logits(
        model, data.images, checkpoint["mean"], checkpoint["std"], Precision.resolve(precision)
    )
    return torch.softmax(logits, dim=1)[:, CLASS_NAMES.index("crack")].numpy().astype(float)


def predictions_table(data: ImageTensors, probability: np.ndarray, threshold: float) -> pd.DataFrame:
    """file, true_label, crack_probability, predicted_label, correct (at `threshold`)."""
    true = [CLASS_NAMES[i] for i in data.labels.tolist()]
    predicted = ["crack" if p >= threshold else "no_crack" for p in probability]
    return pd.DataFrame(
        {
            "file": data.paths,
            "true_label": true,
            "crack_probability": probability,
            "predicted_label": predicted,
            "correct": [t == p for t, p in zip(true, predicted, strict=True)],
        }
    )


@dataclass
class Evaluation:
    metrics: dict[str, Any]  # {"at_half": {...}, "at_target_recall": {...}, ...}
    predictions: pd.DataFrame
    figures: dict[str, Figure]  # by file name, e.g. "roc_pr.png"


def evaluate_probabilities(
    name: str,
    data: ImageTensors,
    probability: np.ndarray,
    threshold: float,
    mistakes: int = 12,
) -> Evaluation:
    """Metrics at 0.5 and at `threshold`, the predictions table and the figures, for one labelled set."""
    y = data.labels.numpy()
    metrics = {
        "at_half": binary_metrics(y, probability, 0.5),
        "at_threshold": binary_metrics(y, probability, threshold),
    }
    table = predictions_table(data, probability, 0.5)
    wrong = table[~table.correct].assign(confidence=lambda f: (f.crack_probability - 0.5).abs())
    worst = wrong.sort_values("confidence", ascending=False).head(mistakes)
    index = {path: i for i, path in enumerate(data.paths)}
    images = {f: data.images[index[f]].permute(1, 2, 0).numpy() for f in worst.file}
    figures = {
        "confusion_matrix.png": plots.plot_confusion_matrix(metrics["at_half"], name),
        "confusion_matrix_at_threshold.png": plots.plot_confusion_matrix(metrics["at_threshold"], name),
        "roc_pr.png": plots.plot_roc_pr(y, probability, name),
        "reliability.png": plots.plot_reliability(y, probability, name),
        "confident_mistakes.png": plots.plot_mistakes(images, worst.to_dict("records"), name),
    }
    return Evaluation(metrics=metrics, predictions=table, figures=figures)


def evaluate_checkpoint(
    checkpoint: dict[str, Any], val: ImageTensors, test: ImageTensors, target_recall: float
) -> Evaluation:
    """Choose the threshold that reaches `target_recall` on validation, then report test at 0.5 and at it."""
    threshold = threshold_for_recall(val.labels.numpy(), crack_probabilities(checkpoint, val), target_recall)
    result = evaluate_probabilities(
        checkpoint["variant"], test, crack_probabilities(checkpoint, test), threshold
    )
    result.metrics = {
        "variant": checkpoint["variant"],
        "split": "test",
        "split_fingerprint": checkpoint["split_fingerprint"],
        "target_recall": target_recall,
        "threshold_at_target_recall": threshold,
        "at_half": result.metrics["at_half"],
        "at_target_recall": result.metrics["at_threshold"],
    }
    return result
