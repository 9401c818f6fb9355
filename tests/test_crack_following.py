"""Following a crack past the heatmap only ahead of its free ends, the way it leaves each, and never along
a straight joint it meets (crack_ends, crack_following)."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import line

from crack_pipeline.vision.evaluation.segmentation import tolerant_scores
from crack_pipeline.vision.explain.crack_ends import crack_ends
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.photos import photo_crack_mask
from tests.test_crack_masks import near, rgb, surface

FOLLOWING = CrackMaskConfig(follow_steps=10)


def wandering(shape, start, course, length, seed=0, width=2):
    """The pixels of a crack that wanders as the synthetic data's do (vision/data/synthetic.py): steps of
    1.5 px whose heading swings about its `course` (degrees: 0 along the columns, 90 down the rows), from
    `start` (row, column), `length` px."""
    rng = np.random.default_rng(seed)
    crack = np.zeros(shape, dtype=bool)
    (y, x), course = start, np.radians(course)
    heading = course
    for _ in range(round(length / 1.5)):
        heading = course + 0.8 * (heading - course) + rng.normal(0, 0.25)
        ny, nx = y + 1.5 * np.sin(heading), x + 1.5 * np.cos(heading)
        rows, columns = line(round(y), round(x), round(ny), round(nx))
        inside = (rows >= 0) & (rows < shape[0]) & (columns >= 0) & (columns < shape[1])
        crack[rows[inside], columns[inside]] = True
        y, x = ny, nx
    return ndimage.binary_dilation(crack, iterations=width // 2) if width > 1 else crack


@pytest.mark.parametrize("seed", range(6))
def test_a_crack_that_meets_a_joint_is_followed_to_it_not_along_it(seed):
    """On make run's synthetic test split, following grew cracks all round, so a crack that met a straight
    formwork joint ran along it to the photo's edge: 10,770 of the 11,909 pixels it added lay over 2 px
    from any true crack. A crack goes on the way it was heading and ends at a joint."""
    shape = (300, 420)
    crack = wandering(shape, (20, 200), 90, 260, seed)
    crack[231:] = False  # it ends at the joint
    joint = np.zeros(shape, dtype=bool)
    joint[230:234] = True  # straight across the photo
    gray = surface(shape, seed=seed)
    gray = np.where(crack | joint, gray - 45, gray)
    evidence = near(crack)
    evidence[:150] = 0  # the heatmap saw the crack's lower part, where it meets the joint
    found = photo_crack_mask(rgb(gray), evidence, 227, FOLLOWING)[0]
    assert tolerant_scores(found, crack, tolerance=2)["recall"] > 0.98, "followed up the crack"
    foot = np.flatnonzero(crack[230]).mean()
    away = joint & (np.abs(np.arange(shape[1]) - foot) > 20)  # the evidence reached 8 px round the crack
    assert not found[away].any(), f"{found[away].sum()} px along the joint"


def test_a_straight_crack_is_followed_and_a_piece_of_joint_beside_a_crack_is_not():
    """A crack's skeleton wanders; a piece of joint the mask took beside a crack is straight up to the crack.
    A crack straight all along is a crack: followed."""
    shape = (200, 300)
    crack = wandering(shape, (100, 20), 0, 200, seed=3)
    stub = np.zeros(shape, dtype=bool)
    stub[60:100, 120:123] = True  # a straight piece of a joint the crack crosses, 40 px long
    ends, ahead = crack_ends(crack | stub, 20)
    at = {tuple(end) for end in ends}
    assert not any(end[0] < 75 and 115 <= end[1] <= 128 for end in at), "the joint's end is not followed"
    right = max(range(len(ends)), key=lambda i: ends[i][1])
    assert ahead[right][1] > 0.9, "the crack's right end points on to the right"
    straight = np.zeros(shape, dtype=bool)
    straight[99:102, 40:260] = True
    ends, ahead = crack_ends(straight, 20)
    assert len(ends) == 2 and sorted(np.round(ahead[:, 1]).tolist()) == [-1.0, 1.0]


def test_a_cracks_ends_are_found_in_its_own_box_wherever_it_lies_in_the_crop():
    """Worked on in the cracks' box (a pixel of surface round them): the same ends and directions, in the
    crop's pixels, for a crack far inside a large crop and for one running out of its edge."""
    crack = wandering((120, 160), (60, 10), 0, 140, seed=5)
    crack[58:64, 70:76] |= True
    crack[60, 72] = False  # a pinhole
    ends, ahead = crack_ends(crack, 20)
    assert len(ends) >= 1
    wide = np.zeros((500, 700), dtype=bool)
    wide[200:320, 300:460] = crack
    inside, inside_ahead = crack_ends(wide, 20)
    np.testing.assert_array_equal(inside, ends + [200, 300])
    np.testing.assert_allclose(inside_ahead, ahead)
    edge = np.zeros((300, 400), dtype=bool)
    edge[:, :150] = np.pad(crack, ((90, 90), (0, 0)))[:, 10:]  # cut at the crop's left edge
    cut, cut_ahead = crack_ends(edge, 20)
    np.testing.assert_array_equal(cut, crack_ends(edge[:, :200], 20)[0])
    np.testing.assert_allclose(cut_ahead, crack_ends(edge[:, :200], 20)[1])


@pytest.mark.parametrize("angle", [0, -10, 91])
def test_a_follow_angle_off_0_to_90_degrees_is_refused(angle):
    with pytest.raises(ValueError, match="follow_angle is 0 to 90 degrees"):
        CrackMaskConfig(follow_angle=angle)
