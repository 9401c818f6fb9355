"""The benchmarks' own splits of the real data (bench/augmentations.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from augmentations import ozgenel_parts  # noqa: E402


@pytest.mark.parametrize("per_class", [6, 12, 600])
def test_augmentations_choose_the_epoch_on_patches_held_out_of_both_training_and_test(per_class):
    """The epoch was chosen on the very test patches whose accuracy the bench then reported."""
    files = [f"Positive/{i:05d}.jpg" for i in range(2000)]
    parts = ozgenel_parts(files, per_class)
    train, val, test = (set(parts[name]) for name in ("train", "val", "test"))
    assert val and test and not (val & test) and not (val & train) and not (test & train)
    assert (len(train), len(val), len(test)) == (per_class, max(1, per_class // 6), per_class // 3)
