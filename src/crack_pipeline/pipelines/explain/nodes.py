"""Nodes of the `explain` pipeline: why does the model say crack?"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.vision.explaining import explain_images, quality_lines
from crack_pipeline.vision.folder import Folder
from crack_pipeline.vision.image_io import decode_image


def match_masks(masks: Folder | None, paths: list[str]) -> dict[str, np.ndarray]:
    """Crack masks for `paths`: the mask at the same relative path, else the one with the same file stem."""
    if masks is None:
        return {}
    by_path = {str(PurePosixPath(f).with_suffix("")): f for f in masks.files}
    by_stem = {PurePosixPath(f).stem: f for f in masks.files}
    found = {}
    for path in paths:
        name = by_path.get(str(PurePosixPath(path).with_suffix(""))) or by_stem.get(PurePosixPath(path).stem)
        if name is not None:
            found[path] = decode_image(masks.path_of(name).read_bytes()).pixels.max(axis=2) > 127
    return found


def explain_split(
    checkpoint: dict[str, Any],
    raw_images: Folder,
    split_manifest: pd.DataFrame,
    explain_masks: Folder | None,
    champion_decision: dict[str, Any],
    explain: dict[str, Any],
) -> tuple[dict[str, bytes], pd.DataFrame, dict[str, Any]]:
    """Heatmaps, overlays, panels, grids and the HTML gallery for the images of `explain.split`.

    Args:
        checkpoint: the model to explain (the champion, or `explain.model`).
        champion_decision: the evaluation's decision; explaining follows it, and records it.
        explain: `params:explain` — split, methods, target, max_images, batch_size.
    Returns:
        The files of the explanation folder, the predictions table, and the quality report.
    """
    rows = split_manifest[split_manifest.split == explain["split"]].sort_values("path")
    if explain.get("max_images"):
        rows = rows.head(int(explain["max_images"]))
    items = list(zip(rows.path, rows.label, strict=True))
    result = explain_images(
        checkpoint,
        raw_images.root,
        items,
        explain["methods"],
        target=explain.get("target", "predicted"),
        masks=match_masks(explain_masks, rows.path.tolist()),
        batch_size=explain.get("batch_size", 32),
    )
    if items and len(result.skipped) == len(items):
        raise ValueError(
            f"explain: none of the {len(items)} images of the {explain['split']!r} split could be read from "
            f"{raw_images.root} (first: {next(iter(result.skipped.items()))}): "
            f"is the split from another data set?"
        )
    lines = quality_lines(result.quality) or ["explain: no crack masks matched: quality not measured"]
    lines += [f"explain: skipped {path} ({reason})" for path, reason in result.skipped.items()]
    print("\n".join(lines), flush=True)
    quality = {
        "model": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "champion_decision": champion_decision,
        "split": explain["split"],
        "methods": result.quality,
        "skipped": result.skipped,
    }
    return result.files, result.predictions, quality
