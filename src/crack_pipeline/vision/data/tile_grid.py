"""A photo covered by square tiles: where each tile starts. Plain arithmetic, shared by whole-photo
explanations and by patch sets cut from masked photos."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import AfterValidator

# The most a tile's neighbour may cover of it. Tiles per photo grow as 1 / (1 - overlap)^2: 0.75 already
# makes up to 16 times those of no overlap (187 tiles of 96 px from one 480x320 CFD photo, not 20), each
# pixel in 16 to 25 of them (the starts are spread evenly, a little closer than a quarter tile); a typed
# 0.99 made 86,625, every one held in memory (a 12-MP photo: 2.7 million tiles of 227 px).
MAX_OVERLAP = 0.75


def checked_overlap(overlap: float) -> float:
    """`overlap` when from 0 to `MAX_OVERLAP`, else a `ValueError` that says why the bound is there."""
    if not 0 <= overlap <= MAX_OVERLAP:  # NaN fails this too
        raise ValueError(
            f"a share of the tile from 0 to {MAX_OVERLAP} (got {overlap}): a photo's tiles grow as "
            f"1 / (1 - overlap)^2, and {MAX_OVERLAP} already puts each pixel in 16 tiles or more (a 12-MP "
            "photo in 227-px tiles: 252 without overlap, 3,519 at 0.75, 2.7 million at 0.99, all in memory)"
        )
    return overlap


# An overlap setting: a field of this type names the setting (`tiling.overlap`) and says why the bound
# (pydantic's own `le=` said only "Input should be less than or equal to 0.75").
Overlap = Annotated[float, AfterValidator(checked_overlap)]


@dataclass(frozen=True)
class TileGrid:
    """Tiles of `tile_height` x `tile_width` at every (y, x) in `ys` x `xs`, row-major, covering the photo."""

    height: int
    width: int
    tile_height: int
    tile_width: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns of tiles."""
        return len(self.ys), len(self.xs)

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def origins(self) -> list[tuple[int, int]]:
        return [(y, x) for y in self.ys for x in self.xs]


def _starts(length: int, tile: int, overlap: float) -> tuple[int, ...]:
    """Tile starts from 0 to `length - tile`, evenly spaced, adjacent tiles sharing at least `overlap`."""
    if length <= tile:
        return (0,)
    stride = max(1, math.floor(tile * (1 - overlap)))
    count = math.ceil((length - tile) / stride) + 1
    return tuple(int(s) for s in np.linspace(0, length - tile, count).round())


def tile_grid(height: int, width: int, tile_size: int, overlap: float) -> TileGrid:
    """The grid covering a `height` x `width` photo with square tiles of `tile_size` sharing `overlap`
    (a fraction of the tile). A side shorter than a tile gets one tile of that side's length, so a photo
    smaller than a tile is one tile: the whole photo, as a patch."""
    if tile_size < 1:
        raise ValueError(f"tile size must be a positive number of pixels, got {tile_size}")
    checked_overlap(overlap)
    tile_height, tile_width = min(tile_size, height), min(tile_size, width)
    return TileGrid(
        height=height,
        width=width,
        tile_height=tile_height,
        tile_width=tile_width,
        ys=_starts(height, tile_height, overlap),
        xs=_starts(width, tile_width, overlap),
    )
