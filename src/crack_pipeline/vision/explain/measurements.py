"""What an inspector measures on a crack mask: per crack its length, width, direction, box, severity band.

Conventions, each checked on drawn bands in tests/test_crack_measurements.py:

- A crack is an 8-connected component of the mask, or several at most `gap` px apart (a crack traced in
  pieces, as an inspector counts it: one); its skeleton is `skimage.morphology.skeletonize`'s.
  d is the Euclidean distance from a skeleton pixel to the nearest pixel outside the crack (the photo's
  border counts as outside).
- Spurs are pruned first: side branches from a free end of the skeleton to a junction that are shorter,
  counting their reach on to the mask's edge (d - 1/2 at their end), than 3 d at the junction
  (`skeleton.SPUR_WIDTHS`), about one and a half times the crack's width there. Rough mask edges and the
  corners of blunt ends sprout them; a real branch is longer. When every branch at a junction is that
  short, the longest stays.
- Length runs along the skeleton: each step between neighbouring skeleton pixels counts its projection
  onto the crack's local direction (a line fitted to the skeleton pixels within `DIRECTION_RADIUS` px),
  so the staircase of a digital line adds up to the line's own length at any slant, where 1 px per axial
  step and sqrt(2) per diagonal one would overstate it by up to 8 % (at 22.5 degrees). Past each free end
  the length runs on to the mask's edge straight ahead: the thinning stops the skeleton up to about half
  a width short of it, or bends it to a corner of a blunt end. Straight bands 100 px long, 1-7 px wide,
  at any angle measure within 2 % of their length (within ~2 px wherever they lie on the pixel grid).
- Width at a skeleton pixel is the crest of the crack's height above its edge across it: 2 d - 1, the
  widest run of crack pixels centred on it, when the pixel is on the midline, up to 1 px more when the
  midline runs beside it (`skeleton.crest_widths`). Bands measure their width along the axes, even widths
  too (2 d - 1 read those 1 px thin); slanting bands from 1.5 px less (their staircase edges reach closer
  to the skeleton) to 0.5 px more; 1-px lines 1 at any slant. Mean and max are over the skeleton
  pixels. (Area / length would read a straight band's width exactly, but every bump of a ragged
  thresholded outline adds to it: 7-px bands with bumps read 8.7.)
- Boxes are x0, y0 (first pixel) to x1, y1 (one past the last), as in `regions.crack_boxes`.

Speed: the mask is labelled group by group of its pixels (mask_groups); each crack is thinned within its
box, and all else works on lists of skeleton and edge pixels, so a 12-MP mask with a dozen cracks takes
~0.15-0.25 s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from crack_pipeline.vision.data.mask_groups import CELL, joined_pieces, pixel_groups
from crack_pipeline.vision.data.masks import as_crack_mask
from crack_pipeline.vision.explain.crack_holes import without_pinholes
from crack_pipeline.vision.explain.severity import check_scale, severity_of
from crack_pipeline.vision.explain.skeleton import (
    SPUR_WIDTHS,
    crest_widths,
    local_directions,
    neighbour_steps,
    reach_beyond_ends,
    spur_pixels,
)

MIN_PIXELS = 10  # specks this small in a thresholded map are noise, not a crack anyone could measure

PX_COLUMNS = (
    "crack",
    "length_px",
    "mean_width_px",
    "max_width_px",
    "orientation_deg",
    "x0",
    "y0",
    "x1",
    "y1",
    "area_px",
)
MM_COLUMNS = ("length_mm", "mean_width_mm", "max_width_mm")
_COUNTS = ("crack", "x0", "y0", "x1", "y1", "area_px")


def _boxes(shape: tuple[int, int], pixels: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    """Each label's box as y0, x0, y1, x1 (one past the last), shape (count, 4), from the flat indices of
    the labelled `pixels` and their labels `owners` (what `ndimage.find_objects` gives, without another
    pass over the whole photo)."""
    rows, columns = np.divmod(pixels, shape[1])
    boxes = np.zeros((count, 4), dtype=np.int64)
    boxes[:, :2] = shape
    np.minimum.at(boxes[:, 0], owners, rows)
    np.minimum.at(boxes[:, 1], owners, columns)
    np.maximum.at(boxes[:, 2], owners, rows + 1)
    np.maximum.at(boxes[:, 3], owners, columns + 1)
    return boxes


def _crack_pixels(
    labels: np.ndarray, boxes: np.ndarray, numbers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The skeleton pixels of the cracks labelled `numbers`, row-major: their rows, columns and labels; and
    the pixels outside them that touch them side-on, (n, 2) rows and columns (the photo's border counts
    as outside). Each crack is skeletonised within its box: the thinning, pass after pass, then costs
    what the crack covers, not the whole photo."""
    bones, outside = [], []
    for number in numbers:
        top, left, bottom, right = boxes[number]
        crack = without_pinholes(labels[top:bottom, left:right] == number)
        rows, columns = np.divmod(np.flatnonzero(skeletonize(crack)), crack.shape[1])
        bones.append((rows + top, columns + left, np.full(len(rows), number)))
        padded = np.pad(crack, 1)
        touching = np.zeros_like(padded)
        touching[1:] |= padded[:-1]
        touching[:-1] |= padded[1:]
        touching[:, 1:] |= padded[:, :-1]
        touching[:, :-1] |= padded[:, 1:]
        rows, columns = np.divmod(np.flatnonzero(touching & ~padded), padded.shape[1])
        outside.append(np.column_stack([rows + top - 1, columns + left - 1]))
    rows, columns, cracks = (np.concatenate(part) for part in zip(*bones, strict=True))
    order = np.argsort(rows * labels.shape[1] + columns)
    return rows[order], columns[order], cracks[order], np.concatenate(outside)


def _orientations(rows: np.ndarray, columns: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Main direction of each crack's pixels in degrees in [0, 180): 0 horizontal, 90 vertical,
    counter-clockwise as seen on screen (up-right is 45); NaN for a single pixel."""
    pixels = np.bincount(labels, minlength=count)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = columns - (np.bincount(labels, weights=columns, minlength=count) / pixels)[labels]
        y = (np.bincount(labels, weights=rows, minlength=count) / pixels)[labels] - rows  # up is positive
    xx, xy, yy = (np.bincount(labels, weights=w, minlength=count) for w in (x * x, x * y, y * y))
    # Rounded first so that a horizontal crack's -1e-15 degrees reads 0, not 179.999...
    degrees = np.round(np.degrees(0.5 * np.arctan2(2 * xy, xx - yy)), 6) % 180.0
    return np.where(pixels >= 2, degrees, np.nan)


def _measure(
    mask: np.ndarray, min_pixels: int, gap: int, crest: bool = True, spurs: float = SPUR_WIDTHS
) -> pd.DataFrame:
    """The px columns but `crack`, one row per crack (`joined_pieces`) of at least `min_pixels`, in label
    order; widths `crest_widths`, else (`crest` false) 2 d - 1, as surveys begun before measured them;
    side branches under `spurs` d pruned (`skeleton.spur_pixels`)."""
    labels, count = joined_pieces(mask, gap)
    # Each 8-connected piece alone: a free end runs on within its own piece, never across the gap into the
    # next piece of its crack (that counted the gap, and more, as length).
    pieces = joined_pieces(mask, 0)[0] if gap else labels
    count += 1  # label 0 is the background
    pixels = np.flatnonzero(mask)
    owners = labels.ravel()[pixels]
    areas = np.bincount(owners, minlength=count)
    numbers = np.flatnonzero(areas >= min_pixels)  # never 0, the background: no mask pixel has it
    if not len(numbers):
        return pd.DataFrame(columns=PX_COLUMNS[1:])
    boxes = _boxes(mask.shape, pixels, owners, count)
    rows, columns, cracks, outside = _crack_pixels(labels, boxes, numbers)
    # The nearest pixel outside a crack touches it side-on (the pixel one step from it towards the
    # query is nearer, so inside): the distance transform, exactly, at the skeleton pixels only.
    outside_tree = cKDTree(outside)
    inside = outside_tree.query(np.column_stack([rows, columns]))[0]

    first, second = neighbour_steps(rows, columns)
    diagonal = (rows[first] != rows[second]) & (columns[first] != columns[second])
    kept = ~spur_pixels(first, second, np.where(diagonal, math.sqrt(2), 1.0), inside, spurs)
    rows, columns, cracks, inside = rows[kept], columns[kept], cracks[kept], inside[kept]
    renumbered = np.cumsum(kept) - 1
    both_kept = kept[first] & kept[second]
    first, second = renumbered[first[both_kept]], renumbered[second[both_kept]]

    along = local_directions(rows, columns, cracks)
    steps = np.column_stack([rows[second] - rows[first], columns[second] - columns[first]])
    projected = 0.5 * (
        np.abs((steps * along[first]).sum(axis=1)) + np.abs((steps * along[second]).sum(axis=1))
    )
    # Past each free end the crack runs on to the mask's edge; a lone pixel, both ends of its crack,
    # reaches half a pixel short of the nearest outside pixel's centre on each side.
    degree = np.bincount(first, minlength=len(rows)) + np.bincount(second, minlength=len(rows))
    reach = np.where(degree == 0, 2 * (inside - 0.5), 0.0)
    ends = np.flatnonzero(degree == 1)
    # A free end's one neighbour: the sum of its neighbours' indices.
    neighbours = np.bincount(first, weights=second, minlength=len(rows))
    neighbours += np.bincount(second, weights=first, minlength=len(rows))
    inward = neighbours[ends].astype(np.int64)
    outward = np.column_stack([rows[ends] - rows[inward], columns[ends] - columns[inward]])
    ahead = along[ends] * np.sign((along[ends] * outward).sum(axis=1))[:, None]
    reach[ends] = reach_beyond_ends(
        pieces,
        np.column_stack([rows[ends], columns[ends]]),
        pieces[rows[ends], columns[ends]],
        ahead,
        inside[ends],
    )

    length = np.bincount(cracks, weights=reach, minlength=count)
    length += np.bincount(cracks[first], weights=projected, minlength=count)
    widths = (
        crest_widths(mask, outside_tree, np.column_stack([rows, columns]), inside, along, (first, second))
        if crest
        else 2 * inside - 1  # as surveys begun before crest widths measured them
    )
    mean_width = np.bincount(cracks, weights=widths, minlength=count) / np.maximum(
        np.bincount(cracks, minlength=count), 1
    )
    max_width = np.zeros(count)
    np.maximum.at(max_width, cracks, widths)
    return pd.DataFrame(
        {
            "length_px": length[numbers],
            "mean_width_px": mean_width[numbers],
            "max_width_px": max_width[numbers],
            "orientation_deg": _orientations(rows, columns, cracks, count)[numbers],
            "x0": boxes[numbers, 1],
            "y0": boxes[numbers, 0],
            "x1": boxes[numbers, 3],
            "y1": boxes[numbers, 2],
            "area_px": areas[numbers],
        }
    )


def measure_cracks(
    mask: np.ndarray,
    mm_per_pixel: float | None = None,
    width_bands: Mapping[str, float] | None = None,
    min_pixels: int = MIN_PIXELS,
    gap: int = 0,
    crest: bool = True,
    spurs: float = SPUR_WIDTHS,
) -> pd.DataFrame:
    """One row per crack of an HxW bool `mask`, longest first; components under `min_pixels` are left out.
    A crack is a component, with those at most `gap` px from it (a crack traced in pieces is one).

    Columns: `crack` (1..n), `length_px`, `mean_width_px`, `max_width_px`, `orientation_deg`, the box
    `x0, y0, x1, y1` and `area_px` (see the module's conventions); with `mm_per_pixel` also `length_mm`,
    `mean_width_mm`, `max_width_mm`; last `severity`, the first of the ordered `width_bands` (name ->
    upper bound of the max width, in mm with a scale, else px) whose bound the max width does not exceed,
    the last band taking all above (`severity.severity_of`). An empty mask gives an empty frame with the
    same columns. Without `crest`, widths are 2 d - 1, as a survey begun before crest widths goes on;
    `spurs` 2, side branches pruned under 2 d, as one begun before 3 d goes on."""
    mask = as_crack_mask(mask)
    check_scale(mm_per_pixel)
    table = _measure(mask, max(min_pixels, 1), gap, crest, spurs)
    table = table.sort_values("length_px", ascending=False, kind="stable", ignore_index=True)
    table.insert(0, "crack", np.arange(1, len(table) + 1))
    table = table.astype({column: np.int64 if column in _COUNTS else np.float64 for column in PX_COLUMNS})
    max_width = table["max_width_px"].to_numpy(dtype=np.float64)
    if mm_per_pixel is not None:
        for column in MM_COLUMNS:
            table[column] = table[column.replace("_mm", "_px")] * mm_per_pixel
        max_width = max_width * mm_per_pixel
    table["severity"] = severity_of(max_width, width_bands, in_mm=mm_per_pixel is not None)
    return table


def listed_cracks(mask: np.ndarray, gap: int, **measuring: Any) -> pd.DataFrame:
    """The cracks of a crack mask as crack_measurements.csv lists them, which the crack scores count and
    measure too: every piece (the mask left out its specks, by crack_masks.min_pixels and min_length), those
    at most `gap` px apart one crack; `measuring`: measure_cracks' other settings."""
    return measure_cracks(mask, min_pixels=1, gap=gap, **measuring)


def without_short_cracks(mask: np.ndarray, shortest: float, gap: int = 0) -> np.ndarray:
    """`mask` (HxW bool) without its cracks (pieces at most `gap` px apart one) shorter than `shortest` px:
    specks. Judged group by group of its pixels (pixel_groups: a crack never spans two)."""
    kept = np.zeros(mask.shape, dtype=bool)
    for box, own in pixel_groups(mask, max(gap + 1, CELL)).each(mask):
        kept[box] |= _without_short_in_group(own, shortest, gap)
    return kept


def _without_short_in_group(mask: np.ndarray, shortest: float, gap: int) -> np.ndarray:
    """`without_short_cracks` of one group. A crack of `shortest`^2 pixels or more is no shorter than it is
    wide, so only the pieces under that are judged, each in a window round it (joining every piece of a
    12-MP photo took 0.2 s): one joined to a larger piece stays, one alone is measured; a chain of such
    pieces only, on the whole group."""
    pieces, count = joined_pieces(mask, 0)
    areas = np.bincount(pieces.ravel(), minlength=count + 1)
    kept, boxes = np.arange(count + 1) > 0, ndimage.find_objects(pieces)  # by piece; 0: no crack
    reach = 2 * (gap + 1)  # where pieces joined to it lie: each grown by up to gap + 1
    for number in np.flatnonzero(areas[1:] < shortest**2) + 1:
        window = tuple(slice(max(part.start - reach, 0), part.stop + reach) for part in boxes[number - 1])
        joined, own = joined_pieces(mask[window], gap)[0], pieces[window] == number
        with_it = np.unique(pieces[window][joined == joined[own][0]])
        if len(with_it) == 1:
            kept[number] = _length(pieces[boxes[number - 1]] == number, gap) >= shortest
        elif not (areas[with_it] >= shortest**2).any():
            return _without_short_joined(mask, shortest, gap)
    return kept[pieces]


def _without_short_joined(mask: np.ndarray, shortest: float, gap: int) -> np.ndarray:
    """`without_short_cracks`, every piece joined over the whole mask first."""
    labels, count = joined_pieces(mask, gap)
    kept, boxes = np.arange(count + 1) > 0, ndimage.find_objects(labels)
    for number in np.flatnonzero(np.bincount(labels.ravel(), minlength=count + 1)[1:] < shortest**2) + 1:
        kept[number] = _length(labels[boxes[number - 1]] == number, gap) >= shortest
    return kept[labels]


def _length(crack: np.ndarray, gap: int) -> float:
    """The length of the one crack `crack` (HxW bool, its box) holds, with a margin round it: its width, and
    so its spurs, are read from the pixels outside; its widths are not wanted (crest=False: the cheaper)."""
    return float(_measure(np.pad(crack, 2), 1, gap, crest=False)["length_px"].sum())
