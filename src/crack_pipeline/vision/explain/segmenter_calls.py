"""A photo the classifier calls clean, called cracked by the crack segmenter: where, run over all of it, it
traces a crack long enough (README, "The crack segmenter as a second detector"), what it finds there (the
photo's crack mask and score) and its cracks' boxes."""

from __future__ import annotations

import numpy as np

from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig, without_specks
from crack_pipeline.vision.explain.crack_segmenter import CrackSegmenter
from crack_pipeline.vision.explain.crack_tracing import (
    crack_probability,
    found_cracks,
    near_pixels,
    own_width,
    whole_photo_views,
)
from crack_pipeline.vision.explain.photos import SegmenterFinding, photo_crack_mask
from crack_pipeline.vision.explain.regions import crack_boxes


def segmenter_finding(
    image: np.ndarray,
    tile_side: float,
    probability: float,
    threshold: float,
    config: CrackMaskConfig,
    segmenter: CrackSegmenter | None,
    whole: np.ndarray | None = None,
) -> SegmenterFinding | None:
    """What the `segmenter` finds over a photo the classifier calls clean (p(crack) `probability` under
    `threshold`), if it traces a crack `segmenter_finds` tile sides long, pieces `segmenter_gap` apart
    joined (found_cracks): the crack mask and its score, as for a photo the classifier calls, with the
    segmenter's cracks (`segmenter_shortest` tile sides or more, and `segmenter_kept` joined) as the
    evidence instead of a CAM: darkness's crack pixels within `segmenter_margin` tile sides of them,
    traced, join them; and their boxes (found_boxes, cracks about `segmenter_reach` apart in one). Once per
    photo, whatever the CAM methods; None when the photo is called cracked, when nothing is found, or when
    the segmenter is not asked to look. `whole`: its p(crack) over the photo at its own scale, if the caller
    has it. That calls the photo, as measured (over `segmenter_levels`, 8x as many clean real patches were
    called; README); its cracks are then those it sees over `segmenter_levels`, at their own width."""
    if segmenter is None or config.segmenter_finds is None or probability >= threshold:
        return None
    if whole is None:
        whole = crack_probability(segmenter, image, np.ones(image.shape[:2], dtype=bool))
    lengths = (
        config.segmenter_shortest * tile_side,
        round(config.segmenter_gap * tile_side),
        config.segmenter_kept * tile_side,
    )
    found = found_cracks(whole, config.segmenter_finds * tile_side, *lengths, config)
    if found is None:
        return None
    mask, score = found
    views = whole_photo_views(segmenter, image, config.segmenter_levels, whole)
    if config.segmenter_levels > 1:  # its cracks as seen over every scale, spanning 0 or more: always some
        mask, score = found_cracks(views[0], 0.0, *lengths, config)
        mask = own_width(mask, whole, config.segmenter_low, config.segmenter_levels)
        score = np.where(mask, score, np.float32(0))
    margin = round(config.segmenter_margin * tile_side)
    if margin:
        # Evidence of 1 near its cracks, 0 elsewhere: a heatmap as a CAM's, gated the same way.
        near, near_score = photo_crack_mask(
            image, near_pixels(mask, margin), tile_side, config, segmenter, views
        )
        mask, score = mask | near, np.maximum(score, near_score, out=near_score)
    # Its cracks were kept by their span alone (segmenter_shortest): the grain's specks too.
    mask = without_specks(mask, tile_side, config)
    reach = round(config.segmenter_reach * tile_side / 2)
    return SegmenterFinding(mask, score, found_boxes(mask, score, reach))


def found_boxes(mask: np.ndarray, score: np.ndarray, reach: int) -> list[dict]:
    """The crack regions of a photo the segmenter calls, from its crack mask and score rather than from
    tiles (regions.crack_boxes' fields, `found_by` "segmenter"): each crack spread by `reach` px (a square's
    half side), so that cracks at most 2 x reach px apart make one region (none left out: the segmenter's
    specks are, segmenter_shortest); its box tight around its crack pixels; its `probability` and
    `evidence`: the highest crack score on them (not a p(crack) of tiles)."""
    on_cracks = np.where(mask, score, np.float32(0))  # over 0 on every crack pixel
    tiny = float(np.finfo(np.float32).tiny)
    boxes = crack_boxes(near_pixels(on_cracks, reach), on_cracks, tiny, tiny)
    return [{**box, "found_by": "segmenter"} for box in boxes]
