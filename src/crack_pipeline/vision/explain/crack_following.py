"""Following a crack the mask has started along its dark line, past where the heatmap's evidence fades.

The mask's darkness is computed only where the heatmap has evidence (crack_masks.crack_score), and a CAM
points at a crack's most telling part: a long crack was cut where the evidence ended (a 600-px curved crack
80 grey levels dark missed its flat bottom and both ends). Here the mask's cracks grow by hysteresis ahead
of their free ends: pixels `low` deviations dark connected to a crack pixel join it, within `reach` of an
end and `follow_angle` of the way the crack leaves it (crack_ends), then ahead of the ends of what was
added, as the segmenter traces (crack_tracing). Grown all round a crack, it ran along the straight joints
a crack meets or crosses, out to the photo's edge; an end on a straight stretch is not followed. A dark
speck away from a crack is not connected to one, so nothing starts a crack where the mask had none; a stain
beside one is kept out by the mask's shape rules and width, applied to what each crack gained.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from crack_pipeline.vision.explain.crack_ends import cones_ahead, crack_ends
from crack_pipeline.vision.explain.crack_masks import (
    CrackMaskConfig,
    crack_shaped,
    darkness,
    evidence_crops,
    grey_levels,
)
from crack_pipeline.vision.explain.crack_tracing import near_pixels


def followed_cracks(
    image: np.ndarray, mask: np.ndarray, evidence: np.ndarray, tile_side: float, config: CrackMaskConfig
) -> np.ndarray:
    """The HxW bool crack `mask` of the HxW(x3) `image` with each crack followed along its dark line past
    where the HxW heatmap `evidence` reaches `config.evidence` (the pixels whose darkness the mask already
    judged), `config.follow_steps` times: within `config.segmenter_reach` tile sides ahead of the free ends
    of the last pixels added, `config.follow_angle` either side of the way the crack leaves each (None:
    all round them)."""
    reach = round(config.segmenter_reach * tile_side)
    if not config.follow_steps or not reach or not mask.any():
        return mask
    dark, looked = np.zeros(mask.shape, dtype=bool), evidence >= config.evidence
    margin = round(config.window * tile_side) + 1
    mask, added = mask.copy(), mask
    for _ in range(config.follow_steps):
        region = _where_to_look(mask, added, reach, config.follow_angle, ~looked)
        if not region.any():
            break
        # Each part judged in its box (the surface round it, as crack_score sees it): labelling the whole
        # photo at every step cost 0.4 s on a 12-MP photo.
        crops = evidence_crops(region, margin)
        for crop in crops:
            np.copyto(
                dark[crop],
                darkness(grey_levels(image[crop]), tile_side, config) > config.low,
                where=region[crop],
            )
        looked |= region
        added = np.zeros_like(mask)
        for crop in crops:
            added[crop] |= _gained(mask[crop], dark[crop], config)
        if not added.any():
            break
        mask |= added
    return mask


def _gained(mask: np.ndarray, dark: np.ndarray, config: CrackMaskConfig) -> np.ndarray:
    """The HxW bool pixels of `dark` 8-connected to the `mask` through `dark` pixels, outside it, kept
    where what they add to a crack is shaped as a crack is (`min_elongation` or `min_thinness`: a stain
    or a patch of rough surface touching a crack is not) and, followed ahead of its ends
    (`follow_angle`), no wider than its widest crack."""
    labels, _ = ndimage.label(dark | mask, structure=np.ones((3, 3), dtype=bool))
    connected = np.zeros(labels.max() + 1, dtype=bool)
    connected[labels[mask]] = True
    connected[0] = False
    new = connected[labels] & ~mask
    pieces, count = ndimage.label(new, structure=np.ones((3, 3), dtype=bool))
    if not count:
        return new
    rows, columns = np.nonzero(pieces)
    shaped = crack_shaped(rows, columns, pieces[rows, columns], count, config)
    shaped[0] = False
    if config.follow_angle is None:  # as before ends were followed
        return shaped[pieces]
    # Nor wider than the cracks it continues: cut to the cone ahead of a crack's end, a stain beside the
    # crack makes a piece long enough to pass for a crack (a 12-px stain touching a 3-px crack gave 42 px).
    depth = ndimage.distance_transform_edt(new)
    shaped[1:] &= (
        ndimage.maximum(depth, pieces, np.arange(1, count + 1))
        <= ndimage.distance_transform_edt(mask).max() + 0.5
    )
    return shaped[pieces]


def _where_to_look(
    mask: np.ndarray, added: np.ndarray, reach: int, angle: float | None, unlooked: np.ndarray
) -> np.ndarray:
    """HxW bool: the `unlooked` pixels of the cones `reach` px deep and `angle` degrees either side ahead of
    the free ends of the `mask`'s cracks that lie in its `added` pixels (crack_ends: the crack's course over
    its last `reach` px; none on a straight stretch); `angle` None: all within `reach` of the `added`
    pixels, as before."""
    if angle is None:
        return near_pixels(added, reach) & unlooked
    cones = np.zeros_like(mask)
    for crop in evidence_crops(added, 2 * reach + 1):  # room for an end's course and its cone
        if not unlooked[crop].any():  # its cones lie in it: nothing to look at (a heatmap over all of it)
            continue
        ends, ahead = crack_ends(mask[crop], reach)
        tips = added[crop][ends[:, 0], ends[:, 1]]
        cones[crop] |= cones_ahead(cones[crop].shape, ends[tips], ahead[tips], reach, angle)
    return cones & unlooked
