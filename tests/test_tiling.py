"""Tiling whole photos: every pixel covered, overlaps blended as weighted means, photo-level aggregation."""

import numpy as np
import pytest

from crack_pipeline.vision.data.tile_grid import tile_grid
from crack_pipeline.vision.explain.tiling import (
    EDGE_WEIGHT,
    TilingConfig,
    aggregate,
    blend,
    cut_tiles,
    tile_window,
)


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [
        (3024, 4032, 227, 0.25),
        (500, 700, 227, 0.0),
        (230, 1000, 227, 0.5),
        (100, 90, 227, 0.25),
        (227, 454, 227, 0.1),
    ],
)
def test_tiles_cover_every_pixel_within_the_photo_with_the_overlap_asked(height, width, tile, overlap):
    grid = tile_grid(height, width, tile, overlap)
    covered = np.zeros((height, width), dtype=int)
    for y, x in grid.origins():
        assert 0 <= y <= height - grid.tile_height and 0 <= x <= width - grid.tile_width
        covered[y : y + grid.tile_height, x : x + grid.tile_width] += 1
    assert covered.min() >= 1, "a pixel no tile sees"
    for starts, side in ((grid.ys, grid.tile_height), (grid.xs, grid.tile_width)):
        steps = np.diff(starts)
        assert (steps >= 1).all() and (side - steps >= overlap * side - 1).all(), (
            "neighbours overlap as asked"
        )
    assert grid.tile_height == min(tile, height) and grid.tile_width == min(tile, width)


def test_a_photo_smaller_than_a_tile_is_one_tile_of_the_whole_photo():
    grid = tile_grid(60, 80, 227, 0.25)
    assert len(grid) == 1 and (grid.tile_height, grid.tile_width) == (60, 80)
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    tiles = cut_tiles(image, grid, 32)
    assert tiles.shape == (1, 3, 32, 32) and tiles.dtype == np.uint8
    only = np.full((60, 80), 0.7, dtype=np.float32)
    np.testing.assert_allclose(blend(grid, [only]), only)


def test_tiles_are_the_photos_pixels_at_the_model_input():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[:, 30:] = 200  # the right half bright
    grid = tile_grid(40, 60, 20, 0.0)
    assert grid.shape == (2, 3)
    tiles = cut_tiles(image, grid, 20)  # same size: no resampling
    assert [int(t.mean() > 100) for t in tiles] == [0, 0, 1, 0, 0, 1]  # row-major: the third column bright
    with pytest.raises(ValueError, match="does not match"):
        cut_tiles(image[:30], grid, 20)


def test_blending_constants_and_maps_together_equals_the_weighted_mean_pixel_by_pixel():
    grid = tile_grid(37, 53, 16, 0.3)  # uneven strides, tiles flush with the far borders
    rng = np.random.default_rng(3)
    maps = [
        rng.random((16, 16)).astype(np.float32) if i % 3 == 0 else float(rng.random())
        for i in range(len(grid))
    ]
    window = tile_window(16, 16)
    total, weight = np.zeros((37, 53)), np.zeros((37, 53))
    for (y, x), tile_map in zip(grid.origins(), maps, strict=True):
        total[y : y + 16, x : x + 16] += window * tile_map
        weight[y : y + 16, x : x + 16] += window
    np.testing.assert_allclose(blend(grid, maps), total / weight, rtol=1e-5, atol=1e-6)


def test_a_tile_without_a_number_spoils_only_its_own_area():
    grid = tile_grid(30, 30, 10, 0.0)  # 3 x 3 tiles, no overlap
    values = [0.5] * len(grid)
    values[4] = float("nan")  # the middle tile
    mosaic = blend(grid, values)
    assert np.isnan(mosaic[10:20, 10:20]).all()
    outside = np.ones((30, 30), dtype=bool)
    outside[10:20, 10:20] = False
    np.testing.assert_allclose(mosaic[outside], 0.5, rtol=1e-6)


def test_blending_is_the_window_weighted_mean_of_the_overlapping_tiles():
    grid = tile_grid(10, 16, 10, 0.4)  # two tiles side by side, columns 6..9 shared
    assert grid.origins() == [(0, 0), (0, 6)]
    left, right = np.full((10, 10), 1.0), np.full((10, 10), 0.0)
    mosaic = blend(grid, [left, right])
    window = tile_window(10, 10)
    np.testing.assert_allclose(mosaic[:, :6], 1.0)
    np.testing.assert_allclose(mosaic[:, 10:], 0.0)
    shared = window[:, 6:] / (window[:, 6:] + window[:, :4])  # left's weight over both, per shared column
    np.testing.assert_allclose(mosaic[:, 6:10], shared, rtol=1e-6)
    assert np.all(np.diff(mosaic[0]) <= 1e-7), "a smooth hand-over, no seam"
    # Constant tiles blend to that constant everywhere, at the photo's borders too.
    np.testing.assert_allclose(blend(grid, [0.3, 0.3]), np.full((10, 16), 0.3), rtol=1e-6)
    # Hand-made maps: what each tile says lands where that tile is.
    marked = np.zeros((10, 10))
    marked[5, 2] = 1.0
    spot = blend(grid, [np.zeros((10, 10)), marked])
    assert np.unravel_index(spot.argmax(), spot.shape) == (5, 8)
    with pytest.raises(ValueError, match="tile maps"):
        blend(grid, [left])


def test_window_is_one_in_the_middle_and_low_at_the_edges():
    window = tile_window(9, 9)
    assert window[4, 4] == pytest.approx(1.0) and window[0, 0] == pytest.approx(EDGE_WEIGHT**2)
    assert window.min() > 0, "every pixel of a tile counts"


def test_aggregation_rules():
    p = [0.1, 0.9, 0.5, 0.2]
    assert aggregate(p, "max") == pytest.approx(0.9)
    assert aggregate(p, "noisy_or") == pytest.approx(1 - 0.9 * 0.1 * 0.5 * 0.8)
    assert aggregate(p, "top_k_mean", top_k=2) == pytest.approx(0.7)
    assert aggregate(p, "top_k_mean", top_k=10) == pytest.approx(np.mean(p)), "k over the tile count: all"
    assert aggregate([0.3], "noisy_or") == pytest.approx(0.3), "one tile: its own probability"
    # One confident tile among many quiet ones: max and noisy-OR flag the photo, top-k mean is warier.
    quiet = [0.01] * 50 + [0.95]
    assert aggregate(quiet, "max") > 0.9 and aggregate(quiet, "noisy_or") > 0.95
    assert aggregate(quiet, "top_k_mean", top_k=3) < 0.5
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(p, "mean")
    with pytest.raises(ValueError, match="no tile"):
        aggregate([], "max")


def test_bad_tiling_settings_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        tile_grid(100, 100, 50, 1.0)
    with pytest.raises(ValueError, match="tile size"):
        tile_grid(100, 100, 0, 0.2)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("tile_size", 0),  # passed the check as "the default" and stopped the first photo
        ("top_k", 0),  # stopped the first photo of a top_k_mean run
        ("cam_min_probability", 1.5),  # every heatmap blank, without a word
        ("box_evidence", float("nan")),
        ("min_box_evidence", 2),
        ("min_box_area", -0.1),
    ],
)
def test_tiling_settings_out_of_their_range_are_named_before_the_run(setting, value):
    from crack_pipeline.vision.settings import ConfigError, settings_from

    with pytest.raises(ConfigError, match=rf"^bad settings: tiling\.{setting}: Input should be"):
        settings_from(TilingConfig, {setting: value}, "tiling")


def test_tiles_cut_on_every_core_are_the_tiles_cut_one_by_one():
    from PIL import Image

    from crack_pipeline.vision.data.image_io import resize_square
    from crack_pipeline.vision.explain.tiling import cut_tiles

    image = np.random.default_rng(0).integers(0, 256, (300, 410, 3), dtype=np.uint8)
    grid = tile_grid(300, 410, 100, 0.25)
    one_by_one = [
        resize_square(Image.fromarray(image[y : y + 100, x : x + 100]), 64) for y, x in grid.origins()
    ]
    np.testing.assert_array_equal(cut_tiles(image, grid, 64), np.stack(one_by_one))
