"""Nodes of the `train` pipeline: decode the split once, then fine-tune each model variant."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure

from crack_pipeline.provenance import data_fingerprint, git_commit, split_fingerprint
from crack_pipeline.vision.checkpoint import make_checkpoint
from crack_pipeline.vision.folder import Folder
from crack_pipeline.vision.labels import CLASS_NAMES
from crack_pipeline.vision.models import create_model, get_spec
from crack_pipeline.vision.plots import plot_training_history
from crack_pipeline.vision.precision import Precision
from crack_pipeline.vision.tensor_cache import ImageTensors, build_tensors, check_matches, with_synthetic
from crack_pipeline.vision.training import TrainConfig, evaluate, fit

logger = logging.getLogger(__name__)


def build_split_tensors(raw_images: Folder, split_manifest: pd.DataFrame, train: dict[str, Any]) -> dict:
    """Decode every image of the split once, resized to `train.image_size`, as uint8 tensors.

    Returns:
        {"train" | "val" | "test": ImageTensors}, reused by every epoch of every variant.
    """
    started = time.perf_counter()
    labels = [CLASS_NAMES.index(label) for label in split_manifest.label]
    every = build_tensors(
        raw_images.root,
        split_manifest.path.tolist(),
        labels,
        train["image_size"],
        workers=train.get("workers"),
    )
    for path, reason in every.skipped.items():
        logger.warning("train: skipped %s (%s): it no longer decodes as it did at ingest", path, reason)
    tensors = {split: every.subset(rows.path) for split, rows in split_manifest.groupby("split")}
    logger.info(
        "train: decoded %s images at %d px in %.1f s",
        {k: len(v) for k, v in tensors.items()},
        train["image_size"],
        time.perf_counter() - started,
    )
    return tensors


def training_patch_side(image_index: pd.DataFrame, split_manifest: pd.DataFrame) -> int | None:
    """The median longer side, in pixels on disk, of the training split's images: the scale at which whole
    photos are tiled for this model (`tiling.tile_size: null`)."""
    train_paths = set(split_manifest.path[split_manifest.split == "train"])
    rows = image_index[image_index.path.isin(train_paths)]
    return int(rows[["width", "height"]].max(axis=1).median()) if len(rows) else None


def train_variant(
    split_tensors: dict[str, ImageTensors],
    split_manifest: pd.DataFrame,
    image_index: pd.DataFrame,
    variant: dict[str, Any],
    train: dict[str, Any],
    name: str,
) -> tuple[dict, list[dict], Figure]:
    """Fine-tune one model variant with early stopping.

    Args:
        split_tensors: the decoded split (`build_split_tensors`).
        split_manifest: the split, for the data and split fingerprints recorded in the checkpoint.
        image_index: the ingest index, for the training images' size on disk (`patch_side`).
        variant: `params:train.models.<name>` — architecture, pretrained, weights_path, training overrides.
        train: `params:train` — the shared `defaults` and the `resume_dir` for per-epoch checkpoints.
        name: the variant's name (its namespace).
    Returns:
        The self-describing checkpoint, the per-epoch history and its plot.
    """
    check_matches(
        split_tensors, {split: rows.path.tolist() for split, rows in split_manifest.groupby("split")}
    )
    settings = {**train["defaults"], **variant.get("training", {})}
    settings["augment"] = {
        **train["defaults"].get("augment", {}),
        **variant.get("training", {}).get("augment", {}),
    }
    config = TrainConfig.from_dict(settings)
    spec = get_spec(variant["architecture"])
    torch.manual_seed(config.seed)  # the head's initial weights
    model = create_model(
        spec.name,
        num_classes=len(CLASS_NAMES),
        pretrained=variant.get("pretrained", False),
        weights_path=variant.get("weights_path"),
    )
    resume_path = Path(train["resume_dir"]) / f"{name}.pt" if train.get("resume_dir") else None
    mix = int(train.get("mix_synthetic") or 0)
    training_set = with_synthetic(split_tensors["train"], mix, config.seed)
    if mix:
        logger.info("train: %d synthetic patches per class mixed into the training split", mix)
    result = fit(model, spec, training_set, split_tensors["val"], config, resume_path=resume_path)
    test = split_tensors.get("test")
    test_metrics = {}
    if test is not None and len(test):
        metrics = evaluate(result.model, test, spec, Precision(result.precision), torch.nn.CrossEntropyLoss())
        test_metrics = {f"test_{k}": v for k, v in metrics.items()}
    logger.info("train: %s best epoch %d %s %s", name, result.best_epoch, result.best_metrics, test_metrics)
    checkpoint = make_checkpoint(
        result.model,
        variant=name,
        architecture=spec.name,
        input_size=split_tensors["train"].images.shape[-1],
        train_config={
            **settings,
            "pretrained": bool(variant.get("pretrained", False)),
            "image_size": train["image_size"],
            "mix_synthetic": int(train.get("mix_synthetic") or 0),
        },
        patch_side=training_patch_side(image_index, split_manifest),
        data_fingerprint=data_fingerprint(split_manifest),
        split_fingerprint=split_fingerprint(split_manifest),
        git_commit=git_commit(),
        best_epoch=result.best_epoch,
        best_metrics=result.best_metrics,
        test_metrics=test_metrics,
        precision=result.precision,
        train_seconds=result.train_seconds,
        train_images_per_second=result.train_images_per_second,
    )
    return checkpoint, result.history, plot_training_history(result.history, name)
