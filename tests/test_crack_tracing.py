"""Where the crack segmenter runs in a photo (crack_tracing): it judges pixels alike wherever a photo is
cut, traces cracks from darkness's pixels, joins darkness's mask, and calls cracked the photos the
classifier missed."""

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.tile_grid import tile_grid
from crack_pipeline.vision.evaluation.segmentation import tolerant_scores
from crack_pipeline.vision.explain import crack_tracing, segmenter_calls
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig, crack_mask, crack_score, grey_levels
from crack_pipeline.vision.explain.crack_segmenter import (
    CrackSegmenter,
    SegmenterConfig,
    load_segmenter,
    local_contrast,
    train_segmenter,
)
from crack_pipeline.vision.explain.crack_tracing import crack_probability, near_pixels, trace_cracks
from crack_pipeline.vision.explain.photos import TiledPhoto, explain_photo
from crack_pipeline.vision.explain.segmenter_calls import found_boxes, segmenter_finding
from crack_pipeline.vision.explain.tiling import TilingConfig

# The net of the tests that give its views (`_level_probability`, `crack_probability`): never run.
NOT_RUN = CrackSegmenter(width=1)


def test_the_probability_is_computed_only_within_reach_of_the_seeds(learned, held_out):
    net = load_segmenter(learned)
    image = held_out(1, positive=True)[0].image
    gate = np.zeros((227, 227), dtype=bool)
    gate[100:110, 100:110] = True
    near = crack_probability(net, image, near_pixels(gate, 5))
    assert near[:95].max() == 0 and near[:, 116:].max() == 0, "nothing past the reach"
    assert (near[95:115, 95:115] > 0).all()
    everywhere = crack_probability(net, image, np.ones_like(gate))
    inside = (slice(95, 115), slice(95, 115))
    # Seen with its surroundings, though not the whole image's surface spread: close, not always equal.
    assert np.abs(near[inside] - everywhere[inside]).max() < 0.2


def test_a_crack_is_traced_from_one_end_past_the_reach_of_its_seeds(learned, monkeypatch, held_out):
    net = load_segmenter(learned)
    # At the photo's own scale: the test's net, trained 250 steps, is weaker at half of it (recall 0.34).
    at_its_scale = CrackMaskConfig(segmenter_levels=1)
    one_step, traced = [], []
    for sample in held_out(6, positive=True):
        rows, columns = np.nonzero(sample.mask)
        end = np.argmin(columns)  # the crack's leftmost pixel: seeds only there
        near_end = (
            slice(max(0, rows[end] - 8), rows[end] + 9),
            slice(max(0, columns[end] - 8), columns[end] + 9),
        )
        seeds = np.zeros_like(sample.mask)
        seeds[near_end] = sample.mask[near_end]
        for steps, found in ((1, one_step), (30, traced)):
            config = dataclasses.replace(at_its_scale, segmenter_steps=steps)
            mask, _ = trace_cracks(net, sample.image, seeds, 8, config)
            found.append(tolerant_scores(mask, sample.mask))
        # Each step looks only within reach of what it holds: never beyond steps x reach of the seeds.
        three = dataclasses.replace(at_its_scale, segmenter_steps=3)
        _, probability = trace_cracks(net, sample.image, seeds, 8, three)
        assert (probability > 0).any() and not (probability > 0)[~near_pixels(seeds, 8 * 3)].any()
    recall = [np.mean([scores["recall"] for scores in found]) for found in (one_step, traced)]
    # Followed to its end in most images: one step 0.08 on average, traced 0.51-0.70 over seeds 0-2.
    assert recall[1] > 0.35 and recall[1] > recall[0] + 0.25, recall
    assert np.mean([scores["precision"] for scores in traced]) > 0.8
    # The stopping rule: nothing added, nothing more looked at (one pass).
    calls = []
    monkeypatch.setattr(crack_tracing, "_judge", lambda *args: calls.append(1))  # judges 0 everywhere
    clean = held_out(1, positive=False)[0].image
    seeds = np.zeros((227, 227), dtype=bool)
    seeds[100:102, 100:120] = True
    mask, _ = trace_cracks(net, clean, seeds, 8, CrackMaskConfig(segmenter_steps=30))
    assert len(calls) == 1 and not mask.any()


def test_the_net_judges_a_pixel_alike_wherever_the_picture_is_cut():
    torch.manual_seed(0)
    net = load_segmenter(train_segmenter(SegmenterConfig(samples=2, steps=1, crop=32, width=4)))
    grey = torch.randn(1, 1, 90, 90)
    with torch.no_grad():
        whole, cut = net(grey), net(grey[..., 8:, 12:])  # a cut on the pooling grid, odd sizes after it
    # Away from the cut's edges (the net's view: about 26 px) the logits agree.
    torch.testing.assert_close(cut[..., 30:-30, 30:-30], whole[..., 38:-30, 42:-30], rtol=1e-4, atol=1e-4)


def test_levels_average_the_nets_view_at_the_photos_scale_and_at_each_half_of_it(learned, held_out):
    net = load_segmenter(learned)
    image = held_out(1, positive=True)[0].image  # 227 px: odd, the last row and column averaged alone
    grey = torch.from_numpy(grey_levels(image))[None, None]

    def seen_at(factor: int) -> np.ndarray:
        padded = torch.nn.functional.pad(grey, (0, 1, 0, 1), mode="replicate")
        small = torch.nn.functional.avg_pool2d(padded, factor)[0, 0].numpy() if factor > 1 else image
        with torch.no_grad():
            judged = torch.sigmoid(net(torch.from_numpy(local_contrast(small))[None, None]))
        return torch.nn.functional.interpolate(judged, scale_factor=float(factor), mode="bilinear")[
            0, 0, :227, :227
        ].numpy()

    everywhere = np.ones((227, 227), dtype=bool)
    own, half = seen_at(1), seen_at(2)
    np.testing.assert_allclose(crack_probability(net, image, everywhere), own, atol=1e-5)
    np.testing.assert_allclose(
        crack_probability(net, image, everywhere, levels=2), (own + half) / 2, atol=1e-5
    )
    assert np.abs(own - half).max() > 0.1, "the half scale is a view of its own"


def test_over_two_levels_a_crack_seen_at_the_photos_own_scale_keeps_its_width(monkeypatch):
    """Half the photo's scale, brought back to it, is blurred across a crack: beside a crack the photo's own
    scale sees, its pixels are left out; a crack only the half scale sees keeps the width it has there."""
    own, half = np.zeros((120, 200), dtype=np.float32), np.zeros((120, 200), dtype=np.float32)
    own[60, 20:100] = 0.9  # seen at the photo's scale, 1 px wide...
    own[60, 100:180] = 0.1  # ...then faint there
    half[58:63, 20:100] = 0.9  # the half scale sees all of it, blurred to 5 px where the own scale sees it
    half[59:62, 100:180] = 0.9  # and 3 px where it does not
    maps = [own, half]
    monkeypatch.setattr(
        crack_tracing, "_level_probability", lambda net, image, core, level: maps[level][core]
    )
    seeds = np.zeros((120, 200), dtype=bool)
    seeds[60, 20:40] = True
    image = np.zeros((120, 200, 3), dtype=np.uint8)
    mask, probability = trace_cracks(NOT_RUN, image, seeds, 20, CrackMaskConfig(segmenter_levels=2))
    np.testing.assert_array_equal(np.nonzero(mask[:, 50])[0], [60], err_msg="its own width, 1 px")
    np.testing.assert_array_equal(np.nonzero(mask[:, 150])[0], [59, 60, 61], err_msg="the half scale's")
    assert mask[60, 20:180].all(), "one crack, traced from its seeds to its faint end"
    assert probability[59, 50] == pytest.approx(0.45), "the score is the levels' mean (what ODS sweeps)"


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_with_the_surface_spread_fixed_a_box_or_window_anywhere_is_judged_exactly_as_the_whole_photo(
    learned, held_out, monkeypatch, levels
):
    """Each scale's boxes start on its pooling grid and see enough context (44 px at the photo's scale,
    twice as many at each half; the net, 24 of them): then only the surface's spread, taken from what a box
    holds, differs."""
    monkeypatch.setattr(crack_tracing, "local_contrast", lambda grey: np.asarray(grey, np.float32) / 40 - 3)
    net = load_segmenter(learned)
    image = np.tile(held_out(1, positive=True)[0].image, (3, 3, 1))
    everywhere = np.ones(image.shape[:2], dtype=bool)
    whole = crack_probability(net, image, everywhere, levels)
    for offset in range(4 * 2 ** (levels - 1)):
        seeds = np.zeros(image.shape[:2], dtype=bool)
        seeds[301 + offset : 360, 301 + offset : 360] = True
        boxed = crack_probability(net, image, seeds, levels)
        np.testing.assert_allclose(boxed[seeds], whole[seeds], atol=1e-5, err_msg=f"offset {offset}")
    monkeypatch.setattr(crack_tracing, "_WINDOW", 100)
    np.testing.assert_allclose(crack_probability(net, image, everywhere, levels), whole, atol=1e-5)


@pytest.mark.parametrize("levels", [1, 2])
def test_a_box_starting_anywhere_is_judged_as_the_whole_photo_would_be(learned, held_out, levels):
    net = load_segmenter(learned)
    image = np.tile(held_out(1, positive=True)[0].image, (3, 3, 1))
    whole = crack_probability(net, image, np.ones(image.shape[:2], dtype=bool), levels)
    # The box starts at every position of the net's pooling grid at its coarsest scale (4 px at the
    # photo's own, 8 px at half of it).
    for offset in range(4 * levels):
        seeds = np.zeros(image.shape[:2], dtype=bool)
        seeds[301 + offset : 360, 301 + offset : 360] = True
        # Aligned: within 0.05 (the box's own surface spread); cut off the grid it was up to 0.37.
        assert np.abs(crack_probability(net, image, seeds, levels) - whole)[seeds].max() < 0.1, offset


@pytest.mark.parametrize("levels", [1, 2])
def test_large_boxes_run_in_windows_that_agree_at_their_seams(learned, monkeypatch, held_out, levels):
    net = load_segmenter(learned)
    image = np.tile(held_out(1, positive=True)[0].image, (2, 2, 1))  # 454 x 454
    gate = np.ones(image.shape[:2], dtype=bool)
    whole = crack_probability(net, image, gate, levels)
    monkeypatch.setattr(crack_tracing, "_WINDOW", 100)  # 25 windows, each with its context
    windowed = crack_probability(net, image, gate, levels)
    assert np.abs(windowed - whole).max() < 0.2 and np.abs(windowed - whole).mean() < 0.01


def test_boxes_are_seen_side_by_side_at_one_torch_thread_each_and_the_threads_given_back(
    learned, held_out, monkeypatch, torch_threads
):
    """On the CPU, boxes go to a thread per torch thread, torch at one thread each: its threads waited on
    each other whenever anything else held a core. The same p(crack), and torch's threads as they were,
    also when a box fails."""
    net = load_segmenter(learned)
    image = np.tile(held_out(1, positive=True)[0].image, (2, 2, 1))  # 454 x 454
    region = np.zeros(image.shape[:2], dtype=bool)
    region[20:60, 20:60] = region[300:340, 40:80] = region[100:140, 380:420] = region[400:440, 400:440] = True
    torch.set_num_threads(1)
    alone = crack_probability(net, image, region, 2)
    seen, run = [], crack_tracing._net_probability

    def net_probability(net, contrast):
        seen.append((threading.current_thread() is threading.main_thread(), torch.get_num_threads()))
        return run(net, contrast)

    monkeypatch.setattr(crack_tracing, "_net_probability", net_probability)
    torch.set_num_threads(2)
    np.testing.assert_allclose(crack_probability(net, image, region, 2), alone, atol=1e-5)
    assert torch.get_num_threads() == 2
    assert len(seen) == 8 and set(seen) == {(False, 1)}, "4 boxes x 2 levels, each in a worker, at 1 thread"

    def failing(net, contrast):
        raise RuntimeError("a box failed")

    monkeypatch.setattr(crack_tracing, "_net_probability", failing)
    with pytest.raises(RuntimeError, match="a box failed"):
        crack_probability(net, image, region, 2)
    assert torch.get_num_threads() == 2


def test_its_pixels_join_darknesss_where_the_photo_is_called_cracked(learned, held_out):
    sample = held_out(1, positive=True)[0]
    grid = tile_grid(227, 227, 227, 0.0)
    cam = sample.mask.astype(np.float32)  # evidence on the crack
    net = load_segmenter(learned)
    config = CrackMaskConfig(follow_steps=0)  # the mask alone: darkness under the evidence, not followed
    alone = explain_photo(grid, np.array([0.9]), {0: cam}, TilingConfig(), 0.5, sample.image, config)
    joined = explain_photo(grid, np.array([0.9]), {0: cam}, TilingConfig(), 0.5, sample.image, config, net)
    darkness = crack_score(sample.image, cam, 227, config)
    np.testing.assert_array_equal(alone.crack_mask, crack_mask(darkness, config))
    added = joined.crack_mask & ~alone.crack_mask
    assert (joined.crack_mask >= alone.crack_mask).all() and added.sum() > 0.1 * alone.crack_mask.sum()
    # Added only where the segmenter traced from darkness's crack pixels: in one step, within reach of them.
    one_step = dataclasses.replace(config, segmenter_steps=1)  # followed alike: not at all
    near = explain_photo(grid, np.array([0.9]), {0: cam}, TilingConfig(), 0.5, sample.image, one_step, net)
    reach = round(config.segmenter_reach * 227)
    assert not (
        (near.crack_mask & ~alone.crack_mask) & ~ndimage.maximum_filter(alone.crack_mask, 2 * reach + 1)
    ).any()
    assert (joined.crack_mask >= near.crack_mask).all(), "traced further, never less"
    # What it adds is mostly crack: recall up, F1 kept, over three photos (one photo's F1 moves by up to
    # 0.2 with the number of threads that trained the small test segmenter; three photos' mean by 0.001).
    scores = {"joined": [], "alone": []}
    for other in held_out(3, positive=True):
        on_crack = {0: other.mask.astype(np.float32)}
        for name, segmenter in (("joined", net), ("alone", None)):
            found = explain_photo(
                grid, np.array([0.9]), on_crack, TilingConfig(), 0.5, other.image, config, segmenter
            )
            scores[name].append(tolerant_scores(found.crack_mask, other.mask))
    recall, f1 = (
        {name: np.mean([score[key] for score in found]) for name, found in scores.items()}
        for key in ("recall", "f1")
    )
    assert recall["joined"] > recall["alone"] + 0.05 and f1["joined"] > f1["alone"] - 0.02, (recall, f1)
    classifier_only = CrackMaskConfig(segmenter_finds=None)
    clean = explain_photo(
        grid, np.array([0.2]), {0: cam}, TilingConfig(), 0.5, sample.image, classifier_only, net
    )
    assert not clean.crack_mask.any(), "called clean: empty, segmenter or not"


def test_the_segmenter_calls_cracked_what_the_classifier_missed_only_when_asked(learned, held_out):
    net = load_segmenter(learned)
    grid = tile_grid(227, 227, 227, 0.0)
    nothing = {0: np.zeros((227, 227), dtype=np.float32)}  # the classifier saw nothing: p 0.2, no evidence
    finds = CrackMaskConfig(segmenter_finds=0.5)  # a crack spanning half a tile

    def explained(image, config=finds, probability=0.2):
        found = segmenter_finding(image, 227, probability, 0.5, config, net)  # once per photo
        return explain_photo(
            grid, np.array([probability]), nothing, TilingConfig(), 0.5, image, config, net, found
        )

    cracked = [(sample, explained(sample.image)) for sample in held_out(4, positive=True)]
    cracked = [(sample, photo) for sample, photo in cracked if photo.called_by == "segmenter"]
    assert len(cracked) >= 3, "4 of 4 found over seeds 0-2"
    for _, photo in cracked:  # boxed around its cracks: every crack pixel in a box
        boxed = np.zeros_like(photo.crack_mask)
        for box in photo.boxes:
            boxed[box["y0"] : box["y1"], box["x0"] : box["x1"]] = True
        assert photo.boxes and (boxed >= photo.crack_mask).all()
        assert {box["found_by"] for box in photo.boxes} == {"segmenter"}, "the classifier's tiles found none"
    f1 = [tolerant_scores(photo.crack_mask, sample.mask)["f1"] for sample, photo in cracked]
    assert np.mean(f1) > 0.6, f1  # 0.80-0.88 over seeds 0-2
    clean = [explained(sample.image) for sample in held_out(4, positive=False)]
    assert all(photo.called_by is None and not photo.crack_mask.any() for photo in clean)
    sample, photo = cracked[0]
    asked_not = explained(sample.image, CrackMaskConfig(segmenter_finds=None))
    assert asked_not.called_by is None and not asked_not.crack_mask.any(), "the classifier's calls alone"
    assert explained(sample.image, probability=0.9).called_by == "classifier"
    # Its call is the image's prediction, and says who made it.
    ref = ImageRef("wall.png", Path("unused.png"), "crack")
    writer = ArtefactWriter(0.5)
    writer.add("layercam", TiledPhoto(0, ref, sample.image, grid, np.zeros((1, 3, 8, 8), np.uint8)), photo)
    _, predictions, _, measurements = writer.finish("small_cnn")
    (row,) = predictions.itertuples()
    assert (row.predicted_label, row.called_by, row.correct) == ("crack", "segmenter", True)
    assert row.cracks_count == len(measurements) > 0


def test_a_photo_the_segmenter_calls_keeps_its_cracks_of_the_shortest_span_or_more():
    probability = np.zeros((200, 200), dtype=np.float32)
    probability[20, 10:160] = 0.9  # a crack spanning 150 px
    probability[100:103, 60:80] = 0.8  # one spanning 20 px (a speck of grain, say)
    probability[150:152, 150:152] = 0.35  # under segmenter_high: no crack
    config = CrackMaskConfig(min_elongation=1.0)
    mask, score = crack_tracing.found_cracks(probability, 100, 30, 0, 0, config)
    np.testing.assert_array_equal(mask, probability >= 0.9, err_msg="the long crack, not the short one")
    np.testing.assert_array_equal(score, np.where(mask, probability, 0), err_msg="p(crack) on its cracks")
    every, _ = crack_tracing.found_cracks(probability, 100, 0, 0, 0, config)
    np.testing.assert_array_equal(every, probability > 0.5)
    assert crack_tracing.found_cracks(probability, 151, 0, 0, 0, config) is None, "none spans 151 px"


@pytest.mark.parametrize("between", [9, 10])  # px between the pieces: odd and even gaps alike
def test_the_segmenter_finds_a_crack_it_traced_in_pieces_when_they_lie_within_the_gap(between):
    probability = np.zeros((200, 200), dtype=np.float32)
    probability[20, 10:80] = probability[20, 80 + between : 160] = 0.9  # two pieces of 70 px or so
    probability[100, 10:70] = 0.9  # another crack of 60 px, far from them
    config = CrackMaskConfig(min_elongation=1.0)
    assert crack_tracing.found_cracks(probability, 100, 30, 0, 0, config) is None, "no piece spans 100 px"
    assert crack_tracing.found_cracks(probability, 100, 30, between - 1, 0, config) is None, "a pixel short"
    mask, _ = crack_tracing.found_cracks(probability, 100, 30, between, 0, config)
    np.testing.assert_array_equal(mask, probability > 0.5, err_msg="every crack kept, not only the joined")
    assert crack_tracing.found_cracks(probability, 151, 30, between, 0, config) is None, "joined: 150 px"
    joined, _ = crack_tracing.found_cracks(probability, 100, 30, between, 61, config)
    expected = probability > 0.5
    expected[100] = False
    np.testing.assert_array_equal(joined, expected, err_msg="the 60-px crack spans under 61 px")
    assert joined[20].sum() == 150 - between, "both pieces of the joined crack: 150 px across"


def test_a_photo_the_segmenter_calls_gets_the_dark_pixels_near_its_cracks(monkeypatch):
    image = np.full((200, 200, 3), 128, dtype=np.uint8)
    image[20, 10:160] = 60  # a dark line of 150 px...
    found = np.zeros((200, 200), dtype=np.float32)
    found[20, 10:120] = 0.9  # ...of which the segmenter found 110 px
    found[120, 10:110] = 0.8  # and a crack darkness does not see
    # Its p(crack) over the whole photo, at the photo's own scale: what calls it, at any segmenter_levels.
    monkeypatch.setattr(segmenter_calls, "crack_probability", lambda net, image, region: found)

    def net_run_again(*args):
        raise AssertionError("its p(crack) over the whole photo is known: the net is not run again")

    monkeypatch.setattr(crack_tracing, "_net_probability", net_run_again)
    # 20 px of a 200-px tile; not followed on past the margin (a straight line is followed to its end)
    near = CrackMaskConfig(segmenter_finds=0.5, segmenter_margin=0.1, follow_steps=0, segmenter_levels=1)
    finding = segmenter_finding(image, 200, 0.0, 0.5, near, NOT_RUN)
    mask, score = finding.mask, finding.score
    assert mask[20, 10:140].all() and not mask[20, 141:].any(), "the dark line up to 20 px past its find"
    assert mask[120, 10:110].all() and (score[120, 10:110] == np.float32(0.8)).all(), "its own cracks kept"
    assert not mask[np.r_[0:20, 21:120, 121:200]].any() and (score[mask] > 0).all() and not score[~mask].any()
    # At two levels it is called at the photo's own scale, as at one; its cracks are those seen over both
    # (here the same, and one more the half scale alone sees), darkness near them traced at both.
    own, half = found.copy(), found.copy()
    own[160, 20:140], half[160, 20:140] = 0.2, 1.0  # p(crack) 0.6 over both
    half[19:22, 10:120] = 0.9  # a crack the own scale sees, blurred at half of it: its width stays 1 px
    looked_at = set()

    def level_probability(net, image, core, level):
        looked_at.add(level)
        return (own, half)[level][core]

    monkeypatch.setattr(crack_tracing, "_level_probability", level_probability)
    monkeypatch.setattr(segmenter_calls, "crack_probability", lambda net, image, region: own)
    two = dataclasses.replace(near, segmenter_levels=2)
    both = segmenter_finding(image, 200, 0.0, 0.5, two, NOT_RUN)
    assert looked_at == {1}, "at half the scale alone: the photo's own was known"
    np.testing.assert_array_equal(both.mask[20], mask[20])
    np.testing.assert_array_equal(both.mask[22:150], mask[22:150])
    # 1 px wide, as the own scale sees it (the skeleton that joins cracks may twig off at an end)
    assert not both.mask[[19, 21], 12:116].any() and not both.mask[:19].any()
    assert both.mask[160, 20:140].all() and (both.score[160, 20:140] == np.float32(0.6)).all()
    monkeypatch.setattr(segmenter_calls, "crack_probability", lambda net, image, region: found)
    alone = segmenter_finding(
        image, 200, 0.0, 0.5, dataclasses.replace(near, segmenter_margin=0), NOT_RUN
    ).mask
    np.testing.assert_array_equal(alone, found > 0.5, err_msg="margin 0: its cracks alone")
    unseen = np.zeros_like(found)
    monkeypatch.setattr(segmenter_calls, "crack_probability", lambda net, image, region: unseen)
    assert segmenter_finding(image, 200, 0.0, 0.5, two, NOT_RUN) is None, "not called at its scale"


def test_a_photo_the_segmenter_calls_lists_no_speck_as_a_crack(monkeypatch):
    """Its cracks were kept by their span alone (segmenter_shortest): on CFD the grain's specks of 20-40 px
    were listed as cracks, 137 of the 148 rows away from any drawn crack came from such photos."""
    found = np.zeros((200, 200), dtype=np.float32)
    found[20, 10:160] = 0.9  # the crack it finds, 150 px
    found[120, 50:80] = 0.9  # a speck of 30 px: spans more than segmenter_shortest, 20 px
    monkeypatch.setattr(segmenter_calls, "crack_probability", lambda net, image, region: found)
    image = np.full((200, 200, 3), 128, dtype=np.uint8)
    # segmenter_kept 0: the speck is left to min_length alone
    config = CrackMaskConfig(
        segmenter_finds=0.5, segmenter_shortest=0.1, segmenter_kept=0, segmenter_margin=0, segmenter_levels=1
    )
    finding = segmenter_finding(image, 200, 0.0, 0.5, config, NOT_RUN)  # min_length: 40 px
    assert finding.mask[20, 10:160].all() and finding.mask.sum() == 150, "the crack alone"
    assert len(finding.boxes) == 1
    off = dataclasses.replace(config, min_length=None)
    assert segmenter_finding(image, 200, 0.0, 0.5, off, NOT_RUN).mask[120, 50:80].all(), "null: kept"
    scattered = dataclasses.replace(off, segmenter_kept=0.2)  # 40 px, pieces 0.2 tile sides apart joined
    assert segmenter_finding(image, 200, 0.0, 0.5, scattered, NOT_RUN).mask.sum() == 150, "kept: 40 px"


def test_a_photo_the_segmenter_calls_is_boxed_around_its_cracks_those_within_reach_together():
    mask = np.zeros((300, 300), dtype=bool)
    mask[50, 20:100] = mask[60, 110:180] = True  # two cracks 10 px apart: one region
    mask[250, 100:200] = True  # one far from them: another
    mask[150, 280:283] = True  # a short one, alone: boxed too (the segmenter's specks never get here)
    score = np.where(mask, np.float32(0.4), np.float32(0))
    score[60, 150], score[250, 120] = 0.9, 0.7
    boxes = found_boxes(mask, score, reach=15)
    assert [(b["x0"], b["y0"], b["x1"], b["y1"]) for b in boxes] == [
        (20, 50, 180, 61),
        (100, 250, 200, 251),
        (280, 150, 283, 151),
    ]
    assert [b["probability"] for b in boxes] == pytest.approx([0.9, 0.7, 0.4])
    assert [b["evidence"] for b in boxes] == pytest.approx([0.9, 0.7, 0.4])
    assert {b["found_by"] for b in boxes} == {"segmenter"}
    assert len(found_boxes(mask, score, reach=5)) == 3, "10 px apart: within 2 x 5 px"
    assert len(found_boxes(mask, score, reach=4)) == 4, "10 px apart: out of 2 x 4 px"
