"""Sparse masks worked on group by group: the same labels, joins and crack masks as over the whole image."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk, line

from crack_pipeline.vision.data.mask_groups import CELL, joined_pieces, pixel_groups
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig, crack_mask


def scattered_cracks(seed: int, shape=(1200, 1500)) -> np.ndarray:
    """Lines, blobs and specks, some at the border, some a few px apart, some in each other's boxes."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    for _ in range(12):
        r0, c0, r1, c1 = (int(rng.integers(0, size)) for size in (*shape, *shape))
        rows, columns = line(r0, c0, r1 if rng.random() < 0.5 else r0 + 40, c1)
        inside = (rows < shape[0]) & (columns < shape[1])
        mask[rows[inside], columns[inside]] = True
    for _ in range(8):
        rows, columns = disk(
            tuple(int(rng.integers(0, size)) for size in shape), rng.uniform(1, 9), shape=shape
        )
        mask[rows, columns] = True
    mask[rng.integers(0, shape[0], 30), rng.integers(0, shape[1], 30)] = True
    return mask


@pytest.mark.parametrize("side", [CELL, 50])
def test_each_pixel_is_in_one_group_whose_box_holds_it_with_a_margin(side):
    mask = scattered_cracks(0)
    groups = pixel_groups(mask, side)
    owned = np.zeros(mask.shape, dtype=int)
    height, width = mask.shape
    for (rows, columns), own in groups.each(mask):
        owned[rows, columns] += own
        ys, xs = np.nonzero(own)
        assert (rows.start <= np.maximum(ys + rows.start - side, 0)).all()
        assert (np.minimum(ys + rows.start + side + 1, height) <= rows.stop).all()
        assert (columns.start <= np.maximum(xs + columns.start - side, 0)).all()
        assert (np.minimum(xs + columns.start + side + 1, width) <= columns.stop).all()
    np.testing.assert_array_equal(owned, mask.astype(int), err_msg="every pixel in exactly one group")
    assert len(groups.boxes) >= 2
    assert pixel_groups(np.zeros((30, 40), dtype=bool), side).boxes == []


@pytest.mark.parametrize("gap", [0, 1, 4, 19, 40])
@pytest.mark.parametrize("seed", [0, 1])
def test_pieces_are_joined_and_numbered_as_labelling_the_whole_image_does(gap, seed):
    mask = scattered_cracks(seed)
    grown = ndimage.maximum_filter(mask, gap + 1) if gap else mask
    whole, count = ndimage.label(grown, np.ones((3, 3), dtype=bool))
    labels, found = joined_pieces(mask, gap)
    assert found == count and len(pixel_groups(mask, max(gap + 1, CELL)).boxes) >= 2
    np.testing.assert_array_equal(labels, np.where(mask, whole, 0))


def test_crack_mask_judges_each_component_alone_whatever_shares_its_box():
    """A pixel's fate is its component's: the map cut to one component at a time gives the same pixels,
    though a group's box holds other groups' pixels (a blob cut by such a box can look like a crack)."""
    rng = np.random.default_rng(3)
    cracks = scattered_cracks(2)
    score = np.where(cracks, rng.uniform(1.0, 3.0, cracks.shape), 0).astype(np.float32)
    config = CrackMaskConfig(low=0.9, high=2.5, min_pixels=5)
    components, count = ndimage.label(score > config.low, np.ones((3, 3), dtype=bool))
    alone = np.zeros(score.shape, dtype=bool)
    for number in range(1, count + 1):
        alone |= crack_mask(np.where(components == number, score, 0), config)
    kept = crack_mask(score, config)
    assert 0 < kept.sum() < cracks.sum() and len(pixel_groups(cracks, CELL).boxes) >= 2
    np.testing.assert_array_equal(kept, alone)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_holes_looked_at_are_those_filling_the_holes_fills(seed):
    from crack_pipeline.vision.explain.crack_holes import _enclosed

    crack = scattered_cracks(seed, (120, 150)) | (np.random.default_rng(seed).random((120, 150)) < 0.3)
    enclosed = ndimage.binary_fill_holes(crack) & ~crack
    assert enclosed.any()
    np.testing.assert_array_equal(_enclosed(crack), enclosed)


def test_a_blob_another_groups_box_cuts_is_judged_whole():
    """A group's box may hold the edge of another group: a square blob whose top rows lie in a diagonal
    crack's box is still a blob, not the thin strip those rows alone would make."""
    score = np.zeros((700, 700), dtype=np.float32)
    rows, columns = line(10, 10, 600, 600)
    score[rows, columns] = 3.0
    ((box_rows, _),) = pixel_groups(score > 0, CELL).boxes
    top = box_rows.stop - 5
    score[top : top + 40, 20:60] = 3.0
    mask = crack_mask(score, CrackMaskConfig(low=1.0, high=2.0))
    assert mask[rows, columns].all() and not mask[top : top + 40, 20:60].any()
