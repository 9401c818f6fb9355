"""The benchmarks' own splits of the real data (bench/augmentations.py, bench/champion.py)."""

import sys
from pathlib import Path

import pandas as pd
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


def test_a_domain_too_small_for_a_bench_s_split_is_named_with_its_counts():
    """bench/transfer.py stopped with the splitter's message alone: no domain named, and advice to raise
    split.subset_fraction or change split.ratios, settings of the pipeline the bench does not read."""
    from champion import domain_split

    rows = pd.DataFrame({"label": ["crack", "crack", "no_crack", "no_crack"], "group": ["a", "b", "c", "d"]})
    with pytest.raises(SystemExit) as stopped:
        domain_split("cfd_tiles", rows, {"train": 0.7, "val": 0.15, "test": 0.15}, "/data/cfd")
    said = str(stopped.value)
    assert said.startswith(
        "domain cfd_tiles: 4 images (2 crack, 2 no_crack) in 4 photo group(s): class 'crack'"
    )
    assert "train 0.7 / val 0.15 / test 0.15 by group (seed 42)" in said and "(/data/cfd)" in said
    assert "split.subset_fraction" not in said and "split.ratios" not in said


def test_bench_precision_s_split_too_small_names_its_own_option(tmp_path):
    """bench/precision.py --per-class 2 stopped on the splitter's traceback, 'Add images, raise
    split.subset_fraction, or change split.ratios': settings of the pipeline the bench does not read."""
    from precision import default_data

    with pytest.raises(SystemExit) as stopped:
        default_data(tmp_path, 32, per_class=2)
    said = str(stopped.value)
    assert said.startswith(
        "domain synthetic: 4 images (2 crack, 2 no_crack) in 4 photo group(s): class 'crack'"
    )
    assert said.endswith("by group (seed 42): give it more images (--per-class, 2 now)")
    assert "split.subset_fraction" not in said
