"""Explaining a trained model on a set of images, in memory: a PhotoExplainer's photos (photo_explainer)
written into files and tables, and each CAM method's quality scored against the masks given."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import VALIDATED
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.cam_strips import progress_pictures
from crack_pipeline.vision.explain.crack_masks import DEFAULT_CRACK_MASKS, CrackMaskConfig
from crack_pipeline.vision.explain.photo_explainer import PhotoExplainer
from crack_pipeline.vision.explain.quality import MethodQuality
from crack_pipeline.vision.explain.segment_quality import SegmentQuality
from crack_pipeline.vision.explain.tiling import TilingConfig

logger = logging.getLogger(__name__)


@dataclass
class ExplainResult:
    files: dict[str, bytes]  # relative path -> content: heatmaps, overlays, panels, grids, gallery
    predictions: pd.DataFrame
    quality: dict[str, Any]  # per method: localisation scores next to the baselines (with masks)
    skipped: dict[str, str] = field(default_factory=dict)
    # crack regions: file, method, box, x0, y0, x1, y1, area, probability, evidence, found_by
    boxes: pd.DataFrame = field(default_factory=pd.DataFrame)
    # one row per crack of the masks: file, method and measurements.measure_cracks' columns
    measurements: pd.DataFrame = field(default_factory=pd.DataFrame)


def explain_images(
    checkpoint: dict[str, Any],
    items: Sequence[ImageRef],
    methods: Sequence[str],
    threshold: float,
    target: str = "predicted",
    masks: dict[str, np.ndarray] | None = None,
    batch_size: int = 32,
    precision: str = "auto",
    seed: int = 0,
    sanity_images: int = 16,
    tiling: TilingConfig | None = None,
    crack_masks: CrackMaskConfig = DEFAULT_CRACK_MASKS,
    mm_per_pixel: float | None = None,
    severity_bands: Mapping[str, float] | None = None,
    device: str = "cpu",
    segmenter: dict[str, Any] | None = None,
    image_thresholds: Mapping[str, float] | None = None,
    image_tile_sizes: Mapping[str, int] | None = None,
    left_out: Mapping[str, str] | None = None,
    scales: Mapping[str, float] | None = None,
) -> ExplainResult:
    """Heatmaps of every method for `items`, at each image's resolution, by a `PhotoExplainer` on `device`,
    with their files and tables (in memory).

    With `masks` ({image name: crack mask}), scores each method's heatmaps on the crack images against
    the centred-Gaussian, random and Sobel baselines, patches and whole photos apart, and its crack masks.
    Every image's cracks are measured (in mm with `mm_per_pixel`, or an image's own in `scales`, banded by
    `severity_bands`: measurements.measure_cracks). With a `segmenter` checkpoint (crack_segmenter), the
    masks add its crack pixels to darkness's. An image named in `image_thresholds` is called cracked from its
    own threshold (e.g. its domain's) instead of `threshold`, one in `image_tile_sizes` is tiled at its own
    scale (e.g. its domain's training patch side). The gallery lists the images that could not be read, and
    the files `left_out` before ({file: why}: the folder's scan skipped them). Always runs the
    model-randomisation sanity check and the deletion/insertion curves on the first `sanity_images` tiles
    explained.
    """
    # Bad settings stop before any work
    writer = ArtefactWriter(threshold, mm_per_pixel, severity_bands, crack_masks.join_gap, scales)
    record = checkpoint.get("cam_progress")
    with ThreadPoolExecutor(max_workers=1) as drawing:
        # The model's heatmaps through training are drawn on the second core while the first photo is read
        # and the models are built (a sixth of a second otherwise spent at the end).
        progress_drawn = drawing.submit(progress_pictures, record, checkpoint["variant"]) if record else None
        explainer = PhotoExplainer(
            checkpoint,
            methods,
            threshold,
            target,
            batch_size,
            precision,
            tiling,
            crack_masks,
            device,
            segmenter,
            image_thresholds,
            image_tile_sizes,
            VALIDATED,  # the images to explain were checked (ingest's or the folder's scan): its limits hold
        )
        skipped: dict[str, str] = {}
        quality = _explained_and_scored(explainer, items, writer, skipped, masks or {}, sanity_images, seed)
        files, predictions, boxes, measurements = writer.finish(
            checkpoint["variant"],
            progress_drawn.result() if progress_drawn else None,
            {**(left_out or {}), **skipped},
        )
    return ExplainResult(
        files=files,
        predictions=predictions,
        quality=quality,
        skipped=skipped,
        boxes=boxes,
        measurements=measurements,
    )


def _explained_and_scored(
    explainer: PhotoExplainer,
    items: Sequence[ImageRef],
    writer: ArtefactWriter,
    skipped: dict[str, str],
    masks: Mapping[str, np.ndarray],
    sanity_images: int,
    seed: int,
) -> dict[str, Any]:
    """`items` explained into `writer` (unreadable ones into `skipped`), and per method the quality
    `explain_images` reports: localisation and crack-mask scores where `masks` has the image, the sanity
    check and deletion/insertion on the first `sanity_images` tiles explained."""
    checkpoint, methods = explainer.checkpoint, list(explainer.explainers)
    measured = {method: MethodQuality() for method in methods}
    segments = {method: SegmentQuality() for method in methods}
    sanity_inputs: list[torch.Tensor] = []
    rng = np.random.default_rng(seed)
    # Everything stays in memory until the end (survey writes photo by photo): at least say how far it is.
    progress = tqdm(total=len(items), unit="image", desc="explain")
    for chunk in explainer.explain(items, skipped):
        progress.update(len(chunk.photos))
        room = max(0, sanity_images - len(sanity_inputs))
        sanity_inputs.extend(chunk.tiles[:room])
        for method, quality in measured.items():
            quality.sanity_maps.extend(chunk.cams[method][:room])
            quality.sanity_classes.extend(chunk.classes[:room])
        for photo, explanations in zip(chunk.photos, chunk.explanations, strict=True):
            mask = masks.get(photo.ref.name)
            if mask is not None and mask.shape != photo.image.shape[:2]:
                logger.warning(
                    "explain: the mask of %s is %dx%d, the image %dx%d: left out of the scores",
                    photo.ref.name,
                    mask.shape[1],
                    mask.shape[0],
                    photo.image.shape[1],
                    photo.image.shape[0],
                )
                mask = None
            for method, explanation in explanations.items():
                writer.add(method, photo, explanation)
                # A non-empty mask marks a crack image, labelled or not (e.g. a folder of CFD photos).
                if mask is not None and mask.any():
                    # the classifier's detection rate
                    detected = explanation.probability >= explainer.threshold_of(photo)
                    measured[method].score(photo.scope, explanation.heatmap, mask, photo.image, detected, rng)
                    gap = round(writer.join_gap * photo.grid.tile_height)  # as its table joins pieces
                    segments[method].add(
                        explanation.crack_mask, explanation.crack_score, mask, photo.image, gap
                    )
    size = checkpoint["input_size"]
    inputs = (
        torch.stack(sanity_inputs) if sanity_inputs else torch.empty((0, 3, size, size), dtype=torch.uint8)
    )
    progress.close()
    explainer.close()
    quality = {}
    for method in methods:
        quality[method] = measured[method].summary(
            checkpoint, explainer.classifier, inputs, method, explainer.gradients, seed
        )
        if segments[method].curves:
            quality[method]["segment"] = segments[method].summary()
    return quality
