"""Nodes of the `evaluate_folder` pipeline: a trained model on any labelled folder, no retraining."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.evaluation import crack_probabilities, evaluate_probabilities
from crack_pipeline.vision.folder import Folder
from crack_pipeline.vision.labels import CLASS_NAMES
from crack_pipeline.vision.scanning import OK
from crack_pipeline.vision.tensor_cache import build_tensors


def evaluate_folder(
    images: Folder, image_index: pd.DataFrame, checkpoint: dict[str, Any], evaluate_folder: dict[str, Any]
) -> tuple[dict, pd.DataFrame, dict[str, Figure]]:
    """Metrics, predictions and plots of `checkpoint` on the kept images of a validated folder.

    Images are resized to the size the model was trained at. Prints one summary line.
    """
    kept = image_index[image_index.status == OK]
    labels = [CLASS_NAMES.index(label) for label in kept.label]
    data = build_tensors(images.root, kept.path.tolist(), labels, checkpoint["input_size"])
    threshold = float(evaluate_folder.get("threshold", 0.5))
    result = evaluate_probabilities(
        checkpoint["variant"], data, crack_probabilities(checkpoint, data), threshold
    )
    m = result.metrics["at_threshold"]
    metrics = {
        "folder": str(images.root),
        "variant": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "checkpoint_id": checkpoint["checkpoint_id"],
        "skipped_files": int((image_index.status != OK).sum()) + len(data.skipped),
        "at_threshold": m,
        "at_half": result.metrics["at_half"],
    }
    print(
        f"evaluate_folder: n={m['n']} accuracy={m['accuracy']:.4f} recall={m['recall']:.4f} "
        f"precision={m['precision']:.4f} f1={m['f1']:.4f} roc_auc={m['roc_auc']:.4f}",
        flush=True,
    )
    return metrics, result.predictions, result.figures
