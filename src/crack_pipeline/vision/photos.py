"""Whole photos through a model at the training scale: tiles classified in batches, their CAMs blended
into one crack map, the photo's p(crack) aggregated from its tiles', crack regions boxed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crack_pipeline.vision.image_io import ImageRejected, decode_image
from crack_pipeline.vision.inference import inference_model
from crack_pipeline.vision.labels import CLASS_NAMES
from crack_pipeline.vision.precision import Precision
from crack_pipeline.vision.regions import crack_boxes
from crack_pipeline.vision.rendering import resize_heatmap
from crack_pipeline.vision.tiling import AGGREGATES, TileGrid, aggregate, blend, cut_tiles, tile_grid
from crack_pipeline.vision.training import predict_logits

DECISION_THRESHOLD = 0.5  # a photo is called cracked, and boxed, from this p(crack) on
DEFAULT_TILE_SIZE = 227  # Özgenel's patches, for checkpoints that do not record their training patch side


@dataclass(frozen=True)
class TilingConfig:
    # The training patches' side in photo pixels; None: the checkpoint's `patch_side` (at_scale_of).
    tile_size: int | None = None
    overlap: float = 0.25  # share of a tile that its neighbour covers too
    aggregate: str = "max"  # the photo's p(crack) from its tiles': max | noisy_or | top_k_mean
    top_k: int = 3  # tiles averaged by top_k_mean
    # A tile's CAM enters the photo's map weighted by its p(crack): below this weight, its CAM is not
    # computed at all (it could move the map by less than this).
    cam_min_probability: float = 0.05
    # Crack regions: where the blended tile p(crack) reaches the decision threshold, each box tightened
    # to where the map reaches this share of its peak in the region.
    box_evidence: float = 0.3
    min_box_area: float = 0.05  # regions smaller than this share of a tile are not boxed...
    min_box_evidence: float = 0.2  # ...nor those whose map never reaches this

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TilingConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"unknown tiling settings {unknown}; known: {sorted(known)}")
        config = cls(**(values or {}))
        if config.aggregate not in AGGREGATES:
            raise ValueError(f"tiling.aggregate must be one of {AGGREGATES}, got {config.aggregate!r}")
        replace(config, tile_size=config.tile_size or DEFAULT_TILE_SIZE).grid(1, 1)  # size and overlap
        return config

    def at_scale_of(self, checkpoint: dict[str, Any]) -> TilingConfig:
        """This tiling with a tile size: the one set, else the side of the model's training patches."""
        if self.tile_size is not None:
            return self
        return replace(self, tile_size=int(checkpoint.get("patch_side") or DEFAULT_TILE_SIZE))

    def grid(self, height: int, width: int) -> TileGrid:
        if self.tile_size is None:
            raise ValueError("no tile size: resolve it with at_scale_of(checkpoint) first")
        return tile_grid(height, width, self.tile_size, self.overlap)


@dataclass
class PhotoExplanation:
    probability: float  # the photo's p(crack), aggregated over its tiles
    tile_probabilities: np.ndarray  # rows x columns of tiles
    heatmap: np.ndarray  # H x W in [0, 1]; several tiles: their CAMs weighted by p(crack) and blended
    probability_map: np.ndarray  # H x W: the tiles' p(crack) blended
    boxes: list[dict]  # crack regions (regions.crack_boxes)


@dataclass
class TiledPhoto:
    index: int  # position in the list of images asked for
    path: str
    label: str | None
    image: np.ndarray  # H x W x 3 uint8
    grid: TileGrid
    tiles: np.ndarray  # N x 3 x S x S uint8, at the model's input

    @property
    def scope(self) -> str:
        """`photo` when tiled, `patch` when the image is at most one tile."""
        return "photo" if len(self.grid) > 1 else "patch"


def tiled_photos(
    root: Path, items: Sequence[tuple[str, str | None]], config: TilingConfig, input_size: int, skipped: dict
) -> Iterator[TiledPhoto]:
    """Each readable image of `items` (relative path, label) with its tiles, decoded one at a time (a
    folder of 12-MP photos never sits in memory at once); unreadable ones go to `skipped` with the reason."""
    for index, (path, label) in enumerate(items):
        try:
            image = decode_image((root / path).read_bytes()).pixels
        except (OSError, ImageRejected) as error:
            skipped[path] = str(error)
            continue
        grid = config.grid(*image.shape[:2])
        yield TiledPhoto(index, path, label, image, grid, cut_tiles(image, grid, input_size))


def tile_crack_probabilities(
    model: nn.Module, tiles: torch.Tensor, mean, std, precision: Precision, batch_size: int = 64
) -> np.ndarray:
    """p(crack) of each uint8 tile, forward passes only."""
    logits = predict_logits(model, tiles, mean, std, precision, batch_size)
    return torch.softmax(logits, dim=1)[:, CLASS_NAMES.index("crack")].numpy().astype(float)


def explain_photo(
    grid: TileGrid, probabilities: np.ndarray, cams: dict[int, np.ndarray], config: TilingConfig
) -> PhotoExplanation:
    """Assemble one photo from its tiles' p(crack) and the CAMs computed (tile index -> map at the model's
    input size; a tile without one counts as no evidence). A photo of one tile keeps its CAM as it is."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    sized = {i: resize_heatmap(cam, (grid.tile_width, grid.tile_height)) for i, cam in cams.items()}
    crack_map = blend(grid, [probabilities[i] * sized[i] if i in sized else 0.0 for i in range(len(grid))])
    if len(grid) == 1:
        heatmap = sized.get(0, np.zeros((grid.height, grid.width), dtype=np.float32))
    else:
        heatmap = crack_map
    probability_map = blend(grid, list(probabilities))
    probability = aggregate(probabilities, config.aggregate, config.top_k)
    boxes = crack_boxes(
        probability_map,
        crack_map,
        DECISION_THRESHOLD,
        config.box_evidence,
        config.min_box_area * grid.tile_height * grid.tile_width,
        config.min_box_evidence,
    )
    return PhotoExplanation(
        probability=probability,
        tile_probabilities=probabilities.reshape(grid.shape),
        heatmap=heatmap,
        probability_map=probability_map,
        boxes=boxes,
    )


def classify_photos(
    checkpoint: dict[str, Any],
    root: Path,
    paths: list[str],
    config: TilingConfig,
    batch_size: int = 64,
    precision: str = "auto",
) -> tuple[dict[str, float], dict[str, int]]:
    """p(crack) of each photo from its tiles (no CAM), and the number of tiles of each; a file that can no
    longer be read is left out of both."""
    resolved = Precision.resolve(precision)
    model = inference_model(checkpoint, resolved)
    config = config.at_scale_of(checkpoint)
    found, tiles_of = {}, {}
    for photo in tiled_photos(root, [(p, None) for p in paths], config, checkpoint["input_size"], {}):
        probabilities = tile_crack_probabilities(
            model, torch.from_numpy(photo.tiles), checkpoint["mean"], checkpoint["std"], resolved, batch_size
        )
        found[photo.path] = aggregate(probabilities, config.aggregate, config.top_k)
        tiles_of[photo.path] = len(photo.grid)
    return found, tiles_of
