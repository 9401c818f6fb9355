"""Explaining a trained model on a set of images: heatmap files, predictions, and measured quality."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from crack_pipeline.vision import localisation, rendering
from crack_pipeline.vision.cam import CamExplainer
from crack_pipeline.vision.inference import fold_batch_norms, inference_model
from crack_pipeline.vision.models import create_model
from crack_pipeline.vision.perturbation import deletion_insertion
from crack_pipeline.vision.photos import (
    DECISION_THRESHOLD,
    PhotoExplanation,
    TiledPhoto,
    TilingConfig,
    explain_photo,
    tile_crack_probabilities,
    tiled_photos,
)
from crack_pipeline.vision.precision import Precision
from crack_pipeline.vision.regions import BOX_FIELDS

BASELINES = ("center", "random", "sobel")


LARGE_PHOTO_PIXELS = 1_000_000  # overlays of larger photos are written as JPEG (a 12-MP PNG is ~20 MB)
GRID_SIDE = 512  # overlays in the grids are thumbnails of at most this side


@dataclass
class ExplainResult:
    files: dict[str, bytes]  # relative path -> content: heatmaps, overlays, panels, grids, gallery
    predictions: pd.DataFrame
    quality: dict[str, Any]  # per method: localisation scores next to the baselines (with masks)
    skipped: dict[str, str] = field(default_factory=dict)
    # crack regions: file, method, box, x0, y0, x1, y1, area, probability, evidence
    boxes: pd.DataFrame = field(default_factory=pd.DataFrame)


def safe_name(index: int, relative: str) -> str:
    """A file name for outputs that cannot leave its folder or confuse a browser, unique by index."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePosixPath(relative).stem)[:60].strip("._") or "image"
    return f"{index:05d}_{stem}"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # float16: a 12-MP photo's map is 24 MB, not 48, and a heatmap needs no more than 3 digits.
    np.save(buffer, array.astype(np.float16))
    return buffer.getvalue()


def _chunks(photos: Iterator[TiledPhoto], tiles_per_chunk: int) -> Iterator[list[TiledPhoto]]:
    """Photos grouped until they hold at least `tiles_per_chunk` tiles: patches are batched together,
    a big photo's tiles among themselves."""
    chunk, tiles = [], 0
    for photo in photos:
        chunk.append(photo)
        tiles += len(photo.grid)
        if tiles >= tiles_per_chunk:
            yield chunk
            chunk, tiles = [], 0
    if chunk:
        yield chunk


def _new_scores() -> dict[str, list]:
    names = ("pointing_game", "energy_in_mask", "iou_top5", "mask_share", "detected")
    baselines = (f"baseline_{b}_{m}" for b in BASELINES for m in ("pointing", "energy"))
    return {name: [] for name in (*names, *baselines)}


@dataclass
class _MethodRecord:
    explainer: CamExplainer
    scores: dict[str, dict[str, list]] = field(
        default_factory=lambda: {"patch": _new_scores(), "photo": _new_scores()}
    )
    overlays: list = field(default_factory=list)
    captions: list = field(default_factory=list)
    small_maps: list = field(default_factory=list)  # the CAMs of the sanity-check tiles
    classes: list = field(default_factory=list)  # the class each of them explains


def explain_images(
    checkpoint: dict[str, Any],
    root: Path,
    items: Sequence[tuple[str, str | None]],
    methods: Sequence[str],
    target: str = "predicted",
    masks: dict[str, np.ndarray] | None = None,
    batch_size: int = 32,
    precision: str = "auto",
    seed: int = 0,
    sanity_images: int = 16,
    tiling: TilingConfig | None = None,
) -> ExplainResult:
    """Heatmaps of every method for `items` (relative path, label or None), at each image's resolution.

    An image larger than a tile (`tiling`) is explained whole at the training scale: its tiles are
    classified, the tiles that may show a crack are explained for the crack class, and their CAMs,
    weighted by p(crack), are blended into one map; its crack regions are boxed. An image of at most
    one tile is a patch: resized to the model's input and explained for `target`.

    With `masks` ({relative path: crack mask}), scores each method's heatmaps on the crack images
    against the centred-Gaussian, random and Sobel baselines, patches and whole photos apart. Always
    runs the model-randomisation sanity check and the deletion/insertion curves on the first
    `sanity_images` tiles explained.
    """
    tiling = (tiling or TilingConfig()).at_scale_of(checkpoint)
    size = checkpoint["input_size"]
    resolved = Precision.resolve(precision)
    classifier = inference_model(checkpoint, resolved)
    records = {
        method: _MethodRecord(
            _explainer(checkpoint, inference_model(checkpoint, resolved), method, target, precision)
        )
        for method in methods
    }
    files: dict[str, bytes] = {}
    rows, gallery, box_rows, skipped, sanity_inputs = [], [], [], {}, []
    rng = np.random.default_rng(seed)
    for chunk in _chunks(tiled_photos(root, items, tiling, size, skipped), batch_size):
        tiles = torch.from_numpy(np.concatenate([photo.tiles for photo in chunk]))
        whole = np.concatenate([np.full(len(photo.grid), photo.scope == "photo") for photo in chunk])
        probabilities = np.full(len(tiles), np.nan)
        if whole.any():
            probabilities[whole] = tile_crack_probabilities(
                classifier, tiles[whole], checkpoint["mean"], checkpoint["std"], resolved, batch_size
            )
        # Tiles of whole photos answer "where are the cracks?"; those that cannot add to the map are skipped.
        selected = np.flatnonzero(~whole | (probabilities >= tiling.cam_min_probability))
        wanted = ["crack" if whole[i] else target for i in selected]
        sanity = selected[: max(0, sanity_images - len(sanity_inputs))]
        sanity_inputs.extend(tiles[sanity])
        for method, record in records.items():
            cams = {}
            for start in range(0, len(selected), batch_size):
                batch = selected[start : start + batch_size]
                result = record.explainer.explain(tiles[batch], wanted[start : start + batch_size])
                for i, probability, heatmap in zip(batch, result.probabilities, result.heatmaps, strict=True):
                    cams[int(i)] = heatmap
                    if not whole[i]:  # a patch's p(crack) comes with its CAM
                        probabilities[i] = probability
            record.small_maps.extend(cams[int(i)] for i in sanity)
            record.classes.extend(
                1 if target == "crack" or whole[i] or probabilities[i] >= 0.5 else 0 for i in sanity
            )
            first = 0
            for photo in chunk:
                own = range(first, first + len(photo.grid))
                first += len(photo.grid)
                explanation = explain_photo(
                    photo.grid, probabilities[own], {i - own.start: cams[i] for i in own if i in cams}, tiling
                )
                row, item = _record_photo(files, record, method, photo, explanation, box_rows)
                rows.append(row)
                gallery.append(item)
                mask = (masks or {}).get(photo.path)
                # A non-empty mask marks a crack image, labelled or not (e.g. a folder of CFD photos).
                if mask is not None and mask.shape == explanation.heatmap.shape and mask.any():
                    scores = record.scores[photo.scope]
                    _score(scores, explanation.heatmap, mask, photo.image, rng)
                    scores["detected"].append(explanation.probability >= DECISION_THRESHOLD)
    inputs = (
        torch.stack(sanity_inputs) if sanity_inputs else torch.empty((0, 3, size, size), dtype=torch.uint8)
    )
    quality = {}
    for method, record in records.items():
        record.explainer.close()
        quality[method] = _method_quality(checkpoint, record, inputs, method, target, precision, seed)
        for count in (9, 16):
            if record.overlays:
                figure = rendering.grid(
                    record.overlays[:count], record.captions[:count], f"{method}: first {count} images"
                )
                files[f"{method}/grid_{count}.png"] = rendering.figure_png(figure)
    files["index.html"] = rendering.gallery_html(gallery, checkpoint["variant"]).encode()
    return ExplainResult(
        files=files,
        predictions=pd.DataFrame(rows),
        quality=quality,
        skipped=skipped,
        boxes=pd.DataFrame(box_rows, columns=["file", "method", "box", *BOX_FIELDS]),
    )


def _record_photo(
    files: dict[str, bytes],
    record: _MethodRecord,
    method: str,
    photo: TiledPhoto,
    explanation: PhotoExplanation,
    box_rows: list[dict],
) -> tuple[dict, dict]:
    """Write one photo's files (heatmap, overlay with boxes, panel; for a whole photo its tile
    probabilities too) and return its predictions row and gallery item."""
    name = f"{method}/{safe_name(photo.index, photo.path)}"
    probability = explanation.probability
    predicted = "crack" if probability >= DECISION_THRESHOLD else "no_crack"
    correct = None if photo.label is None else photo.label == predicted
    height, width = photo.image.shape[:2]
    picture = rendering.draw_boxes(rendering.overlay(photo.image, explanation.heatmap), explanation.boxes)
    overlay_name = f"{name}_overlay.{'jpg' if height * width > LARGE_PHOTO_PIXELS else 'png'}"
    files[f"{name}_heatmap.npy"] = _npy(explanation.heatmap)
    files[overlay_name] = rendering.image_bytes(picture, overlay_name)
    small = rendering.thumbnail(photo.image)
    small_heatmap = rendering.resize_heatmap(explanation.heatmap, (small.shape[1], small.shape[0]))
    tiles = (
        f" | {len(photo.grid)} tiles, {len(explanation.boxes)} crack regions"
        if photo.scope == "photo"
        else ""
    )
    title = (
        f"{photo.path} | true {photo.label or '?'} | predicted {predicted} | "
        f"p(crack) {probability:.3f} | {method}{tiles}"
    )
    files[f"{name}_panel.png"] = rendering.figure_png(
        rendering.panel(
            small, small_heatmap, title, rendering.scale_boxes(explanation.boxes, small.shape[0] / height)
        )
    )
    if photo.scope == "photo":
        files[f"{name}_tiles.npy"] = _npy(explanation.tile_probabilities)
        small_probability = rendering.resize_heatmap(
            explanation.probability_map, (small.shape[1], small.shape[0])
        )
        files[f"{name}_probability.png"] = rendering.png_bytes(rendering.overlay(small, small_probability))
    if len(record.overlays) < 16:
        record.overlays.append(rendering.thumbnail(picture, GRID_SIDE))
        record.captions.append(
            f"{PurePosixPath(photo.path).name}\n{photo.label or '?'} -> {predicted} {probability:.2f}"
        )
    for number, box in enumerate(explanation.boxes):
        box_rows.append({"file": photo.path, "method": method, "box": number, **box})
    row = {
        "file": photo.path,
        "true_label": photo.label,
        "crack_probability": float(probability),
        "predicted_label": predicted,
        "correct": correct,
        "method": method,
        "width": width,
        "height": height,
        "tiles": len(photo.grid),
        "crack_regions": len(explanation.boxes),
    }
    item = {
        **row,
        "label": photo.label or "unlabelled",
        "predicted": predicted,
        "probability": float(probability),
        "correct": "unknown" if correct is None else correct,
        "overlay": overlay_name,
        "panel": f"{name}_panel.png",
        "probability_map": f"{name}_probability.png" if photo.scope == "photo" else None,
        "boxes": [{k: box[k] for k in ("x0", "y0", "x1", "y1", "probability")} for box in explanation.boxes],
    }
    return row, item


def _method_quality(
    checkpoint: dict[str, Any],
    record: _MethodRecord,
    inputs: torch.Tensor,
    method: str,
    target: str,
    precision: str,
    seed: int,
) -> dict[str, Any]:
    """The sanity check and deletion/insertion on the sanity tiles, and the mean localisation scores
    of patches (top level, as ever) and of whole photos (under `photo`)."""
    resolved = Precision.resolve(precision)
    deletion, insertion = deletion_insertion(
        inference_model(checkpoint, resolved),
        inputs,
        np.stack(record.small_maps) if record.small_maps else np.empty((0, *inputs.shape[2:])),
        record.classes,
        checkpoint["mean"],
        checkpoint["std"],
        resolved,
    )
    quality: dict[str, Any] = {
        "sanity_rank_correlation": randomised_weights_correlation(
            checkpoint, inputs, method, target, precision, seed
        ),
        "deletion_auc": deletion,
        "insertion_auc": insertion,
        "perturbation_images": len(inputs),
    }
    for scope, scores in record.scores.items():
        if scores["pointing_game"]:
            means = {"n": len(scores["pointing_game"])} | {
                ("detection_rate" if k == "detected" else k): float(np.mean(v)) for k, v in scores.items()
            }
            if scope == "patch":
                quality |= means
            else:
                quality["photo"] = means
    return quality


def _explainer(checkpoint: dict[str, Any], model, method: str, target: str, precision: str) -> CamExplainer:
    """A CAM explainer of `model` with the checkpoint's CAM layer and normalisation."""
    return CamExplainer(
        model,
        checkpoint["cam_layer"],
        checkpoint["mean"],
        checkpoint["std"],
        method=method,
        target=target,
        precision=Precision.resolve(precision),
    )


def randomised_weights_correlation(
    checkpoint: dict[str, Any], images: torch.Tensor, method: str, target: str, precision: str, seed: int
) -> float:
    """Mean Spearman correlation between the trained model's heatmaps and those of the same
    architecture with random weights: near 1, the heatmaps show the image, not what the model learned
    (Adebayo et al., "Sanity checks for saliency maps")."""
    if len(images) == 0:
        return float("nan")
    torch.manual_seed(seed)
    maps = []
    for model in (
        inference_model(checkpoint, Precision.resolve(precision)),
        fold_batch_norms(create_model(checkpoint["architecture"]).eval()),
    ):
        explainer = _explainer(checkpoint, model, method, target, precision)
        maps.append(explainer.explain(images).heatmaps)
        explainer.close()
    correlations = [spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(*maps, strict=True)]
    return float(np.nanmean(correlations)) if not np.all(np.isnan(correlations)) else float("nan")


def _score(per_image: dict[str, list], heatmap, mask, image, rng) -> None:
    per_image["pointing_game"].append(localisation.pointing_game(heatmap, mask))
    per_image["energy_in_mask"].append(localisation.energy_in_mask(heatmap, mask))
    per_image["iou_top5"].append(localisation.top_k_iou(heatmap, mask, 5))
    per_image["mask_share"].append(float(mask.mean()))
    baselines = {
        "center": localisation.centre_gaussian(mask.shape),
        "random": localisation.random_map(mask.shape, rng),
        "sobel": localisation.sobel_map(image),
    }
    for name, baseline in baselines.items():
        per_image[f"baseline_{name}_pointing"].append(localisation.pointing_game(baseline, mask))
        per_image[f"baseline_{name}_energy"].append(localisation.energy_in_mask(baseline, mask))


def quality_lines(quality: dict[str, Any]) -> list[str]:
    """Per method: a line of mask scores for the patches and one (`scope=photo`) for the whole photos
    where masks matched, else one of perturbation scores."""
    lines = []
    for method, q in quality.items():
        if "n" in q:
            lines.append(
                f"explain: method={method} n={q['n']} pointing_game={q['pointing_game']:.3f} "
                f"energy_in_mask={q['energy_in_mask']:.3f} "
                f"baseline_center={q['baseline_center_pointing']:.3f} "
                f"baseline_sobel={q['baseline_sobel_pointing']:.3f} "
                f"sanity_rank_correlation={q['sanity_rank_correlation']:.3f}"
            )
        if "photo" in q:
            p = q["photo"]
            lines.append(
                f"explain: method={method} scope=photo n={p['n']} detection_rate={p['detection_rate']:.3f} "
                f"pointing_game={p['pointing_game']:.3f} energy_in_mask={p['energy_in_mask']:.3f} "
                f"baseline_center={p['baseline_center_pointing']:.3f}/{p['baseline_center_energy']:.3f} "
                f"baseline_sobel={p['baseline_sobel_pointing']:.3f}/{p['baseline_sobel_energy']:.3f} "
                f"mask_share={p['mask_share']:.3f}"
            )
        if "n" not in q and "photo" not in q:
            lines.append(
                f"explain: method={method} n={q['perturbation_images']} "
                f"deletion_auc={q['deletion_auc']:.3f} insertion_auc={q['insertion_auc']:.3f} "
                f"sanity_rank_correlation={q['sanity_rank_correlation']:.3f}"
            )
    return lines
