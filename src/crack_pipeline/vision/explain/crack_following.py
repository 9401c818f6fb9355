"""Following a crack the mask has started along its dark line, past where the heatmap's evidence fades.

The mask's darkness is computed only where the heatmap has evidence (crack_masks.crack_score), and a CAM
points at a crack's most telling part: a long crack was cut where the evidence ended (a 600-px curved crack
80 grey levels dark missed its flat bottom and both ends). Here the mask's cracks grow by hysteresis over
the surface round them: pixels `low` deviations dark connected to a crack pixel join it, within `reach` of
the crack, then of what was added, as the segmenter traces (crack_tracing). A dark speck away from a crack
is not connected to one, so nothing starts a crack where the mask had none; a stain beside one is kept out
by the mask's shape rules, applied to what each crack gained.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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
    judged), `config.follow_steps` times within `config.segmenter_reach` tile sides of the last pixels
    added."""
    reach = round(config.segmenter_reach * tile_side)
    if not config.follow_steps or not reach or not mask.any():
        return mask
    dark, looked = np.zeros(mask.shape, dtype=bool), evidence >= config.evidence
    margin = round(config.window * tile_side) + 1
    mask, added = mask.copy(), mask
    for _ in range(config.follow_steps):
        region = near_pixels(added, reach) & ~looked
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
    or a patch of rough surface touching a crack is not)."""
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
    return shaped[pieces]
