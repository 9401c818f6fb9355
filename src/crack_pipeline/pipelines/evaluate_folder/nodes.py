"""Nodes of the `evaluate_folder` pipeline: a trained model on any labelled folder, no retraining."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.data.tensor_cache import decode_listed
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities, evaluate_probabilities
from crack_pipeline.vision.evaluation.metrics import format_metric
from crack_pipeline.vision.explain.photos import classify_photos
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import decision_threshold, describe_threshold
from crack_pipeline.vision.settings import settings_from

logger = logging.getLogger(__name__)


def evaluate_folder(
    image_index: pd.DataFrame,
    checkpoint: dict[str, Any],
    evaluate_folder: dict[str, Any],
    tiling: dict[str, Any],
) -> tuple[dict, pd.DataFrame, dict[str, Figure]]:
    """Metrics, predictions and plots of `checkpoint` on the kept images of a validated folder.

    An image of at most one tile (`params:tiling`) is resized to the size the model was trained at; a
    larger one is tiled at the training scale and its p(crack) aggregated from its tiles'. An image is
    called cracked from the model's decision threshold on (`evaluate_folder.threshold` overrides it).
    Logs one summary line.
    """
    kept = image_index[image_index.status == OK]
    data = decode_listed(kept, checkpoint["input_size"])
    probability = checkpoint_probabilities(checkpoint, data)
    config = settings_from(TilingConfig, tiling, "tiling").at_scale_of(checkpoint)
    large = kept[(kept.width > config.tile_size) | (kept.height > config.tile_size)]
    row = {path: i for i, path in enumerate(data.paths)}
    large = large[large.path.isin(row)]
    # Read once more whole (the tensors above hold them squashed, for the figures of mistakes).
    refs = [ImageRef(path, Path(root) / path) for path, root in zip(large.path, large.root, strict=True)]
    tiled, tiles = classify_photos(checkpoint, refs, config)
    for path, p in tiled.items():
        probability[row[path]] = p
    threshold = decision_threshold(checkpoint, evaluate_folder.get("threshold"), "evaluate_folder.threshold")
    result = evaluate_probabilities(checkpoint["variant"], data, probability, threshold["value"])
    result.predictions["tiles"] = [tiles.get(path, 1) for path in result.predictions.file]
    m = result.metrics["at_threshold"]
    metrics = {
        "folder": str(kept.root.iloc[0]) if len(kept) else None,
        "variant": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "checkpoint_id": checkpoint["checkpoint_id"],
        "input_size": checkpoint["input_size"],
        "threshold": threshold,
        "skipped_files": int((image_index.status != OK).sum()) + len(data.skipped),
        "tiled_images": len(tiled),
        "tiling": {**tiling, "tile_size": config.tile_size},
        "at_threshold": m,
        "at_half": result.metrics["at_half"],
    }
    logger.info(
        "evaluate_folder: model %s (version %s) at %d px, %s",
        checkpoint["variant"],
        checkpoint.get("model_version"),
        checkpoint["input_size"],
        describe_threshold(threshold),
    )
    logger.info(
        "evaluate_folder: n=%d accuracy=%.4f recall=%.4f precision=%.4f f1=%.4f roc_auc=%s tiled=%d",
        m["n"],
        m["accuracy"],
        m["recall"],
        m["precision"],
        m["f1"],
        format_metric(m["roc_auc"]),
        len(tiled),
    )
    return metrics, result.predictions, result.figures
