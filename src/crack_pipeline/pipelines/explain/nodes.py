"""Nodes of the `explain` pipeline: why does the model say crack?"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.vision.explaining import explain_images, quality_lines
from crack_pipeline.vision.folder import Folder
from crack_pipeline.vision.image_io import ImageLimits, decode_image
from crack_pipeline.vision.models import get_spec
from crack_pipeline.vision.photos import TilingConfig
from crack_pipeline.vision.scanning import OK, scan_folder, summary_lines


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


def images_to_explain(
    raw_images: Folder,
    split_manifest: pd.DataFrame,
    explain_input: Folder | None,
    explain: dict,
    ingest: dict,
) -> tuple[Folder, list[tuple[str, str | None]]]:
    """`explain.input_dir` validated like ingest (labels where folder names give them), else the split."""
    if explain_input is None:
        rows = split_manifest[split_manifest.split == explain["split"]].sort_values("path")
        return raw_images, list(zip(rows.path, rows.label, strict=True))
    scan = scan_folder(
        explain_input,
        ingest["label_aliases"],
        ImageLimits(min_side=ingest["min_side"], max_pixels=ingest["max_pixels"]),
        workers=ingest.get("workers"),
        require_labels=False,
    )
    print("\n".join(summary_lines(scan.index)).replace("ingest:", "explain input:", 1), flush=True)
    kept = scan.index[scan.index.status == OK]
    return explain_input, [(path, label or None) for path, label in zip(kept.path, kept.label, strict=True)]


def explain_split(
    checkpoint: dict[str, Any],
    raw_images: Folder,
    split_manifest: pd.DataFrame,
    explain_input: Folder | None,
    explain_masks: Folder | None,
    champion_decision: dict[str, Any],
    explain: dict[str, Any],
    tiling: dict[str, Any],
    ingest: dict[str, Any],
) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Heatmaps, overlays, panels, grids and the HTML gallery for `explain.input_dir` (any folder of
    photos, labelled or not, validated like ingest) or, by default, the images of `explain.split`.

    Args:
        checkpoint: the model to explain (the champion, or `explain.model`).
        champion_decision: the evaluation's decision; explaining follows it, and records it.
        explain: `params:explain` — split, methods, target, max_images, batch_size.
        tiling: `params:tiling` — how images larger than a tile are cut, aggregated and boxed.
        ingest: `params:ingest` — label aliases and image limits, for `explain.input_dir`.
    Returns:
        The files of the explanation folder, the predictions table, the crack regions (boxes) and the
        quality report.
    """
    # The layer is an explanation setting, not a training one: the registry holds the one measured to
    # localise cracks best (bench/cam_layers.py), older checkpoints included; explain.cam_layer overrides.
    layer = explain.get("cam_layer") or get_spec(checkpoint["architecture"]).cam_layer
    checkpoint = {**checkpoint, "cam_layer": layer}
    tiles = TilingConfig.from_dict(tiling).at_scale_of(checkpoint)
    print(
        f"explain: model {checkpoint['variant']}, CAM layer {layer}, tiles of {tiles.tile_size} px",
        flush=True,
    )
    folder, items = images_to_explain(raw_images, split_manifest, explain_input, explain, ingest)
    if explain.get("max_images") and len(items) > int(explain["max_images"]):
        # Evenly spaced through the sorted list, so a sample spans every class folder.
        picks = np.linspace(0, len(items) - 1, int(explain["max_images"])).round().astype(int)
        items = [items[i] for i in picks]
    result = explain_images(
        checkpoint,
        folder.root,
        items,
        explain["methods"],
        target=explain.get("target", "predicted"),
        masks=match_masks(explain_masks, [path for path, _ in items]),
        batch_size=explain.get("batch_size", 32),
        tiling=tiles,
    )
    if items and len(result.skipped) == len(items):
        raise ValueError(
            f"explain: none of the {len(items)} images could be read from "
            f"{folder.root} (first: {next(iter(result.skipped.items()))}): "
            f"is the split from another data set?"
        )
    lines = quality_lines(result.quality)
    lines += [f"explain: skipped {path} ({reason})" for path, reason in result.skipped.items()]
    print("\n".join(lines), flush=True)
    quality = {
        "input": str(folder.root),
        "model": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "cam_layer": layer,
        "tiling": {**tiling, "tile_size": tiles.tile_size},
        "champion_decision": champion_decision,
        "split": None if explain_input is not None else explain["split"],
        "methods": result.quality,
        "skipped": result.skipped,
    }
    return result.files, result.predictions, result.boxes, quality
