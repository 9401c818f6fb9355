"""A labelled patch set cut from photos with pixel crack masks (e.g. CFD): tiles at the training scale,
each labelled by the crack pixels of its mask.

A tile is a crack when its central area holds crack pixels, clean when the whole tile holds none; a tile
whose only crack pixels lie near its border is neither (a model could not be asked to see a crack it
barely shows) and is left out. Tiles are written in the layout ingest reads (`Positive/`, `Negative/`),
named `<photo>_y<row>_x<column>.png` so that `TILE_GROUP_PATTERN` groups every tile with its photo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from pydantic import Field

from crack_pipeline.vision.data.image_io import TOO_SMALL, ImageRejected
from crack_pipeline.vision.data.synthetic import NEGATIVE_FOLDER, POSITIVE_FOLDER
from crack_pipeline.vision.data.tile_grid import Overlap, tile_grid
from crack_pipeline.vision.settings import settings_dataclass

TILE_GROUP_PATTERN = r"^(.+)_y\d+_x\d+$"  # ingest.group_pattern for these tiles: the photo they come from


@settings_dataclass
class MaskTileConfig:
    tile_size: int = Field(96, ge=8)  # the tile side in photo pixels: the scale the model is to see
    overlap: Overlap = 0.0  # share of a tile its neighbour covers too
    central_fraction: float = Field(0.5, gt=0, le=1)  # side of the central square, as a share of the tile
    min_crack_pixels: int = Field(8, ge=1)  # crack pixels in that square that make the tile a crack

    def __post_init__(self):
        # Else no tile could be a crack: a patch set of clean tiles only, written and then never replaced.
        side = self.tile_size - 2 * central_margin(self.tile_size, self.central_fraction)
        if side * side < self.min_crack_pixels:
            raise ValueError(
                f"no tile could be a crack: the central {side}x{side} px of a {self.tile_size}-px tile "
                f"(central_fraction {self.central_fraction}) hold fewer than min_crack_pixels "
                f"{self.min_crack_pixels}; raise central_fraction or lower min_crack_pixels"
            )


def central_margin(side: int, central_fraction: float) -> int:
    """Pixels between a tile's edge and its central square, on a tile side of `side`."""
    return round(side * (1 - central_fraction) / 2)


@dataclass(frozen=True)
class TileLabel:
    y: int
    x: int
    label: str | None  # "crack", "no_crack", or None: crack only near the border, left out
    crack_pixels: int  # in the whole tile
    central_crack_pixels: int


def label_tiles(mask: np.ndarray, config: MaskTileConfig) -> list[TileLabel]:
    """One label per tile of the grid covering `mask` (HxW bool), row-major."""
    grid = tile_grid(*mask.shape, config.tile_size, config.overlap)
    margin_y = central_margin(grid.tile_height, config.central_fraction)
    margin_x = central_margin(grid.tile_width, config.central_fraction)
    labels = []
    for y, x in grid.origins():
        tile = mask[y : y + grid.tile_height, x : x + grid.tile_width]
        central = int(
            tile[margin_y : grid.tile_height - margin_y, margin_x : grid.tile_width - margin_x].sum()
        )
        total = int(tile.sum())
        label = "crack" if central >= config.min_crack_pixels else "no_crack" if total == 0 else None
        labels.append(TileLabel(y, x, label, total, central))
    return labels


def tile_stem(photo: str) -> str:
    """A file-name-safe stem for a photo's tiles; a photo in a subfolder keeps it, joined by `__`."""
    stem = str(PurePosixPath(photo).with_suffix("")).replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


def cut_labelled_tiles(
    photo: str, image: np.ndarray, mask: np.ndarray, config: MaskTileConfig
) -> tuple[dict[str, np.ndarray], list[TileLabel]]:
    """The labelled tiles of one photo as {relative path in the patch set: HxWx3 uint8}, and every tile's
    label (left-out tiles too). `image` and `mask` must have the same height and width."""
    if image.shape[:2] != mask.shape:
        raise ImageRejected(
            "size_mismatch",
            f"the mask is {mask.shape[1]}x{mask.shape[0]}, the photo {image.shape[1]}x{image.shape[0]}",
        )
    if min(mask.shape) < config.tile_size:  # its one tile would be the photo, not square: ingest squashed it
        raise ImageRejected(
            TOO_SMALL,
            f"{mask.shape[1]}x{mask.shape[0]} has a side under a tile's {config.tile_size} px "
            "(mask_tiles.tiling.tile_size)",
        )
    labels = label_tiles(mask, config)
    side = config.tile_size, config.tile_size
    folder = {"crack": POSITIVE_FOLDER, "no_crack": NEGATIVE_FOLDER}
    stem = tile_stem(photo)
    tiles = {
        f"{folder[t.label]}/{stem}_y{t.y:05d}_x{t.x:05d}.png": image[t.y : t.y + side[0], t.x : t.x + side[1]]
        for t in labels
        if t.label is not None
    }
    return tiles, labels
