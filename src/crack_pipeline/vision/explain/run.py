"""Explaining a trained model on a set of images: the loop over photos, their tiles and the CAM methods."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.cam_strips import progress_pictures
from crack_pipeline.vision.explain.crack_masks import DEFAULT_CRACK_MASKS, CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import load_segmenter
from crack_pipeline.vision.explain.photos import (
    PhotoExplanation,
    TiledPhoto,
    explain_photo,
    segmenter_finding,
    tiled_photos,
)
from crack_pipeline.vision.explain.quality import MethodQuality, explainer_for
from crack_pipeline.vision.explain.segment_quality import SegmentQuality
from crack_pipeline.vision.explain.tiling import TilingConfig, aggregate
from crack_pipeline.vision.models.inference import crack_probabilities, inference_model
from crack_pipeline.vision.models.precision import Precision


@dataclass
class ExplainResult:
    files: dict[str, bytes]  # relative path -> content: heatmaps, overlays, panels, grids, gallery
    predictions: pd.DataFrame
    quality: dict[str, Any]  # per method: localisation scores next to the baselines (with masks)
    skipped: dict[str, str] = field(default_factory=dict)
    # crack regions: file, method, box, x0, y0, x1, y1, area, probability, evidence
    boxes: pd.DataFrame = field(default_factory=pd.DataFrame)
    # one row per crack of the masks: file, method and measurements.measure_cracks' columns
    measurements: pd.DataFrame = field(default_factory=pd.DataFrame)


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


@dataclass
class ExplainedChunk:
    """Photos explained together, and the tiles whose CAMs were computed (for the sanity check)."""

    photos: list[TiledPhoto]
    explanations: list[dict[str, PhotoExplanation]]  # per photo: {method: its explanation}
    tiles: torch.Tensor  # the tiles explained, N x 3 x S x S uint8
    cams: dict[str, list[np.ndarray]]  # per method: the tiles' CAMs
    classes: list[int]  # per tile: 1 when explained as (or for) a crack


class PhotoExplainer:
    """A model and its CAM methods on a device, explaining photos chunk by chunk (`explain`); `close` when
    done.

    An image larger than a tile (`tiling`) is explained whole at the training scale: its tiles are
    classified, the tiles that may show a crack are explained for the crack class, and their CAMs,
    weighted by p(crack), are blended into one map; its crack regions are boxed and its crack pixels
    masked (`crack_masks`; empty when called clean). An image of at most one tile is a patch: resized to
    the model's input and explained for `target`. An image is called cracked from p(crack) >= `threshold`,
    or by the crack segmenter where it finds a crack (`crack_masks.segmenter_finds`).
    """

    def __init__(
        self,
        checkpoint: dict[str, Any],
        methods: Sequence[str],
        threshold: float,
        target: str = "predicted",
        batch_size: int = 32,
        precision: str = "auto",
        tiling: TilingConfig | None = None,
        crack_masks: CrackMaskConfig = DEFAULT_CRACK_MASKS,
        device: str = "cpu",
        segmenter: dict[str, Any] | None = None,
    ) -> None:
        self.checkpoint, self.threshold, self.target = checkpoint, threshold, target
        self.batch_size, self.crack_masks = batch_size, crack_masks
        self.tiling = (tiling or TilingConfig()).at_scale_of(checkpoint)
        self.forward = Precision.resolve(precision, "inference", device)
        self.gradients = Precision.resolve(precision, "cam", device)
        self.classifier = inference_model(checkpoint, self.forward)
        self.segmenter = load_segmenter(segmenter, self.forward.device) if segmenter is not None else None
        # Each method hooks a copy of its own (built from the checkpoint again it took 3x as long); the
        # explainer prepares it for its precision, which differs from the classifier's in autocast only.
        self.explainers = {
            method: explainer_for(checkpoint, copy.deepcopy(self.classifier), method, target, self.gradients)
            for method in methods
        }

    def explain(self, items: Sequence[ImageRef], skipped: dict[str, str]) -> Iterator[ExplainedChunk]:
        """`items` explained, a chunk of photos at a time (at least `batch_size` tiles); unreadable images
        go to `skipped` (name -> reason)."""
        checkpoint, tiling, batch_size = self.checkpoint, self.tiling, self.batch_size
        photos = tiled_photos(items, tiling, checkpoint["input_size"], skipped)
        for chunk in _chunks(photos, batch_size):
            tiles = torch.from_numpy(np.concatenate([photo.tiles for photo in chunk]))
            whole = np.concatenate([np.full(len(photo.grid), photo.scope == "photo") for photo in chunk])
            probabilities = np.full(len(tiles), np.nan)
            if whole.any():
                probabilities[whole] = crack_probabilities(
                    self.classifier,
                    tiles[whole],
                    checkpoint["mean"],
                    checkpoint["std"],
                    self.forward,
                    batch_size,
                )
            # Tiles of whole photos answer "where are the cracks?"; those that cannot add to the map are
            # skipped.
            selected = _tiles_to_explain(chunk, whole, probabilities, tiling)
            wanted = ["crack" if whole[i] else self.target for i in selected]
            cams: dict[str, list[np.ndarray]] = {}
            step = self.gradients.images_per_pass(batch_size, *tiles.shape[-2:])
            for method, explainer in self.explainers.items():
                cams[method] = []
                for start in range(0, len(selected), step):
                    batch = selected[start : start + step]
                    result = explainer.explain(tiles[batch], wanted[start : start + step])
                    cams[method].extend(result.heatmaps)
                    for i, probability in zip(batch, result.probabilities, strict=True):
                        if not whole[i]:  # a patch's p(crack) comes with its CAM
                            probabilities[i] = probability
            position = {int(i): k for k, i in enumerate(selected)}
            explanations, first = [], 0
            for photo in chunk:
                own = range(first, first + len(photo.grid))
                first += len(photo.grid)
                found = segmenter_finding(
                    photo.image,
                    photo.grid.tile_height,
                    aggregate(probabilities[own], tiling.aggregate, tiling.top_k),
                    self.threshold,
                    self.crack_masks,
                    self.segmenter,
                )
                explanations.append(
                    {
                        method: explain_photo(
                            photo.grid,
                            probabilities[own],
                            {i - own.start: maps[position[i]] for i in own if i in position},
                            tiling,
                            self.threshold,
                            photo.image,
                            self.crack_masks,
                            self.segmenter,
                            found,
                        )
                        for method, maps in cams.items()
                    }
                )
            classes = [
                1 if self.target == "crack" or whole[i] or probabilities[i] >= self.threshold else 0
                for i in selected
            ]
            yield ExplainedChunk(chunk, explanations, tiles[selected], cams, classes)

    def close(self) -> None:
        for explainer in self.explainers.values():
            explainer.close()


def _tiles_to_explain(
    chunk: list[TiledPhoto], whole: np.ndarray, probabilities: np.ndarray, tiling: TilingConfig
) -> np.ndarray:
    """Indices (into the chunk's tiles) of those to explain: every patch; a photo's tiles from
    `cam_min_probability` on, at most `cam_max_tiles` of them, the most probable."""
    selected, first = [], 0
    for photo in chunk:
        own = np.arange(first, first + len(photo.grid))
        first += len(photo.grid)
        if not whole[own[0]]:
            selected.extend(own)
            continue
        likely = own[probabilities[own] >= tiling.cam_min_probability]
        if tiling.cam_max_tiles is not None and len(likely) > tiling.cam_max_tiles:
            likely = np.sort(
                likely[np.argsort(-probabilities[likely], kind="stable")[: tiling.cam_max_tiles]]
            )
        selected.extend(likely)
    return np.asarray(selected, dtype=int)


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
) -> ExplainResult:
    """Heatmaps of every method for `items`, at each image's resolution, by a `PhotoExplainer` on `device`,
    with their files and tables (in memory).

    With `masks` ({image name: crack mask}), scores each method's heatmaps on the crack images against
    the centred-Gaussian, random and Sobel baselines, patches and whole photos apart, and its crack masks.
    Every image's cracks are measured (in mm with `mm_per_pixel`, banded by `severity_bands`:
    measurements.measure_cracks). With a `segmenter` checkpoint (crack_segmenter), the masks add its
    crack pixels to darkness's. Always runs the model-randomisation sanity check and the
    deletion/insertion curves on the first `sanity_images` tiles explained.
    """
    writer = ArtefactWriter(threshold, mm_per_pixel, severity_bands)  # bad settings stop before any work
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
        )
        skipped: dict[str, str] = {}
        quality = _explained_and_scored(explainer, items, writer, skipped, masks or {}, sanity_images, seed)
        files, predictions, boxes, measurements = writer.finish(
            checkpoint["variant"], progress_drawn.result() if progress_drawn else None
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
    checkpoint, methods, threshold = explainer.checkpoint, list(explainer.explainers), explainer.threshold
    measured = {method: MethodQuality() for method in methods}
    segments = {method: SegmentQuality() for method in methods}
    sanity_inputs: list[torch.Tensor] = []
    rng = np.random.default_rng(seed)
    for chunk in explainer.explain(items, skipped):
        room = max(0, sanity_images - len(sanity_inputs))
        sanity_inputs.extend(chunk.tiles[:room])
        for method, quality in measured.items():
            quality.sanity_maps.extend(chunk.cams[method][:room])
            quality.sanity_classes.extend(chunk.classes[:room])
        for photo, explanations in zip(chunk.photos, chunk.explanations, strict=True):
            mask = masks.get(photo.ref.name)
            for method, explanation in explanations.items():
                writer.add(method, photo, explanation)
                # A non-empty mask marks a crack image, labelled or not (e.g. a folder of CFD photos).
                if mask is not None and mask.shape == explanation.heatmap.shape and mask.any():
                    detected = explanation.probability >= threshold  # the classifier's detection rate
                    measured[method].score(photo.scope, explanation.heatmap, mask, photo.image, detected, rng)
                    segments[method].add(explanation.crack_mask, explanation.crack_score, mask, photo.image)
    size = checkpoint["input_size"]
    inputs = (
        torch.stack(sanity_inputs) if sanity_inputs else torch.empty((0, 3, size, size), dtype=torch.uint8)
    )
    explainer.close()
    quality = {}
    for method in methods:
        quality[method] = measured[method].summary(
            checkpoint, explainer.classifier, inputs, method, explainer.target, explainer.gradients, seed
        )
        if segments[method].curves:
            quality[method]["segment"] = segments[method].summary()
    return quality
