"""Localisation scores on hand-made heatmaps and masks, and the baselines' behaviour."""

import numpy as np
import pytest

from crack_pipeline.vision.explain.localisation import (
    centre_gaussian,
    energy_in_mask,
    pointing_game,
    random_map,
    sobel_map,
    top_k_iou,
)


def line_mask(size=224, column=50):
    mask = np.zeros((size, size), dtype=bool)
    mask[:, column : column + 3] = True
    return mask


def test_pointing_game_hit_miss_and_tolerance():
    mask = line_mask()
    heatmap = np.zeros((224, 224))
    heatmap[100, 51] = 1.0
    assert pointing_game(heatmap, mask)
    heatmap[100, 51], heatmap[100, 65] = 0.0, 1.0  # 13 px right of the crack: inside the 15 px tolerance
    assert pointing_game(heatmap, mask)
    assert not pointing_game(heatmap, mask, tolerance_at_224=0)
    heatmap[100, 65], heatmap[100, 120] = 0.0, 1.0
    assert not pointing_game(heatmap, mask)


def test_a_flat_heatmap_points_nowhere():
    # A crack along the top edge from the corner, and a map with no evidence (every tile of a photo too clean
    # to explain, or Sobel on a flat image): its argmax is the first pixel, which is no pointing.
    mask = np.zeros((320, 480), dtype=bool)
    mask[2:4, 5:40] = True
    assert not pointing_game(np.zeros((320, 480)), mask)
    assert not pointing_game(np.full((320, 480), 0.5), mask)
    assert not pointing_game(sobel_map(np.full((320, 480, 3), 140.0)), mask)
    peaked = np.zeros((320, 480))
    peaked[3, 20] = 1.0
    assert pointing_game(peaked, mask)


def test_tolerance_scales_with_image_size():
    mask = line_mask(size=112, column=25)
    heatmap = np.zeros((112, 112))
    heatmap[50, 37] = 1.0  # 10 px from the crack at 112 px is 20 px at 224: outside
    assert not pointing_game(heatmap, mask)
    heatmap[50, 37], heatmap[50, 33] = 0.0, 1.0  # 6 px -> 12 px at 224: inside
    assert pointing_game(heatmap, mask)


def test_energy_in_mask_by_hand():
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :2] = True
    heatmap = np.zeros((4, 4))
    heatmap[0, 0], heatmap[3, 3] = 3.0, 1.0
    heatmap[1, 1] = -5.0  # negative evidence carries no mass
    assert energy_in_mask(heatmap, mask) == pytest.approx(0.75)
    assert energy_in_mask(np.zeros((4, 4)), mask) == 0.0


def test_top_k_iou_by_hand():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0, :5] = True  # 5 pixels = 5 % of 100
    heatmap = np.zeros((10, 10))
    heatmap[0, :5] = 1.0
    assert top_k_iou(heatmap, mask, percent=5) == pytest.approx(1.0)
    heatmap[0, :5], heatmap[9, :5] = 0.0, 1.0
    assert top_k_iou(heatmap, mask, percent=5) == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        energy_in_mask(np.zeros((4, 4)), np.zeros((5, 5), dtype=bool))


def test_baselines():
    centre = centre_gaussian((224, 224))
    assert np.unravel_index(np.argmax(centre), centre.shape) in {
        (111, 111),
        (111, 112),
        (112, 111),
        (112, 112),
    }
    noise = random_map((64, 64), np.random.default_rng(0))
    assert noise.shape == (64, 64) and noise.std() > 0
    image = np.full((64, 64, 3), 200, dtype=np.uint8)
    image[:, 30:33] = 40  # a dark vertical line
    edges = sobel_map(image)
    assert pointing_game(edges, line_mask(64, 30))
