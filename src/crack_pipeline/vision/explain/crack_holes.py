"""The holes darkness leaves in a crack's mask, filled before it is measured: pinholes, and slits along a
wide crack's middle (round either the skeleton loops, and the crack reads too long and too thin); the
surface between the cracks of a ring or a mesh stays."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

# A hole this many times as long as wide, at most this share of the width filled, is a slit (`_slits`).
SLIT_ELONGATION = 10
SLIT_SHARE = 0.25
# A small hole at most this share of the crack's widest across is a pinhole wherever it lies. CFD's drawn
# islands between a fork's branches are 0.44 to 0.86 of it; a pinhole where the crack is a little wider
# than elsewhere (3 px in a 25-px crack 27 px there), refused as widening it, read the crack 14% long.
PINHOLE_SHARE = 1 / 3


def _slits(crack: np.ndarray, holes: np.ndarray, count: int, candidates: np.ndarray) -> np.ndarray:
    """Which `candidates` of the `count` `holes` of `crack` (labels 1..count) are slits along a wide crack's
    middle, where darkness left its core out: `SLIT_ELONGATION` times as long as wide or more (area /
    width^2, width 2 d - 1 at the deepest pixel), `SLIT_SHARE` of the crack's width with the hole filled or
    less. None of the 75 holes over a pinhole in CFD's drawn masks is either: 6.2 times at most, 0.33 or more.
    First by a width never over theirs (chessboard distances): a mesh's cells (12 MP: 8.3 s -> 1.8 s)."""
    numbers, areas = np.arange(1, count + 1), np.bincount(holes.ravel(), minlength=count + 1)[1:]
    deepest = _deepest(ndimage.distance_transform_cdt(holes > 0, "chessboard"), holes, count)
    slits = candidates & (areas >= SLIT_ELONGATION * (2 * deepest - 1) ** 2)
    boxes = ndimage.find_objects(holes)
    for number in numbers[slits]:
        width = 2 * ndimage.distance_transform_edt(np.pad(holes[boxes[number - 1]] == number, 1)).max() - 1
        margin = int(width / SLIT_SHARE) + 2  # the crack's width round it, at most SLIT_SHARE of which it is
        rows, columns = (slice(max(part.start - margin, 0), part.stop + margin) for part in boxes[number - 1])
        hole = holes[rows, columns] == number
        filled = ndimage.distance_transform_edt(np.pad(crack[rows, columns] | hole, 1))[1:-1, 1:-1]
        slits[number - 1] = areas[number - 1] >= SLIT_ELONGATION * width**2 and width <= SLIT_SHARE * (
            2 * filled[hole].max() - 1
        )
    return slits


def without_pinholes(crack: np.ndarray) -> np.ndarray:
    """`crack` (HxW bool) with its pinholes (a disc of its widest width covers them, and filled they leave
    it no wider or are narrow: `_pinholes`) and slits (`_slits`)
    filled: round them the skeleton looped, a 25-px crack's mean width read 22.2 with one pinhole, a 9-px
    crack 900 px long with 2 x 70-px slits 1,432 px long. The surface a ring or a mesh of thin cracks
    encloses stays (filling every hole no wider than the crack's widest filled the surface between cracks
    in 12 of CFD's 118 drawn masks: a 9-px crack read 15)."""
    holes, count = ndimage.label(_enclosed(crack))
    if not count:
        return crack
    widest = 2 * ndimage.distance_transform_edt(np.pad(crack, 1)).max() - 1
    small = np.bincount(holes.ravel())[1:] <= math.pi / 4 * widest**2
    numbers = np.arange(1, count + 1)
    pinholes = small & _pinholes(crack, holes, count, small, widest)
    return crack | np.isin(holes, numbers[pinholes | _slits(crack, holes, count, ~small)])


def _enclosed(crack: np.ndarray) -> np.ndarray:
    """The pixels outside the HxW bool `crack` that no 4-connected path outside it joins to the border: what
    `ndimage.binary_fill_holes` fills, found by one labelling (it grows the outside in from the border a
    pixel a step: 62 -> 13 ms on a 1-MP box of three cracks)."""
    outside, count = ndimage.label(~crack)
    enclosed = np.ones(count + 1, dtype=bool)
    enclosed[0] = False
    enclosed[np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]])] = False
    return enclosed[outside]


def _pinholes(
    crack: np.ndarray, holes: np.ndarray, count: int, candidates: np.ndarray, widest: float
) -> np.ndarray:
    """Which `candidates` of the `count` `holes` of `crack` are pinholes: filled, they leave it no wider
    than its `widest` (1 px spare), or they are at most `PINHOLE_SHARE` of it across. The surface between
    two branches that part round a small island and rejoin is neither (5-px branches round a 4-px island
    read 13 px wide)."""
    numbers = np.arange(1, count + 1)
    pinholes = _widths(crack | np.isin(holes, numbers[candidates]), holes, count) <= widest + 1
    wider = candidates & ~pinholes
    if wider.any():  # rare (7 holes in CFD's 118 drawn masks): a second transform of a 12-MP mask, 1 s
        pinholes |= wider & (_widths(np.isin(holes, numbers[wider]), holes, count) <= PINHOLE_SHARE * widest)
    return pinholes


def _widths(mask: np.ndarray, holes: np.ndarray, count: int) -> np.ndarray:
    """The width of `mask` (2 d - 1) at the deepest pixel of each of the `count` `holes`."""
    return 2 * _deepest(ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1], holes, count) - 1


def _deepest(depth: np.ndarray, holes: np.ndarray, count: int) -> np.ndarray:
    """The highest `depth` (HxW) of each of the `count` `holes` (labels 1..count), by the holes' pixels
    alone (np.maximum.at over every pixel of a crack's box took 7 ms a box)."""
    return np.asarray(ndimage.maximum(depth, holes, np.arange(1, count + 1)))
