"""Whole photos at the training scale: overlapping tiles, their blending back into one map, aggregation.

numpy and Pillow only: no model here. A photo is cut into tiles of the side the model's training patches had
(native resolution, no squashing), so a hairline crack keeps the width in pixels the model learned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from crack_pipeline.vision.data.image_io import resize_square
from crack_pipeline.vision.data.parallel import thread_map
from crack_pipeline.vision.data.tile_grid import Overlap, TileGrid, tile_grid
from crack_pipeline.vision.settings import settings_dataclass

logger = logging.getLogger(__name__)
AGGREGATES = ("max", "noisy_or", "top_k_mean")
# Weight of a tile's edge relative to its centre when overlapping tiles are blended: CAMs are least
# reliable at a tile's border (padding, cut-off context), and a tent leaves no seam where tiles meet.
EDGE_WEIGHT = 0.1


DEFAULT_TILE_SIZE = 227  # Özgenel's patches, for checkpoints that do not record their training patch side


@settings_dataclass
class TilingConfig:
    # The training patches' side in photo pixels; None: the checkpoint's `patch_side` (at_scale_of).
    tile_size: int | None = Field(None, ge=1)
    # Share of a tile that its neighbour covers too. Checked as a field, so that the error names
    # `tiling.overlap` and where it was set (the grid's own check named `tiling` alone).
    overlap: Overlap = 0.25
    aggregate: Literal["max", "noisy_or", "top_k_mean"] = "max"  # the photo's p(crack) from its tiles'
    top_k: int = Field(3, ge=1)  # tiles averaged by top_k_mean
    # A tile's CAM enters the photo's map weighted by its p(crack): below this weight, its CAM is not
    # computed at all (it could move the map by less than this). Shares and p(crack) below are in [0, 1]:
    # 1.5 here left every heatmap blank, without a word.
    cam_min_probability: float = Field(0.05, ge=0, le=1)
    # At most this many tiles of a photo explained, the most probable (None: all above the minimum): bounds
    # a photo's time whatever the model flags (a survey's ETA, the photo bench's equal counts).
    cam_max_tiles: int | None = Field(None, ge=1)
    # Crack regions: where the blended tile p(crack) reaches the decision threshold, each box tightened
    # to where the map reaches this share of its peak in the region (a photo the crack segmenter calls:
    # its cracks boxed too, segmenter_calls.found_boxes).
    box_evidence: float = Field(0.3, ge=0, le=1)
    min_box_area: float = Field(0.05, ge=0)  # regions smaller than this share of a tile are not boxed...
    min_box_evidence: float = Field(0.2, ge=0, le=1)  # ...nor those whose map never reaches this

    def __post_init__(self):
        tile_grid(1, 1, self.tile_size or DEFAULT_TILE_SIZE, self.overlap)  # checks size and overlap

    def at_scale_of(self, checkpoint: dict[str, Any]) -> TilingConfig:
        """This tiling with a tile size: the one set, else the side of the model's training patches."""
        if self.tile_size is not None:
            return self
        return replace(self, tile_size=int(checkpoint.get("patch_side") or DEFAULT_TILE_SIZE))

    def grid(self, height: int, width: int, tile_size: int | None = None) -> TileGrid:
        """The photo's tiles: of `tile_size` when given (e.g. its domain's), else of this tiling's."""
        if (tile_size or self.tile_size) is None:
            raise ValueError("no tile size: resolve it with at_scale_of(checkpoint) first")
        return tile_grid(height, width, tile_size or self.tile_size, self.overlap)


def _tent(n: int) -> np.ndarray:
    """1 in the middle, EDGE_WEIGHT at both ends."""
    if n == 1:
        return np.ones(1, dtype=np.float32)
    return (EDGE_WEIGHT + (1 - EDGE_WEIGHT) * (1 - np.abs(np.linspace(-1, 1, n)))).astype(np.float32)


def tile_window(height: int, width: int) -> np.ndarray:
    """A separable tent, 1 in the middle of a tile and EDGE_WEIGHT at its border."""
    return np.outer(_tent(height), _tent(width))


def _placed_tents(starts: tuple[int, ...], tile: int, length: int) -> np.ndarray:
    """One row per tile start: the tent of a tile starting there along a side of `length` (0 elsewhere)."""
    placed, tent = np.zeros((len(starts), length), dtype=np.float32), _tent(tile)
    for row, start in enumerate(starts):
        placed[row, start : start + tile] = tent
    return placed


def blend(grid: TileGrid, tile_maps: Sequence[np.ndarray | float]) -> np.ndarray:
    """One full-resolution map from one map (or one constant) per tile, in `grid.origins()` order:
    the window-weighted mean over the tiles covering each pixel.

    The window is separable and the tiles sit on a grid, so the weights' sum is an outer product and each
    row of constant tiles adds one outer product over its band: only tiles with a map of their own are
    added window by window (a 12-MP photo of 432 constant tiles: 0.05 s instead of 0.17 s). Every pixel is
    products and sums of float32 numbers in a fixed order, the same on any CPU."""
    if len(tile_maps) != len(grid):
        raise ValueError(f"{len(tile_maps)} tile maps for a grid of {len(grid)} tiles")
    along_x = _placed_tents(grid.xs, grid.tile_width, grid.width)
    window = tile_window(grid.tile_height, grid.tile_width)
    constants = np.zeros(grid.shape, dtype=np.float32)
    total = np.zeros((grid.height, grid.width), dtype=np.float32)
    for index, ((y, x), tile_map) in enumerate(zip(grid.origins(), tile_maps, strict=True)):
        if np.ndim(tile_map) == 0 and np.isfinite(tile_map):  # a NaN stays in its own tile
            constants.flat[index] = tile_map
        else:
            total[y : y + grid.tile_height, x : x + grid.tile_width] += window * tile_map
    tent_y = _tent(grid.tile_height)
    for row, y in enumerate(grid.ys):
        # This row of tiles' constants along x: each pixel a sum of at most a few products, in tile order.
        along_row = np.zeros(grid.width, dtype=np.float32)
        for column in range(len(grid.xs)):
            along_row += constants[row, column] * along_x[column]
        total[y : y + grid.tile_height] += np.outer(tent_y, along_row)
    along_y = _placed_tents(grid.ys, grid.tile_height, grid.height)
    total /= np.outer(along_y.sum(axis=0), along_x.sum(axis=0))
    return total


def aggregate(probabilities: Sequence[float], rule: str = "max", top_k: int = 3) -> float:
    """A photo's p(crack) from its tiles': the most confident tile (`max`), the chance that at least
    one tile shows a crack were tiles independent (`noisy_or`), or the mean of the `top_k` highest
    (`top_k_mean`, less sensitive to one spurious tile than max)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.size == 0:
        raise ValueError("no tile probabilities to aggregate")
    if rule == "max":
        return float(p.max())
    if rule == "noisy_or":
        return float(1 - np.prod(1 - p))
    if rule == "top_k_mean":
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        return float(np.sort(p)[-top_k:].mean())
    raise ValueError(f"unknown aggregation {rule!r}; choose from {AGGREGATES}")


def cut_tiles(image: np.ndarray, grid: TileGrid, input_size: int) -> np.ndarray:
    """The tiles of an H x W x 3 uint8 photo, each resized to the model's input: N x 3 x S x S uint8,
    resized on every core (Pillow resamples outside the GIL)."""
    if image.shape[:2] != (grid.height, grid.width):
        raise ValueError(f"photo {image.shape[:2]} does not match its tile grid {(grid.height, grid.width)}")

    def tile(origin: tuple[int, int]) -> np.ndarray:
        y, x = origin
        return resize_square(
            Image.fromarray(image[y : y + grid.tile_height, x : x + grid.tile_width]), input_size
        )

    return np.stack(thread_map(tile, grid.origins()))


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A heatmap brought to (width, height) with bilinear interpolation, kept in [0, 1]."""
    if heatmap.shape[::-1] == tuple(size):
        return heatmap.astype(np.float32)
    resized = Image.fromarray(heatmap.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def warned_stretched(name: str, grid: TileGrid) -> bool:
    """True, with a warning naming the photo `name`, when it is longer than a tile and has a side under one
    (a line-scan strip): its tiles, as long as that side, reach the model stretched across, off the training
    scale (padded instead, they would show the model borders it never saw in training)."""
    if len(grid) == 1 or grid.tile_height == grid.tile_width:
        return False
    logger.warning(
        "%s (%dx%d) and any photo like it has a side under a tile (%d px): its tiles, as long as that side, "
        "are squashed into the model's square input as training squashes a non-square image: stretched "
        "across, off the training scale (a crack along a strip reaches the model wider than it is)",
        name,
        grid.width,
        grid.height,
        max(grid.tile_height, grid.tile_width),
    )
    return True
