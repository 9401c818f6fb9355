"""Crack measurements on masks drawn with a known length, width and direction."""

import math

import numpy as np
import pytest
from skimage.draw import line

from crack_pipeline.vision.explain.measurements import measure_cracks, without_short_cracks
from crack_pipeline.vision.explain.severity import image_summary, severity_words


def band(shape, start, angle, length, width):
    """A mask with a straight band from `start` (row, column), `angle` degrees counter-clockwise from the
    x axis as seen on screen, `length` px long between its flat ends and `width` px across: the pixels
    whose centres lie in that rectangle. A start off the pixel grid (and off half-pixels) gives a band of
    exactly `width` rows or columns along the axes."""
    rows, columns = np.indices(shape)
    up, right = start[0] - rows, columns - start[1]
    along = right * math.cos(math.radians(angle)) + up * math.sin(math.radians(angle))
    across = up * math.cos(math.radians(angle)) - right * math.sin(math.radians(angle))
    return (along >= 0) & (along < length) & (np.abs(across) < width / 2)


def rough(shape, start, angle, length, width, seed, bumps=40, tallest=3):
    """`band` with discs of radius 1 to `tallest` px centred on its two long edges at random: the ragged
    outline of a thresholded crack."""
    rng = np.random.default_rng(seed)
    rows, columns = np.indices(shape)
    along = np.array([-math.sin(math.radians(angle)), math.cos(math.radians(angle))])
    across = np.array([along[1], -along[0]])
    mask = band(shape, start, angle, length, width)
    for _ in range(bumps):
        centre = (
            np.asarray(start) + along * rng.uniform(3, length - 3) + across * rng.choice([-1, 1]) * width / 2
        )
        mask |= (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < rng.uniform(1, tallest) ** 2
    return mask


@pytest.mark.parametrize("width", [1, 3, 4, 7])
@pytest.mark.parametrize("vertical", [False, True])
def test_a_straight_band_measures_its_length_width_direction_and_box(width, vertical):
    mask = np.zeros((60, 140), dtype=bool)
    mask[30 : 30 + width, 20:120] = True
    if vertical:
        mask = mask.T
    (crack,) = measure_cracks(mask).to_dict("records")
    assert crack["length_px"] == pytest.approx(100, abs=1)
    assert crack["max_width_px"] == width
    assert crack["mean_width_px"] == pytest.approx(width, abs=0.1)
    assert crack["orientation_deg"] == pytest.approx(90 if vertical else 0, abs=0.5)
    box = (crack["x0"], crack["y0"], crack["x1"], crack["y1"])
    assert box == ((30, 20, 30 + width, 120) if vertical else (20, 30, 120, 30 + width))
    assert crack["area_px"] == 100 * width


@pytest.mark.parametrize("angle", [0, 10, 20, 22.5, 30, 45, 60, 90])
@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 6, 7])
def test_a_band_at_any_slant_measures_its_true_length(angle, width):
    for start in ((125.3, 20.2), (125.6, 20.7), (125.85, 20.45)):
        mask = band((150, 150), start, angle, 100, width)
        (crack,) = measure_cracks(mask).to_dict("records")
        assert crack["length_px"] == pytest.approx(100, rel=0.02), start
        # Slanting bands' staircase edges read up to 1.5 px thin; at 45 degrees the nearest outside pixel
        # can lie a little beyond the edge, up to 0.5 px thick.
        assert width - 1.5 <= crack["mean_width_px"] <= width + 0.5, start
        assert width - 1.5 <= crack["max_width_px"] <= width + 0.5, start
        assert (crack["orientation_deg"] - angle + 90) % 180 - 90 == pytest.approx(0, abs=0.5), start


@pytest.mark.parametrize("vertical", [False, True])
def test_an_even_width_is_read_whole_and_banded_by_it(vertical):
    """2 d - 1 read an even band 1 px thin (no pixel on its midline): a 6-px crack at 0.2 mm/px, 1.2 mm,
    read 1.0 mm and was banded fine, not medium: the unsafe way."""
    mask = np.zeros((40, 400), dtype=bool)
    for top, width in zip((4, 12, 24), (2, 4, 6), strict=True):
        mask[top : top + width, 20:380] = True
    if vertical:
        mask = mask.T
    table = measure_cracks(mask, mm_per_pixel=0.2).sort_values("max_width_px")
    assert table["max_width_px"].tolist() == [2, 4, 6]
    assert table["mean_width_px"].tolist() == pytest.approx([2, 4, 6], abs=0.05)
    assert table["severity"].tolist() == ["fine", "fine", "medium"]
    # As a survey begun before crest widths measured them, and goes on measuring its photos.
    before = measure_cracks(mask, crest=False).sort_values("max_width_px")
    assert before["max_width_px"].tolist() == [1, 3, 5]


@pytest.mark.parametrize("angle", [10, 30, 45])
def test_a_one_pixel_line_at_a_slant_stays_one_pixel_wide(angle):
    # Its staircase steps put a pixel beside the skeleton here and there: read as a crest between the two,
    # a 1-px line read up to 1.8 px wide, no longer a hairline without a scale.
    mask = band((150, 150), (125.3, 20.2), angle, 100, 1)
    (crack,) = measure_cracks(mask).to_dict("records")
    assert crack["max_width_px"] == 1 and crack["severity"] == "hairline"


@pytest.mark.parametrize("angle", [30, 45, 120])
def test_a_drawn_line_measures_its_true_length(angle):
    mask = np.zeros((200, 200), dtype=bool)
    end = (round(150 - 100 * math.sin(math.radians(angle))), round(100 + 100 * math.cos(math.radians(angle))))
    mask[line(150, 100, *end)] = True
    (crack,) = measure_cracks(mask).to_dict("records")
    true_length = math.hypot(end[0] - 150, end[1] - 100) + 1  # centre to centre, and half a pixel each end
    assert crack["length_px"] == pytest.approx(true_length, rel=0.02)
    assert crack["max_width_px"] == 1
    assert crack["orientation_deg"] == pytest.approx(angle, abs=1)


@pytest.mark.parametrize("angle", [0, 20, 70])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_rough_edged_band_keeps_its_length(angle, seed):
    mask = rough((320, 320), (160.3, 70.2), angle, 150, 7, seed)
    (crack,) = measure_cracks(mask).to_dict("records")
    # Unpruned, the skeleton's side branches into the bumps added 30-53 % here.
    assert crack["length_px"] == pytest.approx(150, rel=0.05)
    assert crack["mean_width_px"] == pytest.approx(7, abs=1.5)


@pytest.mark.parametrize("width", [3, 7])
def test_a_branching_crack_measures_the_sum_of_its_branches(width):
    junction = (80.3, 100.2)
    arm = 50 if width == 3 else 20  # a real branch, however short, is longer than the crack is wide
    mask = (
        band((200, 200), junction, -90, 60, width)  # the stem, down
        | band((200, 200), junction, 45, arm, width)  # the arms, up right and up left
        | band((200, 200), junction, 135, arm, width)
    )
    (crack,) = measure_cracks(mask).to_dict("records")
    assert crack["length_px"] == pytest.approx(60 + 2 * arm, abs=3)
    assert crack["max_width_px"] == pytest.approx(width, abs=1)


@pytest.mark.parametrize(("width", "twig"), [(2, 3), (3, 3), (3, 4)])
def test_twigs_about_as_long_as_the_crack_is_wide_add_no_length(width, twig):
    """A thresholded crack's outline sprouts twigs a pixel wide off its side; pruned only under 2 d at
    their junction, twigs of 3-4 px off a 2-3 px crack were counted: 9 of them made 150 px 154-167."""
    mask = np.zeros((60, 200), dtype=bool)
    mask[30 : 30 + width, 25:175] = True
    mask[30 - twig : 30, 35:170:15] = True  # 9 twigs up from its top edge
    (crack,) = measure_cracks(mask).to_dict("records")
    assert crack["length_px"] == pytest.approx(150, abs=1)
    mask[30 - 3 * width : 30, 100] = True  # a branch 3 times as long as the crack is wide is one
    assert measure_cracks(mask)["length_px"].sum() > 150 + width


def test_separate_cracks_are_rows_longest_first_and_specks_are_left_out():
    mask = np.zeros((100, 150), dtype=bool)
    mask[70:80, 10:13] = True  # 30 px: under the default minimum...
    mask[10:50, 120:123] = True  # ...a vertical crack 40 px long...
    mask[60:63, 20:100] = True  # ...and a horizontal one 80 px long
    mask[90:92, 140:142] = True  # a speck of 4 px
    table = measure_cracks(mask, min_pixels=35)
    assert table["crack"].tolist() == [1, 2]
    assert table["length_px"].tolist() == pytest.approx([80, 40], abs=1)
    assert table[["x0", "y0", "x1", "y1"]].values.tolist() == [[20, 60, 100, 63], [120, 10, 123, 50]]
    assert table["orientation_deg"].tolist() == pytest.approx([0, 90], abs=0.5)
    assert len(measure_cracks(mask)) == 3, "the 30-px crack counts at the default minimum of 10 px"


def three_widths():
    """Horizontal cracks 100 px long and 1, 3 and 7 px wide."""
    mask = np.zeros((60, 140), dtype=bool)
    mask[10, 20:120] = True
    mask[20:23, 20:120] = True
    mask[40:47, 20:120] = True
    return mask


def test_millimetres_and_severity_bands():
    table = measure_cracks(three_widths(), mm_per_pixel=0.2).sort_values("max_width_px")
    assert table["max_width_mm"].tolist() == pytest.approx([0.2, 0.6, 1.4])
    assert table["length_mm"].tolist() == pytest.approx([20, 20, 20], abs=0.2)
    assert table["mean_width_mm"].tolist() == pytest.approx([0.2, 0.6, 1.4], abs=0.2)
    # Eurocode's 0.3 mm, then 1 and 3 mm.
    assert table["severity"].tolist() == ["hairline", "fine", "medium"]

    in_px = measure_cracks(three_widths()).sort_values("max_width_px")
    assert in_px["severity"].tolist() == ["hairline", "fine", "medium"]
    assert "length_mm" not in in_px
    custom = measure_cracks(three_widths(), width_bands={"thin": 2, "thick": 5}).sort_values("max_width_px")
    assert custom["severity"].tolist() == ["thin", "thick", "thick"], "the last band is open-ended"
    open_ended = measure_cracks(three_widths(), width_bands={"thin": 2, "thick": None})
    assert open_ended.sort_values("max_width_px")["severity"].tolist() == ["thin", "thick", "thick"]


def test_a_width_on_a_band_s_bound_is_in_that_band():
    # 3 px at 0.1 mm/px is Eurocode's 0.3 mm exactly (0.30000000000000004 in floating point): hairline.
    table = measure_cracks(three_widths(), mm_per_pixel=0.1).sort_values("max_width_px")
    assert table["max_width_mm"].tolist() == pytest.approx([0.1, 0.3, 0.7])
    assert table["severity"].tolist() == ["hairline", "hairline", "fine"]
    in_px = measure_cracks(three_widths(), width_bands={"thin": 3, "thick": math.inf})
    assert in_px.sort_values("max_width_px")["severity"].tolist() == ["thin", "thin", "thick"]


def test_the_bands_are_put_in_words_with_their_unit():
    # "hairline" is up to 0.3 mm with a scale, up to 1 px without: a table of names alone does not say which.
    assert severity_words(0.2) == (
        "severity by a crack's widest width in mm at 0.2 mm/px: "
        "hairline up to 0.3 mm, fine up to 1 mm, medium up to 3 mm, wide wider"
    )
    assert severity_words() == (
        "severity by a crack's widest width in px (no scale set: explain.mm_per_pixel): "
        "hairline up to 1 px, fine up to 4 px, medium up to 12 px, wide wider"
    )
    assert severity_words(None, {"any": 5}).endswith(
        "in px (no scale set: explain.mm_per_pixel): any at any width"
    )


def test_image_summary():
    summary = image_summary(measure_cracks(three_widths(), mm_per_pixel=0.2))
    assert summary["count"] == 3
    assert summary["total_length_px"] == pytest.approx(300, abs=3)
    assert summary["total_length_mm"] == pytest.approx(60, abs=0.6)
    assert summary["max_width_px"] == 7 and summary["max_width_mm"] == pytest.approx(1.4)
    assert summary["worst_severity"] == "medium"


def test_an_empty_mask_gives_an_empty_table_with_the_same_columns():
    for scale in (None, 0.1):
        empty = measure_cracks(np.zeros((50, 50), dtype=bool), mm_per_pixel=scale)
        assert empty.empty
        assert list(empty.columns) == list(measure_cracks(three_widths(), mm_per_pixel=scale).columns)
    summary = image_summary(measure_cracks(np.zeros((50, 50), dtype=bool)))
    assert summary == {"count": 0, "total_length_px": 0.0, "max_width_px": 0.0, "worst_severity": None}


def test_a_single_pixel_and_a_mask_touching_the_border():
    mask = np.zeros((20, 30), dtype=bool)
    mask[5, 5] = True
    (speck,) = measure_cracks(mask, min_pixels=1).to_dict("records")
    assert speck["length_px"] == 1 and speck["max_width_px"] == 1 and math.isnan(speck["orientation_deg"])
    mask = np.zeros((20, 30), dtype=bool)
    mask[8:11, :] = True  # runs off both sides of the photo: it ends at the border
    (crack,) = measure_cracks(mask).to_dict("records")
    assert crack["length_px"] == pytest.approx(30, abs=1) and crack["max_width_px"] == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mask": np.zeros((5, 5, 3), dtype=bool)}, "2-D"),
        ({"mask": np.full((5, 5), 0.7)}, "threshold"),
        ({"mask": np.zeros((5, 5), dtype=bool), "mm_per_pixel": 0}, "mm_per_pixel: mm a pixel, above 0"),
        ({"mask": np.zeros((5, 5), dtype=bool), "mm_per_pixel": -0.1}, "mm_per_pixel: mm a pixel, above 0"),
        ({"mask": np.zeros((5, 5), dtype=bool), "mm_per_pixel": "0.1"}, "mm_per_pixel: mm a pixel, above 0"),
        ({"mask": np.zeros((5, 5), dtype=bool), "width_bands": {"wide": 5, "fine": 1}}, "increasing"),
        # A bound left out (null) before the last took every crack up to the next band, or none.
        ({"mask": three_widths(), "width_bands": {"thin": None, "thick": 5, "wide": math.inf}}, "increasing"),
        ({"mask": three_widths(), "width_bands": {"thin": 2, "mid": None, "wide": 9}}, "increasing"),
        ({"mask": np.zeros((5, 5), dtype=bool), "width_bands": {"thin": "narrow", "wide": 9}}, "increasing"),
        # Two bands with one bound: the second could never hold a crack.
        (
            {"mask": np.zeros((5, 5), dtype=bool), "width_bands": {"thin": 2, "fine": 2, "wide": 9}},
            "increasing",
        ),
        ({"mask": np.zeros((5, 5), dtype=bool), "width_bands": [0.3, 1.0, 3.0]}, "map band names"),
        # -1 split a crack in two and read its widths 0; 2.5 raised a TypeError from numpy.
        ({"mask": three_widths(), "gap": -1}, "gap: px between the pieces of one crack, a whole number"),
        ({"mask": three_widths(), "gap": 2.5}, "gap: px between the pieces of one crack, a whole number"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(arguments, message):
    with pytest.raises(ValueError, match=message):
        measure_cracks(**arguments)


@pytest.mark.parametrize(("gap", "cracks"), [(0, 2), (9, 2), (10, 1)])
def test_pieces_at_most_gap_px_apart_are_one_crack(gap, cracks):
    mask = np.zeros((40, 140), dtype=bool)
    mask[20:23, 10:60] = True
    mask[20:23, 70:120] = True  # 10 px between them
    table = measure_cracks(mask, gap=gap)
    assert len(table) == cracks
    assert table.length_px.sum() == pytest.approx(100, abs=1), "a gap adds no length"


@pytest.mark.parametrize("between", [1, 2, 4])
@pytest.mark.parametrize("width", [1, 3, 5])
def test_a_free_end_does_not_run_on_across_the_gap_into_the_next_piece(between, width):
    # Pieces a few px apart, joined: each facing end ran on into the other piece (up to 2 d + 1 px), so the
    # crack's length counted the gap and more (+6 px for a 1-px gap between 1-px-wide pieces).
    mask = np.zeros((40, 160), dtype=bool)
    mask[20 : 20 + width, 10:60] = True
    mask[20 : 20 + width, 60 + between : 110 + between] = True
    apart = measure_cracks(mask).length_px.sum()
    joined = measure_cracks(mask, gap=12)
    assert len(joined) == 1
    assert joined.length_px.sum() == pytest.approx(apart, abs=0.5), "a gap adds no length"


def test_a_pinhole_in_a_wide_crack_leaves_its_widths_and_length_as_they_were():
    """Around a pinhole the skeleton looped: a 25-px band's mean width read 22.2."""
    band = np.zeros((80, 200), dtype=bool)
    band[28:53, 20:180] = True
    holed = band.copy()
    holed[39:42, 99:102] = False  # a 3x3 pinhole in the middle
    whole, pierced = measure_cracks(band), measure_cracks(holed)
    assert len(pierced) == 1
    for column in ("length_px", "mean_width_px", "max_width_px"):
        assert pierced[column].iloc[0] == pytest.approx(whole[column].iloc[0], abs=0.5), column
    assert pierced.area_px.iloc[0] == whole.area_px.iloc[0] - 9, "the mask's own pixels are counted"


def test_slits_along_a_wide_crack_s_middle_leave_its_length_and_widths_as_they_were():
    """Darkness leaves a wide crack's core out here and there: round each slit the skeleton ran both ways,
    and a 9-px crack 900 px long read 1,432 px long and 4.9 px wide (the slits were too large in area to be
    pinholes, though narrower than the crack)."""
    crack = np.zeros((40, 1000), dtype=bool)
    crack[10:19, 50:950] = True
    slit = crack.copy()
    for x in range(100, 900, 120):
        slit[14:16, x : x + 70] = False  # 2 px wide, 70 long
    whole, slitted = measure_cracks(crack), measure_cracks(slit)
    assert len(slitted) == 1
    for column in ("length_px", "mean_width_px", "max_width_px"):
        assert slitted[column].iloc[0] == pytest.approx(whole[column].iloc[0], abs=0.5), column


def test_a_crack_forking_round_an_island_keeps_its_branches_widths():
    """The surface between two branches that part and rejoin is no wider than they are (CFD's drawn masks
    have such islands): filled as a slit, a crack of 5-px branches read 15 px wide (its fork's corners read
    6.2)."""
    mask = np.zeros((60, 300), dtype=bool)
    mask[28:33, 20:280] = True  # the crack, 5 px wide...
    mask[23:28, 100:160] = True  # ...parts round a 5 x 60-px island: a branch above it, the crack below
    mask[28:33, 105:155] = False
    mask[33:38, 100:160] = True
    (crack,) = measure_cracks(mask).itertuples()
    assert crack.max_width_px <= 7, "the island is surface, not crack"


def test_cracks_shorter_than_the_shortest_are_left_out_of_the_mask_pieces_joined_first():
    mask = np.zeros((60, 200), dtype=bool)
    mask[10, 20:45] = True  # a short crack, 25 px long
    mask[30:32, 20:26] = True  # a speck, 6 px long...
    mask[50:52, 20:26] = True  # ...and one 4 px from a crack's end: a piece of it
    mask[50, 30:150] = True
    kept = without_short_cracks(mask, 10, gap=5)
    assert kept[10].sum() == 25 and not kept[30:32].any() and kept[50:52].sum() == 12 + 120
    assert without_short_cracks(mask, 10)[50:52, 20:26].sum() == 0, "alone, each piece is judged alone"
    assert not without_short_cracks(np.zeros((5, 5), dtype=bool), 10).any()


def test_the_surface_a_ring_of_crack_encloses_stays_outside_it():
    rows, columns = np.mgrid[:100, :100]
    radius = np.hypot(rows - 50, columns - 50)
    ring = (radius >= 20) & (radius < 23)  # 3 px wide around 40 px of surface
    (crack,) = measure_cracks(ring).itertuples()
    assert crack.length_px == pytest.approx(2 * np.pi * 21.5, rel=0.05), "along the ring, not across it"
    assert crack.max_width_px <= 5


def test_a_crack_forking_round_a_small_island_keeps_its_branches_widths():
    """An island small enough for a pinhole's area, between branches as wide as the crack: filled, the
    crack of 5-px branches read 13 px wide there."""
    rows, columns = np.mgrid[:60, :300]
    island = np.hypot(rows - 30, columns - 150) <= 2.2  # round, 4 px across
    mask = (np.abs(rows - 30) <= 2) & (columns >= 20) & (columns < 280)
    mask = (mask | (np.hypot(rows - 30, columns - 150) <= 7.2)) & ~island  # 5-px branches round it
    assert island.sum() <= math.pi / 4 * 5**2, "as small as a pinhole of the crack"
    (crack,) = measure_cracks(mask).itertuples()
    assert crack.max_width_px <= 7, "the island is surface, not crack"


def test_a_pinhole_where_a_crack_is_a_little_wider_is_filled_though_filled_it_widens_the_crack():
    """A 3-px pinhole where a 25-px crack is 27 px wide: filled, it widens the crack past its widest
    elsewhere, as the island between a fork's branches would; left, the skeleton looped round it and the
    crack read 296 px long, not 260, and 22.9 px wide on average, not 25."""
    rows, columns = np.mgrid[:80, :300]
    centre = np.hypot(rows - 40, columns - 150)
    mask = ((np.abs(rows - 40) <= 12) & (columns >= 20) & (columns < 280)) | (centre <= 13.5)
    whole, pierced = measure_cracks(mask), measure_cracks(mask & ~(centre <= 1.5))
    for column in ("length_px", "mean_width_px", "max_width_px"):
        assert pierced[column].iloc[0] == pytest.approx(whole[column].iloc[0], abs=0.5), column
