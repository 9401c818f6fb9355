"""Crack-mask quality over a run: per-image scores averaged, ODS over images, baselines, measuring errors."""

import numpy as np
import pytest

from crack_pipeline.vision.evaluation.segmentation import ods_f1, tolerant_scores
from crack_pipeline.vision.explain.segment_quality import SegmentQuality, baseline_masks, segment_line


def band(shape, rows, columns):
    mask = np.zeros(shape, dtype=bool)
    mask[rows, columns] = True
    return mask


def test_the_darkness_baseline_finds_a_dark_line_on_a_plain_surface():
    truth = band((40, 60), slice(18, 21), slice(5, 55))
    image = np.where(truth, 40, 200).astype(np.uint8)
    masks = baseline_masks(np.repeat(image[..., None], 3, axis=2))
    assert (masks["threshold"] == truth).all()
    assert tolerant_scores(masks["sobel"], truth, 2)["recall"] == 1.0, "edges hug the line"
    flat = baseline_masks(np.full((10, 10, 3), 128, dtype=np.uint8))
    assert not flat["threshold"].any() and not flat["sobel"].any()


def test_scores_are_the_per_image_means_and_the_ods_over_images():
    truths = [band((40, 60), slice(18, 21), slice(5, 55)), band((30, 30), slice(2, 28), slice(14, 16))]
    predictions = [band((40, 60), slice(19, 22), slice(10, 55)), band((30, 30), slice(2, 20), slice(14, 16))]
    scores = [p.astype(np.float32) * 0.8 for p in predictions]
    scores[0][0:4, 0:4] = 0.9  # a speck the mask left out: not a crack the sweep may find
    images = [np.where(t, 60, 180).astype(np.uint8) for t in truths]
    quality = SegmentQuality()
    for prediction, score, truth, image in zip(predictions, scores, truths, images, strict=True):
        quality.add(prediction, score, truth, image)
    summary = quality.summary()
    direct = [tolerant_scores(p, t, 2) for p, t in zip(predictions, truths, strict=True)]
    assert summary["n"] == 2
    assert summary["f1"] == pytest.approx(np.mean([d["f1"] for d in direct]))
    assert summary["iou"] == pytest.approx(
        np.mean([tolerant_scores(p, t, 0)["iou"] for p, t in zip(predictions, truths, strict=True)])
    )
    within = [np.where(p, s, 0) for p, s in zip(predictions, scores, strict=True)]
    assert summary["ods_f1"] == pytest.approx(ods_f1(within, truths, tolerance=0)["f1"])
    assert summary["ods_f1"] > ods_f1(scores, truths, tolerance=0)["f1"]
    # The second crack is found over 18 of its 26 rows: its length is short by about that share.
    assert 0.05 < summary["length_error"] < 0.35
    assert summary["width_error_px"] < 0.5, "the same widths"
    line = segment_line("layercam", summary)
    assert line.startswith(f"segment: method=layercam n=2 f1={summary['f1']:.3f} ") and "tolerance=2" in line


def test_the_count_error_counts_cracks_as_the_table_lists_them():
    """A crack drawn whole and found in three collinear pieces 8 px apart is one crack to the table (pieces
    `join_gap` apart joined), one row; a crack where none is drawn is one too many."""
    truth = band((60, 120), slice(20, 22), slice(10, 110))
    found = truth.copy()
    found[:, 40:48] = found[:, 70:78] = False  # two gaps of 8 px
    found[50:52, 10:60] = True  # and a crack away from the drawn one
    image = np.where(truth, 60, 180).astype(np.uint8)
    summaries = {}
    for gap in (0, 10):
        quality = SegmentQuality()
        quality.add(found, found.astype(np.float32), truth, image, gap)
        quality.add(truth, truth.astype(np.float32), truth, image, gap)  # found whole: no error
        summaries[gap] = quality.summary()
    assert summaries[10]["count_error"] == pytest.approx((1 + 0) / 2), (
        "the pieces one crack, the other one more"
    )
    assert summaries[0]["count_error"] == pytest.approx((3 + 0) / 2), "each piece a crack"
    assert segment_line("layercam", summaries[10]).endswith(" count_error=0.50")


def test_each_mask_is_measured_once(monkeypatch):
    """Our mask and the true one were each measured twice, once more for the count alone (the whole of
    measure_cracks, ~0.8 s a 12-MP photo, to count its rows): 4 measurements an image, 2 now, and the same
    counts as the table's rows."""
    from crack_pipeline.vision.explain import measurements, segment_quality

    measured = []

    def counted(mask, *args, **kwargs):
        measured.append(mask)
        return measurements.listed_cracks(mask, *args, **kwargs)

    monkeypatch.setattr(segment_quality, "listed_cracks", counted)
    rng = np.random.default_rng(0)
    for gap in (0, 3, 10):
        truth, found = (rng.random((60, 90)) < share for share in (0.02, 0.05))
        quality = SegmentQuality()
        quality.add(found, found.astype(np.float32), truth, np.full((60, 90, 3), 128, np.uint8), gap)
        listed = [len(measurements.measure_cracks(mask, min_pixels=1, gap=gap)) for mask in (found, truth)]
        assert quality.count_errors == [abs(listed[0] - listed[1])], gap
    assert len(measured) == 2 * 3, "ours and the true mask once each"


def test_nothing_scored_gives_no_summary():
    assert SegmentQuality().summary() == {}


def test_the_measuring_errors_and_the_count_go_by_the_cracks_the_table_lists():
    """The length and width errors measured each mask again with measure_cracks' own minimum (10 px) and
    no gap, where the count and crack_measurements.csv take every piece, those `gap` px apart one: a 6-px
    crack the table listed added one to the count and nothing to the length."""
    from crack_pipeline.vision.explain.measurements import measure_cracks

    truth = band((60, 120), slice(20, 22), slice(10, 110))
    found = truth.copy()
    found[45, 50:56] = True  # a crack of 6 px, as a mask whose crack_masks.min_pixels is under 10 keeps it
    quality = SegmentQuality()
    quality.add(found, found.astype(np.float32), truth, np.full((60, 120, 3), 128, np.uint8), 4)
    ours, true = (measure_cracks(mask, min_pixels=1, gap=4) for mask in (found, truth))  # the table's rows
    assert (len(ours), len(true)) == (2, 1)
    assert quality.count_errors == [1]
    true_length = true["length_px"].sum()
    assert quality.length_errors == [pytest.approx(abs(ours["length_px"].sum() - true_length) / true_length)]
    assert quality.length_errors[0] > 0.05, "the 6-px crack is length the table lists (it read 0)"
