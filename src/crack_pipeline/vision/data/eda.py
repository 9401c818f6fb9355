"""Exploratory statistics and figures of an image collection."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.data.sheet_pictures import sheet_picture_of
from crack_pipeline.vision.figures import grid

CHANNELS = ("red", "green", "blue")


def histograms_to_frame(histograms: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """{label: 3x256 counts} -> long table with columns label, channel, value, count."""
    rows = [
        {"label": label, "channel": CHANNELS[c], "value": v, "count": int(counts[c, v])}
        for label, counts in sorted(histograms.items())
        for c in range(3)
        for v in range(256)
    ]
    return pd.DataFrame(rows, columns=["label", "channel", "value", "count"])


def class_counts(image_index: pd.DataFrame) -> pd.DataFrame:
    """Files per label and status (kept files have status "ok")."""
    return image_index.groupby(["label", "status"]).size().rename("files").reset_index()


def channel_statistics(histograms: pd.DataFrame) -> pd.DataFrame:
    """Per-class, per-channel mean, standard deviation (0-255 scale) and sampled pixel count."""
    rows = []
    for (label, channel), part in histograms.groupby(["label", "channel"], sort=True):
        counts, values = part["count"].to_numpy(np.float64), part["value"].to_numpy(np.float64)
        total = counts.sum()
        mean = (counts * values).sum() / total
        std = math.sqrt(max((counts * values**2).sum() / total - mean**2, 0.0))
        rows.append({"label": label, "channel": channel, "mean": mean, "std": std, "pixels": int(total)})
    return pd.DataFrame(rows, columns=["label", "channel", "mean", "std", "pixels"])


def plot_histograms(histograms: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(12, 3.5), layout="constrained")
    axes = figure.subplots(1, 3, sharey=True)
    for ax, channel in zip(axes, CHANNELS, strict=True):
        for label, part in histograms[histograms.channel == channel].groupby("label"):
            density = part["count"] / max(part["count"].sum(), 1)
            ax.plot(part["value"], density, label=label)
        ax.set_title(f"{channel} channel")
        ax.set_xlabel("intensity")
    axes[0].set_ylabel("share of pixels")
    axes[0].legend()
    figure.suptitle("Intensity histograms per class")
    return figure


def plot_sample_grid(files: Sequence[Path], names: Sequence[str], labels: Sequence[str]) -> Figure:
    """Images in a square grid (ones ingest kept), each titled with its label and name."""
    pictures = [sheet_picture_of(file.read_bytes()) for file in files]
    captions = [f"{label}\n{name}" for name, label in zip(names, labels, strict=True)]
    return grid(pictures, captions, "Sample images")
