"""Where the crack segmenter (crack_segmenter) runs in a photo, and what it finds there: it traces cracks
from darkness's crack pixels, and finds them over a whole photo the classifier calls clean. It runs only on
the boxes of the pixels it is asked about, in windows, so that a 12-MP photo costs what its cracks cover.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.morphology import skeletonize

from crack_pipeline.vision.data.mask_groups import CELL, joined_pieces, pixel_groups
from crack_pipeline.vision.data.masks import padded_box
from crack_pipeline.vision.explain.crack_masks import (
    CrackMaskConfig,
    crack_mask,
    evidence_crops,
    grey_levels,
)
from crack_pipeline.vision.explain.crack_segmenter import CrackSegmenter, local_contrast

# Px of surroundings a pixel's judgement draws on, at the scale it is seen at (twice as many of the photo's
# at half its scale, segmenter_levels, and so on): the net's view (23 px, on its 4-px pooling grid)...
_NET_VIEW = 24
# ...and round that the surface its grey levels are compared with (a 15-px window; its spread is taken over
# all of these).
_CONTEXT = 44
_WINDOW = 512  # px: the net runs in windows of this side (plus context): bounded memory


def trace_cracks(
    net: CrackSegmenter,
    image: np.ndarray,
    seeds: np.ndarray,
    reach: int,
    config: CrackMaskConfig,
    whole: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The crack mask the segmenter traces from the HxW bool `seeds` (darkness's crack pixels) in the
    HxW(x3) `image`, and its p(crack) where it looked (0 elsewhere): first within `reach` px of the seeds,
    then within reach of each crack pixel it added, up to `config.segmenter_steps` times. A crack fades
    along its length: it is followed past where darkness lost it, and nothing more is looked at once no
    pixel is added. Over `segmenter_levels` scales, a crack the photo's own scale sees keeps the width it
    sees there (`own_width`). `whole`: the net's views over the whole photo (`whole_photo_views`), when
    known (it is not run again)."""
    levels = config.segmenter_levels
    probability, looked = np.zeros(seeds.shape, dtype=np.float32), np.zeros(seeds.shape, dtype=bool)
    known = np.full(seeds.shape, whole is not None)
    judged, own = whole or (np.zeros(seeds.shape, dtype=np.float32), np.zeros(seeds.shape, dtype=np.float32))
    mask, added = looked.copy(), seeds
    for _ in range(config.segmenter_steps):
        region = near_pixels(added, reach) & ~looked
        if not region.any():
            break
        # A step's region is mostly a thin rim of the last one's: most of it was judged with the last boxes.
        _judge(net, image, region, judged, known, range(levels), own if levels > 1 else None)
        np.copyto(probability, judged, where=region)
        looked |= region
        # Kept once found: a crack that meets a stain later must not be dropped with it as a blob.
        grown = crack_mask(probability, config, learned=True)
        added = grown & ~mask
        mask |= grown
    return own_width(mask, own, config.segmenter_low, levels), probability


def whole_photo_views(
    net: CrackSegmenter, image: np.ndarray, levels: int, own: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The net's p(crack) over all of the HxW(x3) `image` averaged over `levels` scales, and at the photo's
    own scale (`own`, known: not computed again; at one level, the same)."""
    if levels == 1:
        return own, own
    coarser, known = np.zeros(own.shape, dtype=np.float32), np.zeros(own.shape, dtype=bool)
    _judge(net, image, np.ones(own.shape, dtype=bool), coarser, known, range(1, levels))
    return (own + (levels - 1) * coarser) / levels, own


def own_width(mask: np.ndarray, own: np.ndarray, low: float, levels: int) -> np.ndarray:
    """The HxW bool `mask` without its pixels up to 2**(levels-1) px beside the cracks that the segmenter's
    p(crack) at the photo's own scale (`own`) keeps (`low` or more) but which it does not: a coarser
    scale's view, brought back to the photo's, is blurred across a crack by about that much (the synthetic
    split's width error 0.35 -> 1.06 px at two levels with nothing done; README). A crack seen only at
    coarser scales keeps their width, and its skeleton keeps it joined where it meets one the photo's scale
    sees. At one level: `mask` as it is."""
    if levels == 1:
        return mask
    kept, flank = mask.copy(), 2 ** (levels - 1)
    # A 12-MP photo's cracks cover a few tiles.
    for box, crack in pixel_groups(mask, max(2 * flank + 2, CELL)).each(mask):
        seen = own[box] >= low
        beside = crack & ~seen & ndimage.binary_dilation(seen, np.ones((3, 3), bool), iterations=flank)
        if beside.any():  # the skeleton only where there is something to join
            kept[box] &= ~beside | skeletonize(crack)
    return kept


def found_cracks(
    probability: np.ndarray, span: float, shortest: float, gap: int, kept: float, config: CrackMaskConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """If a crack of the segmenter's HxW p(crack) over a whole photo (`probability`) spans `span` px (its
    box's diagonal) or more: the mask of its cracks that span `shortest` px or more, and its p(crack) on
    them (0 elsewhere); None if none spans `span`. Of those, the ones at most `gap` px apart count as one
    crack for the span (the segmenter traces a faint crack in pieces), and such a crack spanning less than
    `kept` px is left out (the grain's short pieces scattered over a photo)."""
    labels, count = ndimage.label(crack_mask(probability, config, learned=True), np.ones((3, 3), bool))
    long_enough = np.zeros(count + 1, dtype=bool)  # by label; 0: no crack
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        long_enough[label] = _diagonal(box) >= shortest
    joined, count = joined_pieces(long_enough[labels], gap)
    spans = np.zeros(count + 1)  # by joined crack; 0: no crack
    for label, box in enumerate(ndimage.find_objects(joined), start=1):
        spans[label] = _diagonal(box)
    if spans.max() < span:
        return None
    mask = (spans >= kept)[joined] & (joined > 0)
    return mask, np.where(mask, probability, np.float32(0))


def _diagonal(box: tuple[slice, slice]) -> float:
    """The diagonal of a box of pixels, px."""
    rows, columns = box
    return float(np.hypot(rows.stop - rows.start, columns.stop - columns.start))


def near_pixels(values: np.ndarray, reach: int) -> np.ndarray:
    """The highest of the HxW `values` (bool, or 0 or more) within `reach` px (a square's half side) of each
    pixel: for bool `values`, what lies within reach of its pixels."""
    near = np.zeros_like(values)
    for box in evidence_crops(values > 0, reach + 1):  # each region of pixels with room for its reach
        spread = ndimage.maximum_filter(values[box], 2 * reach + 1) if reach else values[box]
        np.maximum(near[box], spread, out=near[box])
    return near


def crack_probability(
    net: CrackSegmenter, image: np.ndarray, region: np.ndarray, levels: int = 1
) -> np.ndarray:
    """p(crack) of each pixel of the HxW(x3) `image` in the HxW bool `region`, 0 elsewhere (float32),
    averaged over `levels` scales (`_level_probability`)."""
    judged, known = np.zeros(region.shape, dtype=np.float32), np.zeros(region.shape, dtype=bool)
    _judge(net, image, region, judged, known, range(levels))
    return np.where(region, judged, np.float32(0))


def _judge(
    net: CrackSegmenter,
    image: np.ndarray,
    wanted: np.ndarray,
    judged: np.ndarray,
    known: np.ndarray,
    levels: range,
    own: np.ndarray | None = None,
) -> None:
    """Set `judged` to the net's p(crack) of the HxW(x3) `image`, averaged over the scales of `levels` (0:
    the photo's own, 1: half of it...; and `own`, if given, to its p(crack) at the first), wherever it is
    not yet `known` in the boxes of the `wanted` pixels not known, and mark those pixels known. The photo
    is cut into a fixed grid of `_WINDOW`-px windows; in each, the net runs once per group of such pixels,
    on their box only, seen with `_CONTEXT` px of its surroundings (more at coarser scales): a 12-MP
    photo's cracks cover a few tiles, and memory stays bounded however many. Boxes are seen a few at a
    time side by side (`_box_workers`) and written in order: a pixel once judged keeps its value."""
    # The box starts on the net's pooling grid at its coarsest scale (2 x 2, twice, at 1/2**level of the
    # photo's): a pixel's features are the same whichever box computes them.
    grid = 4 * 2 ** levels[-1]
    cores = [
        (slice(rows.start // grid * grid, rows.stop), slice(columns.start // grid * grid, columns.stop))
        for rows, columns in _boxes(wanted & ~known)
    ]

    @torch.inference_mode()
    def views(core: tuple[slice, slice]) -> list[np.ndarray]:
        return [_level_probability(net, image, core, level) for level in levels]

    with _box_workers(next(net.parameters()).device) as (seen_by, workers):
        # A few boxes at a time: all of a 12-MP photo's views, held until written, would be its size again.
        for first in range(0, len(cores), 2 * workers):
            batch = cores[first : first + 2 * workers]
            for core, seen in zip(batch, seen_by(views, batch), strict=True):
                np.copyto(judged[core], sum(seen) / len(seen), where=~known[core])
                if own is not None:
                    np.copyto(own[core], seen[0], where=~known[core])
                known[core] = True


def _boxes(todo: np.ndarray) -> list[tuple[slice, slice]]:
    """The boxes `_judge` runs the net on: in each `_WINDOW` of the HxW bool `todo`, its groups' pixels."""
    boxes = []
    height, width = todo.shape
    for top in range(0, height, _WINDOW):
        for left in range(0, width, _WINDOW):
            window = todo[top : top + _WINDOW, left : left + _WINDOW]
            # Each group of the window's pixels in a box of its own: boxes around scattered cracks held
            # 3.7x the pixels wanted on the bench photo, 3.0x so (a 12-MP photo's mask 0.98 -> 0.86 s).
            for group in evidence_crops(window, _CONTEXT):
                rows, columns = padded_box(window[group], 0)
                boxes.append(
                    (
                        slice(top + group[0].start + rows.start, top + group[0].start + rows.stop),
                        slice(left + group[1].start + columns.start, left + group[1].start + columns.stop),
                    )
                )
    return boxes


@contextlib.contextmanager
def _box_workers(device: torch.device) -> Iterator[tuple[Callable, int]]:
    """A map over boxes, and how many it sees at once: on the CPU a thread per torch thread, torch at one
    thread each meanwhile (its setting given back after). Split between torch's threads, the net's small
    convolutions gained little, and the threads waited on each other whenever anything else held a core:
    with a test run beside it, a 12-MP photo's mask took 5.8 s so, 2.3 s at one thread, 2.5 s in two."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield map, 1
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads) as pool:
            yield pool.map, threads
    finally:
        torch.set_num_threads(threads)


def _level_probability(
    net: CrackSegmenter, image: np.ndarray, core: tuple[slice, slice], level: int
) -> np.ndarray:
    """The net's p(crack) of the `core` box of the HxW(x3) `image`, seen at 1/2**`level` of the photo's
    scale (2**level x 2**level pixels averaged into one) with `_CONTEXT` of its pixels around, brought back
    to the photo's scale."""
    factor = 2**level
    context = _CONTEXT * factor  # a multiple of the factor: the seen box starts on the averaging grid
    seen_top, seen_left = max(0, core[0].start - context), max(0, core[1].start - context)
    seen = image[seen_top : core[0].stop + context, seen_left : core[1].stop + context]
    seen = torch.from_numpy(grey_levels(seen))
    if factor > 1:
        height, width = seen.shape
        padded = F.pad(seen[None, None], (0, -width % factor, 0, -height % factor), mode="replicate")
        seen = F.avg_pool2d(padded, factor)[0, 0]
    contrast = local_contrast(seen.numpy())
    # The net is run on its view round the core alone (the surface round that was for the grey levels): on
    # the bench's 12-MP photo 0.66 of the pixels it ran on over the whole seen box.
    rows, columns = (core[0].start - seen_top) // factor, (core[1].start - seen_left) // factor
    top, left = max(0, rows - _NET_VIEW), max(0, columns - _NET_VIEW)
    height, width = (-(-(part.stop - part.start) // factor) for part in core)
    probability = _net_probability(
        net, contrast[top : rows + height + _NET_VIEW, left : columns + width + _NET_VIEW]
    )
    if factor > 1:
        probability = F.interpolate(
            torch.from_numpy(probability)[None, None], scale_factor=float(factor), mode="bilinear"
        )[0, 0].numpy()
    rows, columns = (rows - top) * factor, (columns - left) * factor
    return probability[
        rows : rows + core[0].stop - core[0].start, columns : columns + core[1].stop - core[1].start
    ]


def _net_probability(net: CrackSegmenter, contrast: np.ndarray) -> np.ndarray:
    device = next(net.parameters()).device
    contrast = torch.from_numpy(np.ascontiguousarray(contrast))[None, None]
    contrast = contrast.to(device, memory_format=torch.channels_last)
    return torch.sigmoid(net(contrast))[0, 0].contiguous().cpu().numpy()
