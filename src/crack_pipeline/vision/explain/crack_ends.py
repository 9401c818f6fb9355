"""Where a crack mask's cracks end, which way each end points, and the cone ahead of it.

Following a crack past the heatmap (crack_following) grew it by hysteresis over the whole surface round
it, so a crack that met a straight formwork joint ran on along the joint in both directions (on make run's
synthetic test split, 10,770 of the 11,909 pixels it added lay over 2 px from any true crack). A crack goes
on the way it was heading; a crack that meets a joint ends at it. Here each free end of a crack's skeleton
(spurs of a ragged edge pruned, as measurements does) gets the direction the crack leaves it in, from the
last stretch of skeleton before it, and a cone ahead of it: following looks only there. An end whose last
stretch is straight, and only that stretch, is a joint's (a piece of joint the mask took where a crack
meets it), not a crack's; a crack straight all along is followed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from crack_pipeline.vision.data.masks import padded_box
from crack_pipeline.vision.explain.crack_holes import without_pinholes
from crack_pipeline.vision.explain.skeleton import neighbour_steps, spur_pixels

# px: a stretch of skeleton whose pixels lie this close to a line (root mean square) is straight. Cracks
# wander: over the last 45 px before the free ends of make run's synthetic test masks (227-px tiles),
# 8 % of 206 ends on a true crack were this straight, 14 of 15 ends on joints.
STRAIGHT = 0.6


def crack_ends(mask: np.ndarray, stretch: int) -> tuple[np.ndarray, np.ndarray]:
    """The free ends of the HxW bool `mask`'s cracks that a crack leaves, (n, 2) rows and columns, and the
    unit vectors (n, 2) dy, dx pointing ahead from each: from the skeleton pixel `stretch` steps back along
    the skeleton (or the junction or other end, if nearer) to the end. Spurs of a ragged edge are pruned
    first. Left out: an end less than `stretch` / 2 px from a junction (no course to tell), and one whose
    last `stretch` steps are straight (`STRAIGHT`) unless the skeleton runs straight on for as many again
    behind them (a straight crack): a piece of joint the mask took where a crack meets it."""
    none = np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2))
    # Worked on in the cracks' own box, a pixel of surface round them: the crop round an end was mostly
    # surface, which the hole filling and distance transforms went through (0.17 s of a 12-MP mask).
    box = padded_box(mask, 1)
    if box is None:
        return none
    mask = without_pinholes(mask[box])  # the skeleton loops round a pinhole: a junction that is none
    rows, columns = np.nonzero(skeletonize(mask))
    if len(rows) < 2:
        return none
    points = np.column_stack([rows, columns])
    first, second = neighbour_steps(rows, columns)
    diagonal = (rows[first] != rows[second]) & (columns[first] != columns[second])
    # Branches under a quarter of a stretch are pruned as spurs are: a 2-px spur of a ragged edge made a
    # junction that cut the walk back from a crack's end short, and its end went unfollowed. Under 2 d, as
    # following was measured with (3 d, as measurements prune, changed 50 of CFD's 118 masks: F1 0.6674 ->
    # 0.6670).
    depth = ndimage.distance_transform_edt(mask)[rows, columns]
    inside = np.maximum(depth, stretch / 4)
    kept = ~spur_pixels(first, second, np.where(diagonal, math.sqrt(2), 1.0), inside, widths=2.0)
    both = kept[first] & kept[second]
    first, second = first[both], second[both]
    walked, taken = _walks(first, second, len(points), 2 * stretch)
    near = np.minimum(taken, stretch)
    ends, back = points[walked[:, 0]], points[walked[np.arange(len(walked)), near]]
    chord = (ends - back).astype(np.float64)
    length = np.hypot(chord[:, 0], chord[:, 1])
    wanders = _spread_across(points[walked[:, : stretch + 1]], near) > STRAIGHT
    # A straight crack runs straight on behind its end; a piece of joint the mask took where a crack
    # meets or crosses it is straight only as far as the crack.
    straight_on = (taken == 2 * stretch) & (_spread_across(points[walked], taken) <= STRAIGHT)
    leaving = (length >= stretch / 2) & (wanders | straight_on)
    return ends[leaving] + [box[0].start, box[1].start], chord[leaving] / length[leaving, None]


def _spread_across(stretches: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """The root mean square distance of each stretch's pixels ((n, steps + 1, 2), the first `taken` + 1 of
    each walked) from the line fitted through them (their minor axis)."""
    walked = np.arange(stretches.shape[1]) <= taken[:, None]
    count = walked.sum(axis=1)
    centred = stretches - (stretches * walked[..., None]).sum(axis=1)[:, None, :] / count[:, None, None]
    centred *= walked[..., None]
    yy, xx = (centred[..., 0] ** 2).sum(axis=1) / count, (centred[..., 1] ** 2).sum(axis=1) / count
    xy = (centred[..., 0] * centred[..., 1]).sum(axis=1) / count
    minor = (yy + xx) / 2 - np.sqrt(((yy - xx) / 2) ** 2 + xy**2)
    return np.sqrt(np.maximum(minor, 0))


def _walks(first: np.ndarray, second: np.ndarray, count: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """From each free end of the skeleton (pixels joined by the steps `first`-`second`, `count` pixels),
    the pixels walked back along it, (ends, steps + 1) indices: the end first, then on until a junction or
    another end, after which the last pixel reached repeats; and how many steps each took."""
    degree = np.bincount(first, minlength=count) + np.bincount(second, minlength=count)
    nodes, others = np.concatenate([first, second]), np.concatenate([second, first])
    others = others[np.argsort(nodes, kind="stable")]
    offsets = np.cumsum(degree) - degree  # where each pixel's neighbours start in `others`
    ends = np.flatnonzero(degree == 1)
    walked = np.empty((len(ends), steps + 1), dtype=np.int64)
    walked[:, 0] = current = ends
    previous = np.full(len(ends), -1)
    going = np.ones(len(ends), dtype=bool)
    taken = np.zeros(len(ends), dtype=np.int64)
    for step in range(1, steps + 1):
        # A pixel on a branch has two neighbours: on to the one it did not come from.
        slot = offsets[current] + (others[offsets[current]] == previous)
        there = np.where(going, others[np.minimum(slot, len(others) - 1)], current)
        previous, current = np.where(going, current, previous), there
        walked[:, step] = current
        taken += going
        going &= degree[current] == 2
    return walked, taken


def cones_ahead(
    shape: tuple[int, int], ends: np.ndarray, ahead: np.ndarray, reach: int, angle: float
) -> np.ndarray:
    """HxW bool: the pixels at most `angle` degrees off the direction `ahead` ((n, 2) unit dy, dx) of one of
    the `ends` ((n, 2) rows, columns), seen from an eighth of `reach` behind it, up to `reach` px ahead of
    it. A skeleton ends a little inside a crack, often to one side of it: a cone from the end
    itself left out the pixels of a digital line's next stair and of a crack bending there."""
    behind = reach / 8
    side = math.ceil(reach + behind)
    offsets = np.mgrid[-side : side + 1, -side : side + 1].reshape(2, -1)
    offsets = offsets[:, np.hypot(*offsets) <= reach + behind]
    cosine = math.cos(math.radians(angle))
    cones = np.zeros(shape, dtype=bool)
    for end, direction in zip(ends, ahead, strict=True):
        seen = offsets + behind * direction[:, None]
        inside = (direction @ seen >= cosine * np.hypot(*seen)) & (np.hypot(*seen) <= reach + behind)
        y, x = end[0] + offsets[0, inside], end[1] + offsets[1, inside]
        on = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
        cones[y[on], x[on]] = True
    return cones
