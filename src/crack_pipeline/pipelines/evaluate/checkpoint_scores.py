"""A checkpoint scored on the test split: at its own decision threshold (chosen on validation where it
records none) and at its own input size, the split decoded again from disk where the cache has another."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.pipelines.split.nodes import require_roots
from crack_pipeline.vision.data.listed_images import ListedImages
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_splits
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities, evaluate_probabilities
from crack_pipeline.vision.evaluation.metrics import threshold_on_validation
from crack_pipeline.vision.models.checkpoint import domain_threshold_values

logger = logging.getLogger(__name__)


def model_threshold(
    checkpoint: dict[str, Any], val: ImageTensors, target_recall: float, device: str = "cpu"
) -> dict[str, Any]:
    """The decision threshold the checkpoint records; for a checkpoint from before thresholds were recorded,
    the one chosen on `val` for `target_recall`, as training now does."""
    if "threshold" in checkpoint:
        return checkpoint["threshold"]
    return threshold_on_validation(
        val.labels.numpy(), checkpoint_probabilities(checkpoint, val, device=device), target_recall
    )


def evaluate_checkpoint(
    checkpoint: dict[str, Any],
    split_tensors: dict[str, ImageTensors],
    target_recall: float,
    device: str,
    split_manifest: pd.DataFrame | None = None,
    figures: bool = True,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Figure]]:
    """Test-split metrics at the model's decision threshold and at 0.5, predictions and figures (none
    without `figures`); the model runs on `device`. With `split_manifest`, the figures show the photos read
    again from its files at their own aspect (the cache squashed a non-square photo into a square), one
    missing or changed left out."""
    if "test" not in split_tensors:
        raise InputError(
            "the split manifest has no test images (made with split.ratios.test: 0): nothing to evaluate "
            "on; split again with a test ratio above 0"
        )
    threshold = model_threshold(checkpoint, split_tensors["val"], target_recall, device)
    test = split_tensors["test"]
    result = evaluate_probabilities(
        checkpoint["variant"],
        test if split_manifest is None else ListedImages.of_split(test, split_manifest),
        checkpoint_probabilities(checkpoint, test, device=device),
        threshold["value"],
        domains=test.domains,
        domain_thresholds=domain_threshold_values(threshold),
        figures=figures,
    )
    metrics = {
        "variant": checkpoint["variant"],
        "checkpoint_id": checkpoint["checkpoint_id"],
        "split": "test",
        "split_fingerprint": checkpoint["split_fingerprint"],
        "threshold": threshold,
        **result.metrics,
    }
    return metrics, result.predictions, result.figures


def at_input_size(
    split_tensors: dict[str, ImageTensors], split_manifest: pd.DataFrame, size: int
) -> dict[str, ImageTensors]:
    """The validation and test images at `size`: the decoded split when it has that size, else decoded
    again from disk (a model is always scored at the size it was trained at)."""
    if split_tensors["test"].images.shape[-1] == size:
        return split_tensors
    logger.info("evaluate: decoding the validation and test images again at %d px for the champion", size)
    manifest = require_roots(split_manifest)
    return decode_splits(manifest[manifest.split.isin(["val", "test"])], size)
