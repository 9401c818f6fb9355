"""What an inspector measures on a crack mask: per crack its length, width, direction, box, severity band.

Conventions, each checked on drawn bands in tests/test_crack_measurements.py:

- A crack is an 8-connected component of the mask; its skeleton is `skimage.morphology.skeletonize`'s.
  d is the Euclidean distance from a skeleton pixel to the nearest pixel outside the crack (the photo's
  border counts as outside).
- Spurs are pruned first: side branches from a free end of the skeleton to a junction that are shorter,
  counting their reach on to the mask's edge (d - 1/2 at their end), than 2 d at the junction, about the
  crack's width there. Rough mask edges and the corners of blunt ends sprout them; a real branch is
  longer than the crack is wide. When every branch at a junction is that short, the longest stays.
- Length runs along the skeleton: each step between neighbouring skeleton pixels counts its projection
  onto the crack's local direction (a line fitted to the skeleton pixels within `DIRECTION_RADIUS` px),
  so the staircase of a digital line adds up to the line's own length at any slant, where 1 px per axial
  step and sqrt(2) per diagonal one would overstate it by up to 8 % (at 22.5 degrees). Past each free end
  the length runs on to the mask's edge straight ahead: the thinning stops the skeleton up to about half
  a width short of it, or bends it to a corner of a blunt end. Straight bands 100 px long, 1-7 px wide,
  at any angle measure within 2 % of their length (within ~2 px wherever they lie on the pixel grid).
- Width at a skeleton pixel is 2 d - 1: the widest run of crack pixels centred on it. Bands of odd width
  w measure w along the axes; even widths have no centre pixel and measure w - 1; slanting bands from
  1.5 px less (their staircase edges reach closer to the skeleton) to 0.5 px more. Mean and max are over
  the skeleton pixels. (Area / length would read a straight band's width exactly, but every bump of a
  ragged thresholded outline adds to it: 7-px bands with bumps read 8.7.)
- Boxes are x0, y0 (first pixel) to x1, y1 (one past the last), as in `regions.crack_boxes`.

Speed: the whole photo is labelled once; each crack is thinned within its box, and all else works on lists
of skeleton and edge pixels, so a 12-MP mask with a dozen cracks takes ~0.15-0.25 s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from crack_pipeline.vision.data.masks import as_crack_mask
from crack_pipeline.vision.errors import InputError

# Upper bounds of the max width. 0.3 mm is Eurocode 2's usual crack-width limit for reinforced concrete;
# 1 and 3 mm split what lies above it coarsely: tune them to the asset and its standard.
MM_BANDS: dict[str, float] = {"hairline": 0.3, "fine": 1.0, "medium": 3.0, "wide": math.inf}
# Without a scale: a hairline is one pixel wide, at the photo's resolution limit; the rest are the mm
# bands at ~0.25 mm/px, a 12-MP photo of a metre of wall.
PX_BANDS: dict[str, float] = {"hairline": 1.0, "fine": 4.0, "medium": 12.0, "wide": math.inf}
MIN_PIXELS = 10  # specks this small in a thresholded map are noise, not a crack anyone could measure
# px: the skeleton pixels a local direction is fitted to. Wide enough that the bend of a skeleton's end
# to a corner barely turns it: over 1,736 placements of straight bands 100 px long, the worst error was
# 3.2 px at 4 px, 2.3 px at 8 (one placement over 2 px; s.d. 0.5 px). Rings of radius 15 lose < 1 %.
DIRECTION_RADIUS = 8.0

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

_EIGHT = np.ones((3, 3), dtype=bool)


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
        crack = labels[top:bottom, left:right] == number
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


def _steps(rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps between 8-neighbouring pixels (given in row-major order) as two arrays of indices, each
    step once.

    A diagonal step only where no two axial steps already join the pair: else a corner of three pixels
    would be walked twice and would look like a junction."""
    stride = int(columns.max()) + 3  # a key per pixel of the padded frame: neighbours never wrap round
    keys = (rows + 1) * stride + columns + 1

    def neighbour(dy: int, dx: int) -> np.ndarray:
        """Index of each pixel's neighbour at (dy, dx); -1 where there is none."""
        target = keys + dy * stride + dx
        found = np.minimum(np.searchsorted(keys, target), len(keys) - 1)
        return np.where(keys[found] == target, found, -1)

    east, south, west = neighbour(0, 1), neighbour(1, 0), neighbour(0, -1)
    south_east, south_west = neighbour(1, 1), neighbour(1, -1)
    pairs = [
        (east >= 0, east),
        (south >= 0, south),
        ((south_east >= 0) & (east < 0) & (south < 0), south_east),
        ((south_west >= 0) & (west < 0) & (south < 0), south_west),
    ]
    first = np.concatenate([np.flatnonzero(where) for where, _ in pairs])
    second = np.concatenate([to[where] for where, to in pairs])
    return first, second


def _spurs(first: np.ndarray, second: np.ndarray, lengths: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Pixels of the spurs to prune (bool per pixel): branches from a free end to a junction whose length
    (their step `lengths` plus the end's reach, `inside` - 1/2) is under 2 `inside` at the junction. When
    no other branch leaves that junction, the longest of them stays.

    All free ends walk at once, one step per round, until a junction, another free end, or past the widest
    width (no spur is that long)."""
    count = len(inside)
    degree = np.bincount(first, minlength=count) + np.bincount(second, minlength=count)
    nodes, others = np.concatenate([first, second]), np.concatenate([second, first])
    order = np.argsort(nodes, kind="stable")
    others, step_lengths = others[order], np.concatenate([lengths, lengths])[order]
    offsets = np.cumsum(degree) - degree  # where each pixel's neighbours start in `others`
    ends = np.flatnonzero(degree == 1)
    current, previous = ends.copy(), np.full(len(ends), -1)
    travelled = inside[ends] - 0.5
    junction = np.full(len(ends), -1)
    limit = 2 * inside.max()
    walked, walkers = [], []
    active = np.arange(len(ends))
    while active.size:
        here = current[active]
        walked.append(here)
        walkers.append(active)
        # A pixel on a branch has two neighbours: on to the one it did not come from.
        slot = offsets[here] + (others[offsets[here]] == previous[active])
        there = others[slot]
        travelled[active] += step_lengths[slot]
        previous[active], current[active] = here, there
        reached = degree[there] >= 3
        junction[active[reached]] = there[reached]
        active = active[~reached & (degree[there] == 2) & (travelled[active] < limit)]
    spur = (junction >= 0) & (travelled < 2 * inside[junction])
    # Keep the longest spur of a junction that would otherwise be left with no branch at all.
    spurs_at = np.bincount(junction[spur], minlength=count)
    by_length = np.flatnonzero(spur)[np.lexsort((-travelled[spur], junction[spur]))]
    longest = by_length[np.r_[True, np.diff(junction[by_length]) != 0]] if len(by_length) else by_length
    alone = longest[spurs_at[junction[longest]] == degree[junction[longest]]]
    spur[alone] = False
    pruned = np.zeros(count, dtype=bool)
    for here, active in zip(walked, walkers, strict=True):
        pruned[here[spur[active]]] = True
    return pruned


def _directions(rows: np.ndarray, columns: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit vector (dy, dx), shape (n, 2), of the local direction at each skeleton pixel: the main axis of
    the pixels of the same crack (`labels`) within `DIRECTION_RADIUS`, taken about the pixel itself."""
    points = np.column_stack([rows, columns]).astype(np.float64)
    pairs = cKDTree(points).query_pairs(DIRECTION_RADIUS, output_type="ndarray")
    pairs = pairs[labels[pairs[:, 0]] == labels[pairs[:, 1]]]
    dy, dx = (points[pairs[:, 1]] - points[pairs[:, 0]]).T
    both = np.concatenate([pairs[:, 0], pairs[:, 1]])

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(both, weights=np.concatenate([values, values]), minlength=len(points))

    angle = 0.5 * np.arctan2(2 * total(dx * dy), total(dx * dx) - total(dy * dy))
    return np.column_stack([np.sin(angle), np.cos(angle)])


def _reach(
    labels: np.ndarray, ends: np.ndarray, cracks: np.ndarray, ahead: np.ndarray, inside: np.ndarray
) -> np.ndarray:
    """How far each crack runs on beyond its free ends (`ends`, (n, 2) rows and columns) along the unit
    vectors `ahead` ((n, 2) dy, dx): to half a pixel past the farthest pixel of the crack (label `cracks`)
    whose centre lies within half a pixel of the line ahead, at most 2 `inside` + 1 px on. The thinning
    can leave the skeleton's end a pixel or two short of the crack's, or bent to a corner of a blunt end."""
    side = int(np.ceil(2 * inside.max(initial=0.0) + 1))
    offsets = np.mgrid[-side : side + 1, -side : side + 1].reshape(2, -1)
    along = ahead @ offsets
    across = np.abs(ahead[:, [1]] * offsets[0] - ahead[:, [0]] * offsets[1])
    y, x = ends[:, [0]] + offsets[0], ends[:, [1]] + offsets[1]
    near = (along <= 2 * inside[:, None] + 1) & (across <= 0.5)
    near &= (y >= 0) & (y < labels.shape[0]) & (x >= 0) & (x < labels.shape[1])
    near[near] = labels[y[near], x[near]] == np.broadcast_to(cracks[:, None], near.shape)[near]
    return np.where(near, along, 0.0).max(axis=1) + 0.5


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


def _bands(width_bands: Mapping[str, float] | None, in_mm: bool) -> tuple[list[str], np.ndarray]:
    bands = dict(width_bands if width_bands is not None else MM_BANDS if in_mm else PX_BANDS)
    bounds = np.asarray(list(bands.values()), dtype=np.float64)
    if not len(bands) or np.any(np.diff(bounds) <= 0):
        raise InputError(f"width_bands must map names to increasing upper bounds, got {bands}")
    return list(bands), bounds


def _measure(mask: np.ndarray, min_pixels: int) -> pd.DataFrame:
    """The px columns but `crack`, one row per component of at least `min_pixels`, in label order."""
    labels, count = ndimage.label(mask, structure=_EIGHT)
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
    inside = cKDTree(outside).query(np.column_stack([rows, columns]))[0]

    first, second = _steps(rows, columns)
    diagonal = (rows[first] != rows[second]) & (columns[first] != columns[second])
    kept = ~_spurs(first, second, np.where(diagonal, math.sqrt(2), 1.0), inside)
    rows, columns, cracks, inside = rows[kept], columns[kept], cracks[kept], inside[kept]
    renumbered = np.cumsum(kept) - 1
    both_kept = kept[first] & kept[second]
    first, second = renumbered[first[both_kept]], renumbered[second[both_kept]]

    along = _directions(rows, columns, cracks)
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
    reach[ends] = _reach(
        labels, np.column_stack([rows[ends], columns[ends]]), cracks[ends], ahead, inside[ends]
    )

    length = np.bincount(cracks, weights=reach, minlength=count)
    length += np.bincount(cracks[first], weights=projected, minlength=count)
    widths = 2 * inside - 1
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
) -> pd.DataFrame:
    """One row per crack of an HxW bool `mask`, longest first; components under `min_pixels` are left out.

    Columns: `crack` (1..n), `length_px`, `mean_width_px`, `max_width_px`, `orientation_deg`, the box
    `x0, y0, x1, y1` and `area_px` (see the module's conventions); with `mm_per_pixel` also `length_mm`,
    `mean_width_mm`, `max_width_mm`; last `severity`, the first of the ordered `width_bands` (name ->
    upper bound of the max width, in mm with a scale, else px) whose bound the max width does not exceed,
    the last band taking all above. The defaults are `MM_BANDS` and `PX_BANDS`. An empty mask gives an
    empty frame with the same columns.
    """
    mask = as_crack_mask(mask)
    if mm_per_pixel is not None and not (math.isfinite(mm_per_pixel) and mm_per_pixel > 0):
        raise InputError(f"mm_per_pixel must be a positive number, got {mm_per_pixel}")
    names, bounds = _bands(width_bands, in_mm=mm_per_pixel is not None)
    table = _measure(mask, max(min_pixels, 1))
    table = table.sort_values("length_px", ascending=False, kind="stable", ignore_index=True)
    table.insert(0, "crack", np.arange(1, len(table) + 1))
    table = table.astype({column: np.int64 if column in _COUNTS else np.float64 for column in PX_COLUMNS})
    max_width = table["max_width_px"].to_numpy(dtype=np.float64)
    if mm_per_pixel is not None:
        for column in MM_COLUMNS:
            table[column] = table[column.replace("_mm", "_px")] * mm_per_pixel
        max_width = max_width * mm_per_pixel
    # The last band is open-ended whatever its bound: only the ones before it are searched.
    table["severity"] = [names[band] for band in np.searchsorted(bounds[:-1], max_width)]
    return table


def image_summary(measurements: pd.DataFrame) -> dict[str, int | float | str | None]:
    """One image's row from its `measure_cracks` table: `count`, `total_length_px`, `max_width_px` (and
    their `_mm` twins when measured), `worst_severity` (the widest crack's band; None without cracks)."""
    summary: dict[str, int | float | str | None] = {"count": len(measurements)}
    for unit in ("px", "mm"):
        if f"length_{unit}" in measurements:
            summary[f"total_length_{unit}"] = float(measurements[f"length_{unit}"].sum())
            summary[f"max_width_{unit}"] = (
                float(measurements[f"max_width_{unit}"].max()) if len(measurements) else 0.0
            )
    widest = measurements["max_width_px"].to_numpy()
    summary["worst_severity"] = measurements["severity"].iloc[int(np.argmax(widest))] if len(widest) else None
    return summary
