"""Whole photos through a model at the training scale: tiles classified in batches, their CAMs blended
into one crack map, the photo's p(crack) aggregated from its tiles', crack regions boxed, crack pixels
masked."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import VALIDATED, ImageLimits, ImageRejected, decode_file
from crack_pipeline.vision.data.tile_grid import TileGrid
from crack_pipeline.vision.explain.crack_following import followed_cracks
from crack_pipeline.vision.explain.crack_masks import (
    DEFAULT_CRACK_MASKS,
    CrackMaskConfig,
    crack_mask,
    crack_score,
    unit_score,
    without_specks,
)
from crack_pipeline.vision.explain.crack_segmenter import CrackSegmenter
from crack_pipeline.vision.explain.crack_tracing import trace_cracks
from crack_pipeline.vision.explain.regions import crack_boxes
from crack_pipeline.vision.explain.tiling import (
    TilingConfig,
    aggregate,
    blend,
    cut_tiles,
    resize_heatmap,
    warned_stretched,
)
from crack_pipeline.vision.models.inference import (
    crack_probabilities_and_features,
    inference_model,
    views_of,
)
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import get_spec


@dataclass
class PhotoExplanation:
    probability: float  # the photo's p(crack), aggregated over its tiles
    tile_probabilities: np.ndarray  # rows x columns of tiles
    heatmap: np.ndarray  # H x W in [0, 1]; several tiles: their CAMs weighted by p(crack) and blended
    probability_map: np.ndarray  # H x W: the tiles' p(crack) blended
    boxes: list[dict]  # crack regions (regions.crack_boxes)
    crack_mask: np.ndarray | None = None  # H x W bool: the crack pixels (all False when called clean)
    crack_score: np.ndarray | None = None  # H x W in [0, 1]: what the mask thresholds
    explained_tiles: int = 0  # tiles whose CAM was computed
    called_by: str | None = None  # who calls it cracked: "classifier", "segmenter" (segmenter_finds), None
    threshold: float | None = None  # the p(crack) from which the classifier calls it cracked


@dataclass
class SegmenterFinding:
    """What the crack segmenter finds over a photo the classifier calls clean (segmenter_calls)."""

    mask: np.ndarray  # H x W bool: the crack pixels
    score: np.ndarray  # H x W in [0, 1]: what the mask thresholds
    boxes: list[dict]  # its cracks' regions (segmenter_calls.found_boxes)


@dataclass
class TiledPhoto:
    index: int  # position in the list of images asked for
    ref: ImageRef
    image: np.ndarray  # H x W x 3 uint8
    grid: TileGrid
    tiles: np.ndarray  # N x 3 x S x S uint8, at the model's input

    @property
    def scope(self) -> str:
        """`photo` when tiled, `patch` when the image is at most one tile."""
        return "photo" if len(self.grid) > 1 else "patch"


def tiled_photos(
    items: Sequence[ImageRef],
    config: TilingConfig,
    input_size: int,
    skipped: dict[str, str],
    tile_sizes: Mapping[str, int] | None = None,
    limits: ImageLimits = ImageLimits(),
) -> Iterator[TiledPhoto]:
    """Each readable image of `items` with its tiles (of its own size in `tile_sizes`, by name, if there),
    decoded one at a time (a folder of 12-MP photos never sits in memory at once); unreadable ones, and
    those outside `limits` (`VALIDATED` for images a check kept), go to `skipped` (name -> reason)."""
    tile_sizes, stretched = tile_sizes or {}, False
    for index, ref in enumerate(items):
        try:
            image = decode_file(ref.file, limits).pixels
        except (OSError, ImageRejected) as error:
            skipped[ref.name] = str(error)
            continue
        grid = config.grid(*image.shape[:2], tile_sizes.get(ref.name))
        stretched = stretched or warned_stretched(ref.name, grid)  # once: a line-scan camera's are all strips
        yield TiledPhoto(index, ref, image, grid, cut_tiles(image, grid, input_size))


def explain_photo(
    grid: TileGrid,
    probabilities: np.ndarray,
    cams: dict[int, np.ndarray],
    config: TilingConfig,
    threshold: float,
    image: np.ndarray | None = None,
    mask_config: CrackMaskConfig = DEFAULT_CRACK_MASKS,
    segmenter: CrackSegmenter | None = None,
    found: SegmenterFinding | None = None,
) -> PhotoExplanation:
    """Assemble one photo from its tiles' p(crack) and the CAMs computed (tile index -> map at the model's
    input size; a tile without one counts as no evidence). A photo of one tile keeps its CAM as it is.
    Crack regions are where the blended tile p(crack) reaches `threshold`, the model's decision threshold.
    Given the photo's pixels (`image`, H x W x 3), also its crack mask (crack_masks), from the CAMs
    weighted by p(crack), with the `segmenter`'s traced cracks (photo_crack_mask); when the photo is called
    clean, empty, unless the segmenter `found` cracks there (segmenter_calls): then the photo is called
    cracked by it, with the mask and score found, its cracks boxed too (found_boxes)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    sized = {i: resize_heatmap(cam, (grid.tile_width, grid.tile_height)) for i, cam in cams.items()}
    crack_map = blend(grid, [probabilities[i] * sized[i] if i in sized else 0.0 for i in range(len(grid))])
    if len(grid) == 1:
        heatmap = sized.get(0, np.zeros((grid.height, grid.width), dtype=np.float32))
    else:
        heatmap = crack_map
    probability = aggregate(probabilities, config.aggregate, config.top_k)
    # The regions are boxed on another core while the mask is made (numpy and scipy mostly work outside
    # the GIL): a 12-MP photo's 0.4 s.
    with ThreadPoolExecutor(max_workers=1) as pool:
        boxed = pool.submit(_probability_and_boxes, grid, probabilities, crack_map, config, threshold)
        mask = score = None
        called_by = "classifier" if probability >= threshold else None
        if image is not None:
            mask = np.zeros((grid.height, grid.width), dtype=bool)
            score = np.zeros((grid.height, grid.width), dtype=np.float32)
            if called_by:
                mask, score = photo_crack_mask(image, crack_map, grid.tile_height, mask_config, segmenter)
            elif found is not None:
                mask, score, called_by = found.mask, found.score, "segmenter"
        probability_map, boxes = boxed.result()
    if called_by == "segmenter":  # its cracks boxed too: the reason for the call
        boxes += found.boxes
    return PhotoExplanation(
        probability=probability,
        tile_probabilities=probabilities.reshape(grid.shape),
        heatmap=heatmap,
        probability_map=probability_map,
        boxes=boxes,
        explained_tiles=len(cams),
        crack_mask=mask,
        crack_score=score,
        called_by=called_by,
        threshold=threshold,
    )


def photo_crack_mask(
    image: np.ndarray,
    crack_map: np.ndarray,
    tile_side: float,
    config: CrackMaskConfig = DEFAULT_CRACK_MASKS,
    segmenter: CrackSegmenter | None = None,
    whole: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The crack mask of an H x W x 3 photo called cracked, and the score it thresholds (on [0, 1]): darkness
    where the heatmap `crack_map` has evidence; with a `segmenter`, the cracks it traces from darkness's
    crack pixels joined (it grows and completes the cracks darkness found, and is run only there: on a
    12-MP photo the evidence may cover most of it; `whole`: its p(crack) over all of the photo, as
    crack_tracing.whole_photo_views gives, if known)."""
    darkness = crack_score(image, crack_map, tile_side, config)
    mask, score = crack_mask(darkness, config), unit_score(darkness)
    if segmenter is not None:
        traced, learned = trace_cracks(
            segmenter, image, mask, round(config.segmenter_reach * tile_side), config, whole
        )
        mask |= traced
        score = np.maximum(score, learned, out=score)
    mask = followed_cracks(image, mask, crack_map, tile_side, config)
    return without_specks(mask, tile_side, config), score


def _probability_and_boxes(
    grid: TileGrid, probabilities: np.ndarray, crack_map: np.ndarray, config: TilingConfig, threshold: float
) -> tuple[np.ndarray, list[dict]]:
    """The tiles' p(crack) blended into a map, and the crack regions it and the `crack_map` show."""
    probability_map = blend(grid, list(probabilities))
    boxes = crack_boxes(
        probability_map,
        crack_map,
        threshold,
        config.box_evidence,
        config.min_box_area * grid.tile_height * grid.tile_width,
        config.min_box_evidence,
    )
    return probability_map, [{**box, "found_by": "classifier"} for box in boxes]


def classify_photos(
    checkpoint: dict[str, Any],
    items: Sequence[ImageRef],
    config: TilingConfig,
    batch_size: int = 64,
    precision: str = "auto",
    device: str = "cpu",
    tile_features: Callable[[np.ndarray], None] | None = None,
) -> tuple[dict[str, float], dict[str, int]]:
    """p(crack) of each photo (by name; a folder's scan kept it) from its tiles (no CAM), on `device`, and
    the number of tiles of each; a file that can no longer be read is left out of both. `tile_features`, if
    given, is handed each photo's tiles' features (what the classifier sees, tiles x D), from the same
    forward passes."""
    resolved = Precision.resolve(precision, "inference", device)
    model = inference_model(checkpoint, resolved)
    head = get_spec(checkpoint["architecture"]).head
    config = config.at_scale_of(checkpoint)
    found, tiles_of = {}, {}
    for photo in tiled_photos(items, config, checkpoint["input_size"], {}, limits=VALIDATED):
        probabilities, features = crack_probabilities_and_features(
            model,
            head,
            torch.from_numpy(photo.tiles),
            checkpoint["mean"],
            checkpoint["std"],
            resolved,
            batch_size,
            views_of(checkpoint),
        )
        if tile_features is not None:
            tile_features(features)
        found[photo.ref.name] = aggregate(probabilities, config.aggregate, config.top_k)
        tiles_of[photo.ref.name] = len(photo.grid)
    return found, tiles_of
