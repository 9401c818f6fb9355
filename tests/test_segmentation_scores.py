"""Pixel scores of crack masks against a direct pixel-by-pixel computation, and the ODS protocol."""

import math

import numpy as np
import pytest

from crack_pipeline.vision.evaluation.segmentation import ods_f1, tolerant_scores


def share_near(pixels, others, tolerance):
    """Share of the True pixels of `pixels` with a True pixel of `others` within `tolerance`, one by one."""
    targets = list(zip(*np.nonzero(others), strict=True))
    found = [
        any(math.hypot(y - v, x - u) <= tolerance for v, u in targets)
        for y, x in zip(*np.nonzero(pixels), strict=True)
    ]
    return sum(found) / len(found)


def direct_scores(predicted, truth, tolerance):
    """Precision and recall as defined, empty cases included: both empty 1.0, one empty 0."""
    if not predicted.any() and not truth.any():
        return 1.0, 1.0
    if not predicted.any() or not truth.any():
        return 0.0, 0.0
    return share_near(predicted, truth, tolerance), share_near(truth, predicted, tolerance)


def harmonic(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@pytest.mark.parametrize("tolerance", [0, 1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tolerant_scores_match_a_direct_computation(tolerance, seed):
    rng = np.random.default_rng(seed)
    truth = rng.random((14, 17)) < 0.1
    predicted = rng.random((14, 17)) < 0.15
    precision, recall = direct_scores(predicted, truth, tolerance)
    scores = tolerant_scores(predicted, truth, tolerance=tolerance)
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(harmonic(precision, recall))
    both = sum(p and t for p, t in zip(predicted.ravel(), truth.ravel(), strict=True))
    either = sum(p or t for p, t in zip(predicted.ravel(), truth.ravel(), strict=True))
    assert scores["iou"] == pytest.approx(both / either)


@pytest.mark.parametrize(
    "tolerance", [3.5, 11]
)  # shifted copies; past `_WIDEST_SHIFTED`, a distance transform
def test_wide_tolerances_match_a_direct_computation(tolerance):
    rng = np.random.default_rng(3)
    truth = rng.random((80, 120)) < 0.003
    predicted = rng.random((80, 120)) < 0.004
    precision, recall = direct_scores(predicted, truth, tolerance)
    assert 0 < precision < 1 and 0 < recall < 1, "the tolerance leaves something unmatched"
    scores = tolerant_scores(predicted, truth, tolerance=tolerance)
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)


def test_a_crack_drawn_two_pixels_aside_scores_full_marks_only_with_the_tolerance():
    truth = np.zeros((40, 60), dtype=bool)
    truth[18:21, 5:55] = True  # 3 px wide
    predicted = np.roll(truth, 2, axis=0)
    assert tolerant_scores(predicted, truth, tolerance=2) == pytest.approx(
        {"precision": 1.0, "recall": 1.0, "f1": 1.0, "iou": 1 / 5}
    )
    exact = tolerant_scores(predicted, truth, tolerance=0)
    assert exact["f1"] == pytest.approx(1 / 3), "one row of three overlaps"
    assert tolerant_scores(predicted, truth, tolerance=1)["f1"] == pytest.approx(2 / 3)


def test_empty_masks():
    empty, crack = np.zeros((10, 10), dtype=bool), np.eye(10, dtype=bool)
    assert tolerant_scores(empty, empty) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "iou": 1.0}
    assert tolerant_scores(empty, crack) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "iou": 0.0}
    assert tolerant_scores(crack, empty) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "iou": 0.0}


def direct_ods(maps, truths, thresholds, tolerance):
    """Best F1 over thresholds of the per-image precision and recall averaged over the images."""
    best = None
    for threshold in thresholds:
        scores = [direct_scores(p >= threshold, t, tolerance) for p, t in zip(maps, truths, strict=True)]
        precision = sum(s[0] for s in scores) / len(scores)
        recall = sum(s[1] for s in scores) / len(scores)
        f1 = harmonic(precision, recall)
        if best is None or f1 > best["f1"]:
            best = {"f1": f1, "threshold": threshold, "precision": precision, "recall": recall}
    return best


def three_images():
    """Probability maps of three sizes, in steps of 0.05 (some on a threshold): noisy over and around the
    crack, a false alarm in a corner, and one image without any crack."""
    rng = np.random.default_rng(7)
    maps, truths = [], []
    for shape, has_crack in (((20, 26), True), ((24, 18), True), ((14, 20), False)):
        truth = np.zeros(shape, dtype=bool)
        if has_crack:
            truth[shape[0] // 2, 2:-2] = True
            truth[2:-2, shape[1] // 3] = True
        probability = np.round(np.clip(0.4 * truth + rng.normal(0.3, 0.2, shape), 0, 1) * 20) / 20
        probability[0, -1] = 1.0  # a confident false alarm away from the crack
        maps.append(probability)
        truths.append(truth)
    return maps, truths


@pytest.mark.parametrize("tolerance", [0, 1, 2])
def test_ods_matches_a_direct_computation(tolerance):
    maps, truths = three_images()
    thresholds = np.arange(1, 20) / 20
    expected = direct_ods(maps, truths, thresholds, tolerance)
    assert 0 < expected["f1"] < 1, "the maps leave something to choose"
    assert ods_f1(maps, truths, thresholds=thresholds, tolerance=tolerance) == pytest.approx(expected)


def test_ods_of_perfect_maps_is_one():
    _, truths = three_images()
    result = ods_f1([t.astype(float) for t in truths], truths)
    assert result["f1"] == 1.0 and result["precision"] == 1.0 and result["recall"] == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tolerant_scores(np.zeros((4, 4)), np.zeros((4, 5))), "differ in size"),
        (lambda: tolerant_scores(np.full((4, 4), 0.3), np.zeros((4, 4))), "threshold"),
        (lambda: tolerant_scores(np.zeros((4, 4)), np.zeros((4, 4)), tolerance=-1), "tolerance"),
        # NaN (a setting left as .nan) compares false both ways: refused, not a traceback from int(nan)
        (lambda: tolerant_scores(np.zeros((4, 4)), np.zeros((4, 4)), tolerance=math.nan), "tolerance"),
        (lambda: ods_f1([np.zeros((4, 4))], [np.zeros((4, 4))], tolerance=math.nan), "tolerance"),
        (lambda: ods_f1([np.zeros((4, 4))], []), "as many"),
        (lambda: ods_f1([np.zeros((4, 4)), np.zeros((3, 3))], [np.zeros((4, 4))] * 2), "map 1"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
