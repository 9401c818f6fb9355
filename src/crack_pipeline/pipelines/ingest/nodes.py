"""Nodes of the `ingest` pipeline: validate a folder of labelled images and describe it."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.data import eda
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.scanning import OK, scan_folder, summary_lines
from crack_pipeline.vision.errors import InputError

logger = logging.getLogger(__name__)


def scan_images(raw_images: Folder, ingest: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode, validate, hash and label every file of the source folder.

    Args:
        raw_images: the source folder (`data.source_dir`, or the synthetic images).
        ingest: `params:ingest` — label_aliases, min_side, max_pixels, group_pattern, workers,
            histogram_images.
    Returns:
        The image index (one row per file; skipped files keep their row with the reason) and the
        per-class RGB pixel histograms of the kept images (long format: label, channel, value, count).
    """
    result = scan_folder(
        raw_images,
        aliases=ingest["label_aliases"],
        limits=ImageLimits(min_side=ingest["min_side"], max_pixels=ingest["max_pixels"]),
        group_pattern=ingest.get("group_pattern"),
        workers=ingest.get("workers"),
        histogram_images=ingest.get("histogram_images", 500),
    )
    for line in summary_lines(result.index):
        logger.info(line)
    if not (result.index.status == OK).any():
        raise InputError(f"no usable image in {raw_images.root}: " + " ".join(summary_lines(result.index)))
    return result.index, eda.histograms_to_frame(result.histograms)


def describe_images(image_index: pd.DataFrame, pixel_histograms: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """EDA tables of the kept images: class counts, image-size distribution, per-class channel statistics."""
    kept = image_index[image_index.status == OK]
    class_counts = eda.class_counts(image_index)
    sizes = kept.groupby(["label", "width", "height"]).size().rename("images").reset_index()
    return class_counts, sizes, eda.channel_statistics(pixel_histograms)


def plot_intensity_histograms(pixel_histograms: pd.DataFrame) -> Figure:
    """Per-class intensity histograms, one panel per RGB channel."""
    return eda.plot_histograms(pixel_histograms)


def plot_sample_grid(raw_images: Folder, image_index: pd.DataFrame, ingest: dict[str, Any]) -> Figure:
    """A labelled grid of `ingest.sample_grid_size` kept images, drawn at random with a fixed seed."""
    kept = image_index[image_index.status == OK]
    count = min(int(ingest.get("sample_grid_size", 16)), len(kept))
    picks = kept.iloc[np.random.default_rng(0).choice(len(kept), size=count, replace=False)]
    return eda.plot_sample_grid(raw_images, picks.path.tolist(), picks.label.tolist())
