"""Nodes of the `evaluate_folder` pipeline: a trained model on any labelled folder, no retraining."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.evaluation import crack_probabilities, evaluate_probabilities
from crack_pipeline.vision.folder import Folder
from crack_pipeline.vision.labels import CLASS_NAMES
from crack_pipeline.vision.photos import TilingConfig, classify_photos
from crack_pipeline.vision.scanning import OK
from crack_pipeline.vision.tensor_cache import build_tensors


def evaluate_folder(
    images: Folder,
    image_index: pd.DataFrame,
    checkpoint: dict[str, Any],
    evaluate_folder: dict[str, Any],
    tiling: dict[str, Any],
) -> tuple[dict, pd.DataFrame, dict[str, Figure]]:
    """Metrics, predictions and plots of `checkpoint` on the kept images of a validated folder.

    An image of at most one tile (`params:tiling`) is resized to the size the model was trained at; a
    larger one is tiled at the training scale and its p(crack) aggregated from its tiles'. Prints one
    summary line.
    """
    kept = image_index[image_index.status == OK]
    labels = [CLASS_NAMES.index(label) for label in kept.label]
    data = build_tensors(images.root, kept.path.tolist(), labels, checkpoint["input_size"])
    probability = crack_probabilities(checkpoint, data)
    config = TilingConfig.from_dict(tiling).at_scale_of(checkpoint)
    large = kept[(kept.width > config.tile_size) | (kept.height > config.tile_size)].path
    row = {path: i for i, path in enumerate(data.paths)}
    # Read once more whole (the tensors above hold them squashed, for the figures of mistakes).
    tiled, tiles = classify_photos(checkpoint, images.root, [p for p in large if p in row], config)
    for path, p in tiled.items():
        probability[row[path]] = p
    threshold = float(evaluate_folder.get("threshold", 0.5))
    result = evaluate_probabilities(checkpoint["variant"], data, probability, threshold)
    result.predictions["tiles"] = [tiles.get(path, 1) for path in result.predictions.file]
    m = result.metrics["at_threshold"]
    metrics = {
        "folder": str(images.root),
        "variant": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "checkpoint_id": checkpoint["checkpoint_id"],
        "skipped_files": int((image_index.status != OK).sum()) + len(data.skipped),
        "tiled_images": len(tiled),
        "tiling": tiling,
        "at_threshold": m,
        "at_half": result.metrics["at_half"],
    }
    print(
        f"evaluate_folder: n={m['n']} accuracy={m['accuracy']:.4f} recall={m['recall']:.4f} "
        f"precision={m['precision']:.4f} f1={m['f1']:.4f} roc_auc={m['roc_auc']:.4f} tiled={len(tiled)}",
        flush=True,
    )
    return metrics, result.predictions, result.figures
