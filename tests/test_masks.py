"""Masks handed in as arrays: what `as_crack_mask` accepts and how it refuses the rest."""

import numpy as np
import pytest

from crack_pipeline.vision.data.masks import as_crack_mask
from crack_pipeline.vision.errors import InputError


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_a_zero_one_array_of_any_type_reads_as_bool(dtype):
    array = np.eye(3, 4).astype(dtype)
    mask = as_crack_mask(array)
    assert mask.dtype == bool and mask.tolist() == np.eye(3, 4, dtype=bool).tolist()


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4, 3), dtype=bool), "truth must be a 2-D HxW array"),
        (np.zeros(4, dtype=bool), "truth must be a 2-D HxW array"),
        (np.full((4, 4), 0.5), "truth must hold only 0/1 .* threshold a probability map first"),
        (np.full((4, 4), 255, dtype=np.uint8), "truth must hold only 0/1"),
    ],
)
def test_anything_else_is_refused_naming_the_array(array, message):
    with pytest.raises(InputError, match=message):
        as_crack_mask(array, "truth")


def test_a_padded_box_stays_inside_the_image():
    from crack_pipeline.vision.data.masks import padded_box

    mask = np.zeros((50, 80), dtype=bool)
    assert padded_box(mask, 3) is None
    mask[10:12, 75:78] = True
    assert padded_box(mask, 3) == (slice(7, 15), slice(72, 80))
    mask[0, 1] = True
    assert padded_box(mask, 3) == (slice(0, 15), slice(0, 80))
