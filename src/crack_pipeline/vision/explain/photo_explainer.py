"""A model and its CAM methods explaining photos chunk by chunk: the tiles classified, those that may show
a crack explained, and each photo assembled from them (photos.explain_photo), with its crack mask."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.labels import CLASS_NAMES, CRACK
from crack_pipeline.vision.explain.cam import called_class
from crack_pipeline.vision.explain.crack_masks import DEFAULT_CRACK_MASKS, CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import load_segmenter
from crack_pipeline.vision.explain.photos import (
    PhotoExplanation,
    TiledPhoto,
    explain_photo,
    tiled_photos,
)
from crack_pipeline.vision.explain.quality import explainer_for
from crack_pipeline.vision.explain.segmenter_calls import segmenter_finding
from crack_pipeline.vision.explain.tiling import TilingConfig, aggregate
from crack_pipeline.vision.models.inference import crack_probabilities, inference_model, views_of
from crack_pipeline.vision.models.precision import Precision


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
    the model's input and explained for `target`. An image is called cracked from p(crack) >= `threshold`
    (or its own in `image_thresholds`, by image name: e.g. its domain's), or by the crack segmenter where
    it finds a crack (`crack_masks.segmenter_finds`). An image named in `image_tile_sizes` is tiled at its
    own scale (e.g. its domain's training patch side).
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
        device: str | torch.device = "cpu",
        segmenter: dict[str, Any] | None = None,
        image_thresholds: Mapping[str, float] | None = None,
        image_tile_sizes: Mapping[str, int] | None = None,
        limits: ImageLimits = ImageLimits(),
    ) -> None:
        self.checkpoint, self.threshold, self.target = checkpoint, threshold, target
        self.image_thresholds = dict(image_thresholds or {})
        self.image_tile_sizes = dict(image_tile_sizes or {})
        self.limits = limits  # `VALIDATED` for images a check kept
        self.batch_size, self.crack_masks = batch_size, crack_masks
        self.tiling = (tiling or TilingConfig()).at_scale_of(checkpoint)
        self.forward = Precision.resolve(precision, "inference", device)
        self.gradients = Precision.resolve(precision, "cam", device)
        self.classifier = inference_model(checkpoint, self.forward)
        self.segmenter = load_segmenter(segmenter, self.forward.device) if segmenter is not None else None
        # Each method hooks a copy of its own (built from the checkpoint again it took 3x as long); the
        # explainer prepares it for its precision, which differs from the classifier's in autocast only.
        self.explainers = {
            method: explainer_for(
                checkpoint, copy.deepcopy(self.classifier), method, target, self.gradients, threshold
            )
            for method in methods
        }

    def explain(self, items: Sequence[ImageRef], skipped: dict[str, str]) -> Iterator[ExplainedChunk]:
        """`items` explained, a chunk of photos at a time (at least `batch_size` tiles); unreadable images
        go to `skipped` (name -> reason)."""
        checkpoint, tiling, batch_size = self.checkpoint, self.tiling, self.batch_size
        photos = tiled_photos(
            items, tiling, checkpoint["input_size"], skipped, self.image_tile_sizes, self.limits
        )
        views = views_of(checkpoint)
        for chunk in _chunks(photos, batch_size):
            tiles = torch.from_numpy(np.concatenate([photo.tiles for photo in chunk]))
            whole = np.concatenate([np.full(len(photo.grid), photo.scope == "photo") for photo in chunk])
            called_from = np.concatenate(
                [np.full(len(photo.grid), self.threshold_of(photo)) for photo in chunk]
            )
            # A photo's tiles are classified first (their p(crack) chooses which to explain); a patch's
            # p(crack) comes with its CAM, unless the model averages views (a CAM sees one) or the patch has
            # a threshold of its own (the CAM's pass calls at the pooled one).
            if views == 1:
                classified = whole | (called_from != self.threshold)
            else:
                classified = np.ones(len(tiles), dtype=bool)
            probabilities = np.full(len(tiles), np.nan)
            if classified.any():
                probabilities[classified] = crack_probabilities(
                    self.classifier,
                    tiles[classified],
                    checkpoint["mean"],
                    checkpoint["std"],
                    self.forward,
                    batch_size,
                    views,
                )
            # Tiles of whole photos answer "where are the cracks?"; those that cannot add to the map are
            # skipped.
            selected = _tiles_to_explain(chunk, whole, probabilities, tiling)
            wanted = [
                self._explained(whole[i], classified[i], probabilities[i], called_from[i]) for i in selected
            ]
            cams: dict[str, list[np.ndarray]] = {}
            step = self.gradients.images_per_pass(batch_size, *tiles.shape[-2:])
            for method, explainer in self.explainers.items():
                cams[method] = []
                for start in range(0, len(selected), step):
                    batch = selected[start : start + step]
                    result = explainer.explain(tiles[batch], wanted[start : start + step])
                    cams[method].extend(result.heatmaps)
                    for i, probability in zip(batch, result.probabilities, strict=True):
                        if not classified[i]:
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
                    self.threshold_of(photo),
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
                            self.threshold_of(photo),
                            photo.image,
                            self.crack_masks,
                            self.segmenter,
                            found,
                        )
                        for method, maps in cams.items()
                    }
                )
            classes = [
                called_class(probabilities[i], called_from[i])
                if want == "predicted"
                else CLASS_NAMES.index(want)
                for i, want in zip(selected, wanted, strict=True)
            ]
            yield ExplainedChunk(chunk, explanations, tiles[selected], cams, classes)

    def threshold_of(self, photo: TiledPhoto) -> float:
        """The p(crack) from which `photo` is called cracked."""
        return self.image_thresholds.get(photo.ref.name, self.threshold)

    def _explained(self, whole: bool, classified: bool, probability: float, threshold: float) -> str:
        """What a tile's CAM explains: the crack class for a photo's tiles and for target "crack"; else the
        class the patch is called at `threshold`, from its p(crack) where already scored (with views:
        theirs, not the CAM's single view), or in the CAM's own pass ("predicted")."""
        if whole or self.target == CRACK:
            return CRACK
        return CLASS_NAMES[called_class(probability, threshold)] if classified else "predicted"

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
