"""Walking a crack's skeleton: its pixels' neighbour steps, the spurs to prune, the local direction at
each pixel, the width across it and how far the crack runs on past its free ends. Plain arrays of
skeleton pixels in, arrays out (measurements.py turns them into lengths and widths)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

# px: the skeleton pixels a local direction is fitted to. Wide enough that the bend of a skeleton's end
# to a corner barely turns it: over 1,736 placements of straight bands 100 px long, the worst error was
# 3.2 px at 4 px, 2.3 px at 8 (one placement over 2 px; s.d. 0.5 px). Rings of radius 15 lose < 1 %.
DIRECTION_RADIUS = 8.0
# Side branches shorter than this many d at their junction (d about half the crack's width there) are
# spurs. 2 (before 2026-12-07) counted the twigs a ragged thresholded outline sprouts: CFD's masks measured
# 3.6 % longer than with 3, their drawn masks 0.3 %; median length error CFD 0.306 -> 0.285, the synthetic
# split 0.076 -> 0.063 (README, "Twigs are not length").
SPUR_WIDTHS = 3.0


def neighbour_steps(rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def spur_pixels(
    first: np.ndarray,
    second: np.ndarray,
    lengths: np.ndarray,
    inside: np.ndarray,
    widths: float = SPUR_WIDTHS,
) -> np.ndarray:
    """Pixels of the spurs to prune (bool per pixel): branches from a free end to a junction whose length
    (their step `lengths` plus the end's reach, `inside` - 1/2) is under `widths` x `inside` at the
    junction. When no other branch leaves that junction, the longest of them stays.

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
    limit = widths * inside.max()
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
    spur = (junction >= 0) & (travelled < widths * inside[junction])
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


def local_directions(rows: np.ndarray, columns: np.ndarray, labels: np.ndarray) -> np.ndarray:
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


def reach_beyond_ends(
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


def height_inside(mask: np.ndarray, outside: cKDTree, points: np.ndarray) -> np.ndarray:
    """How far inside the crack each of `points` ((n, 2) rows, columns, off the pixel grid) lies, its edge
    halfway between a crack pixel's centre and an outside one's: the distance to the nearest outside pixel
    centre (`outside`) - 1/2; -inf where the pixel nearest the point is not in `mask` (a point between a
    1-px line's pixels tells nothing of a crest beside them: it read 1.015 px wide at 30 degrees)."""
    nearest = np.rint(points).astype(np.int64)
    rows, columns = nearest.T
    found = (rows >= 0) & (rows < mask.shape[0]) & (columns >= 0) & (columns < mask.shape[1])
    found[found] = mask[rows[found], columns[found]]
    heights = np.full(len(points), -np.inf)
    heights[found] = outside.query(points[found])[0] - 0.5
    return heights


def crest_widths(
    mask: np.ndarray,
    outside: cKDTree,
    skeleton: np.ndarray,
    inside: np.ndarray,
    along: np.ndarray,
    steps: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Width at each skeleton pixel (`skeleton`, (n, 2) rows, columns; `inside` its d; `along` the local
    direction; `steps` the skeleton's neighbour steps). Across a band, its height above the edge falls
    1 px per px either side of the crest on its midline: from the height h0 = d - 1/2 at the pixel and h1
    1 px across it on the higher side, the crest is (h0 + h1 + 1) / 2 and the width twice that. 2 d - 1
    when the pixel is on the midline (an odd band), up to 1 px more when the midline runs beside it (an
    even band has no pixel on it, and 2 d - 1 read it 1 px thin). Each pixel takes the least of its own
    and its skeleton neighbours' (never under 2 d - 1): one pixel of a staircase's step read a 1-px line
    at 10 degrees 1.8 px wide, a junction's wider disc a 7-px Y 8.1."""
    across = np.column_stack([along[:, 1], -along[:, 0]])
    beside = np.maximum(
        height_inside(mask, outside, skeleton + across), height_inside(mask, outside, skeleton - across)
    )
    # The crest's rise over 2 d - 1 (h0 = d - 1/2), at most 1 px; under 0.02 px it is none: across an odd
    # band, 1 px at a slant of a few degrees off its midline reads a hair higher, and 3 px read 3.0004,
    # over a band's bound.
    rise = np.minimum(beside - (inside - 1.5), 1.0)
    widths = 2 * inside - 1 + np.where(rise > 0.02, rise, 0.0)
    first, second = steps
    least = widths.copy()
    np.minimum.at(least, first, widths[second])
    np.minimum.at(least, second, widths[first])
    return np.maximum(least, 2 * inside - 1)
