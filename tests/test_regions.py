"""Crack regions as boxes: drawn regions come back as their boxes, tightened to the evidence inside."""

import numpy as np
import pytest

from crack_pipeline.vision.explain.regions import crack_boxes


def test_boxes_match_the_regions_drawn_in_a_probability_map():
    probability = np.zeros((300, 400), dtype=np.float32)
    probability[20:80, 30:130] = 0.9  # a region of tiles saying crack
    probability[200:260, 250:390] = 0.7
    probability[150:152, 10:12] = 0.8  # a speck, under the minimum area
    probability[100:140, 300:340] = 0.45  # below the threshold
    boxes = crack_boxes(probability, probability, threshold=0.5, min_area=50)
    assert [(b["x0"], b["y0"], b["x1"], b["y1"]) for b in boxes] == [(30, 20, 130, 80), (250, 200, 390, 260)]
    assert [b["probability"] for b in boxes] == pytest.approx([0.9, 0.7]), "most probable first"
    assert boxes[0]["area"] == 60 * 100


def test_equally_probable_regions_come_in_reading_order_whatever_the_last_bits():
    probability = np.zeros((300, 400), dtype=np.float32)
    probability[200:260, 20:80] = 1.0  # lower left
    probability[20:80, 300:380] = 1.0 - 1e-6  # upper right, equal but for the last bits
    probability[20:80, 20:80] = 1.0 - 2e-6  # upper left
    boxes = crack_boxes(probability, probability, threshold=0.5)
    assert [(b["x0"], b["y0"]) for b in boxes] == [(20, 20), (300, 20), (20, 200)]


def test_a_box_is_tightened_to_the_strong_evidence_inside_its_region():
    probability = np.zeros((200, 200), dtype=np.float32)
    probability[0:100, 0:100] = 0.95  # one tile says crack...
    evidence = np.zeros_like(probability)
    evidence[60:70, 10:90] = 0.8  # ...the CAM puts it on a line inside the tile
    evidence[5, 5] = 0.1  # faint noise elsewhere in the tile stays out
    evidence[150:160, 150:160] = 1.0  # evidence outside any crack region makes no box
    (box,) = crack_boxes(probability, evidence, threshold=0.5, evidence_share=0.3)
    assert (box["x0"], box["y0"], box["x1"], box["y1"]) == (10, 60, 90, 70)
    assert box["evidence"] == pytest.approx(0.8) and box["area"] == 100 * 100


def test_a_region_without_evidence_keeps_its_whole_extent_and_diagonal_neighbours_join():
    probability = np.zeros((50, 50), dtype=np.float32)
    probability[10:20, 10:20] = 0.8
    probability[20:30, 20:30] = 0.8  # touches the first only at a corner: 8-connected, one region
    (box,) = crack_boxes(probability, np.zeros_like(probability))
    assert (box["x0"], box["y0"], box["x1"], box["y1"]) == (10, 10, 30, 30) and box["evidence"] == 0
    assert crack_boxes(probability, np.full_like(probability, 0.1), min_evidence=0.2) == [], (
        "nothing to point at"
    )


def test_no_region_no_box_and_maps_must_agree():
    assert crack_boxes(np.full((10, 10), 0.2), np.ones((10, 10))) == []
    with pytest.raises(ValueError, match="differ"):
        crack_boxes(np.zeros((10, 10)), np.zeros((10, 12)))
