"""Explaining a trained model on a set of images: heatmap files, predictions, and measured quality."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.stats import spearmanr

from crack_pipeline.vision import localisation, rendering
from crack_pipeline.vision.cam import CamExplainer
from crack_pipeline.vision.checkpoint import model_from_checkpoint
from crack_pipeline.vision.image_io import ImageRejected, decode_image
from crack_pipeline.vision.models import create_model
from crack_pipeline.vision.perturbation import deletion_insertion
from crack_pipeline.vision.precision import Precision

BASELINES = ("center", "random", "sobel")


@dataclass
class ExplainResult:
    files: dict[str, bytes]  # relative path -> content: heatmaps, overlays, panels, grids, gallery
    predictions: pd.DataFrame
    quality: dict[str, Any]  # per method: localisation scores next to the baselines (with masks)
    skipped: dict[str, str] = field(default_factory=dict)


def safe_name(index: int, relative: str) -> str:
    """A file name for outputs that cannot leave its folder or confuse a browser, unique by index."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePosixPath(relative).stem)[:60].strip("._") or "image"
    return f"{index:05d}_{stem}"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.float32))
    return buffer.getvalue()


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
) -> ExplainResult:
    """Heatmaps of every method for `items` (relative path, label or None), at each image's resolution.

    With `masks` ({relative path: crack mask}), scores each method's heatmaps on the crack images
    against the centred-Gaussian, random and Sobel baselines. Always runs the model-randomisation
    sanity check and the deletion/insertion curves on the first `sanity_images` images.
    """
    size = checkpoint["input_size"]
    decoded, skipped = {}, {}
    for path, _ in items:
        try:
            decoded[path] = decode_image((root / path).read_bytes()).pixels
        except (OSError, ImageRejected) as error:
            skipped[path] = str(error)
    items = [(p, label) for p, label in items if p in decoded]
    inputs = (
        torch.from_numpy(
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(decoded[p]).resize((size, size), Image.Resampling.BICUBIC)
                    ).transpose(2, 0, 1)
                    for p, _ in items
                ]
            )
        )
        if items
        else torch.empty((0, 3, size, size), dtype=torch.uint8)
    )
    files: dict[str, bytes] = {}
    rows, gallery, scores = [], [], {}
    rng = np.random.default_rng(seed)
    for method in methods:
        explainer = _explainer(checkpoint, model_from_checkpoint(checkpoint), method, target, precision)
        per_image = {
            name: []
            for name in (
                "pointing_game",
                "energy_in_mask",
                "iou_top5",
                "mask_share",
                *(f"baseline_{b}_{m}" for b in BASELINES for m in ("pointing", "energy")),
            )
        }
        overlays, captions, small_maps, classes = [], [], [], []
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            result = explainer.explain(inputs[start : start + len(batch)])
            small_maps.extend(result.heatmaps)
            classes.extend([1 if target == "crack" or p >= 0.5 else 0 for p in result.probabilities])
            for offset, ((path, label), probability, small) in enumerate(
                zip(batch, result.probabilities, result.heatmaps, strict=True)
            ):
                image = decoded[path]
                heatmap = rendering.resize_heatmap(small, (image.shape[1], image.shape[0]))
                name = f"{method}/{safe_name(start + offset, path)}"
                predicted = "crack" if probability >= 0.5 else "no_crack"
                correct = None if label is None else label == predicted
                title = (
                    f"{path} | true {label or '?'} | predicted {predicted} | "
                    f"p(crack) {probability:.3f} | {method}"
                )
                picture = rendering.overlay(image, heatmap)
                files[f"{name}_heatmap.npy"] = _npy(heatmap)
                files[f"{name}_overlay.png"] = rendering.png_bytes(picture)
                files[f"{name}_panel.png"] = rendering.figure_png(rendering.panel(image, heatmap, title))
                overlays.append(picture)
                captions.append(
                    f"{PurePosixPath(path).name}\n{label or '?'} -> {predicted} {probability:.2f}"
                )
                row = {
                    "file": path,
                    "true_label": label,
                    "crack_probability": float(probability),
                    "predicted_label": predicted,
                    "correct": correct,
                    "method": method,
                }
                rows.append(row)
                gallery.append(
                    {
                        **row,
                        "label": label or "unlabelled",
                        "predicted": predicted,
                        "probability": float(probability),
                        "correct": "unknown" if correct is None else correct,
                        "overlay": f"{name}_overlay.png",
                        "panel": f"{name}_panel.png",
                    }
                )
                mask = (masks or {}).get(path)
                # A non-empty mask marks a crack image, labelled or not (e.g. a folder of CFD photos).
                if mask is not None and mask.shape == heatmap.shape and mask.any():
                    _score(per_image, heatmap, mask, image, rng)
        explainer.close()
        sanity = randomised_weights_correlation(
            checkpoint, inputs[:sanity_images], method, target, precision, seed
        )
        for count in (9, 16):
            if overlays:
                figure = rendering.grid(overlays[:count], captions[:count], f"{method}: first {count} images")
                files[f"{method}/grid_{count}.png"] = rendering.figure_png(figure)
        subsample = min(sanity_images, len(small_maps))
        deletion, insertion = deletion_insertion(
            Precision.resolve(precision).prepare(model_from_checkpoint(checkpoint)),
            inputs[:subsample],
            np.stack(small_maps[:subsample]) if subsample else np.empty((0, size, size)),
            classes[:subsample],
            checkpoint["mean"],
            checkpoint["std"],
            Precision.resolve(precision),
        )
        scores[method] = {
            "sanity_rank_correlation": sanity,
            "deletion_auc": deletion,
            "insertion_auc": insertion,
            "perturbation_images": subsample,
        }
        if per_image["pointing_game"]:
            scores[method] |= {"n": len(per_image["pointing_game"])}
            scores[method] |= {k: float(np.mean(v)) for k, v in per_image.items()}
    files["index.html"] = rendering.gallery_html(gallery, checkpoint["variant"]).encode()
    return ExplainResult(files=files, predictions=pd.DataFrame(rows), quality=scores, skipped=skipped)


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
    for model in (model_from_checkpoint(checkpoint), create_model(checkpoint["architecture"]).eval()):
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
    """One line per method: the mask scores where masks matched, else the perturbation scores."""
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
        else:
            lines.append(
                f"explain: method={method} n={q['perturbation_images']} "
                f"deletion_auc={q['deletion_auc']:.3f} insertion_auc={q['insertion_auc']:.3f} "
                f"sanity_rank_correlation={q['sanity_rank_correlation']:.3f}"
            )
    return lines
