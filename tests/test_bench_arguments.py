"""The benchmarks' shared command-line types and last line (bench/arguments.py)."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from arguments import classifier, overlap, positive_int, ratio_line, share  # noqa: E402


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--new", type=share, default=0.1)
    parser.add_argument("--overlap", type=overlap, default=0.25)
    parser.add_argument("--architecture", type=classifier, default=None)
    return parser


@pytest.mark.parametrize(
    "argv",
    [
        ["--repeats", "0"],
        ["--repeats", "-2"],
        ["--repeats", "x"],
        ["--new", "0"],
        ["--overlap", "1"],
        ["--overlap", "0.99"],
        ["--architecture", "efficientnet-lite2"],  # a typo: a ConfigError once the data was decoded
        ["--architecture", "patch_memory_lite0"],  # one-class: died on its empty memory bank
    ],
)
def test_a_value_a_bench_cannot_use_is_a_usage_error_not_a_traceback(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args(argv)
    assert stop.value.code == 2
    assert f"argument {argv[0]}" in capsys.readouterr().err


@pytest.mark.parametrize("new", ["0.6", "2", "nan"])
def test_a_share_of_new_images_above_a_half_is_refused(new):
    """Every n-th image new: 0.6 and 2 made n 2 and 0 (a ZeroDivisionError); nan made none."""
    with pytest.raises(SystemExit):
        parser().parse_args(["--new", new])


def test_usable_values_pass():
    args = parser().parse_args(
        ["--repeats", "1", "--new", "0.5", "--overlap", "0", "--architecture", "resnet18"]
    )
    assert (args.repeats, args.new, args.overlap, args.architecture) == (1, 0.5, 0.0, "resnet18")


def test_a_ratio_over_a_zero_baseline_says_why_and_ends_in_inf_or_nan():
    assert ratio_line(3.0, 2.0, "the baseline") == "ratio 1.50"
    assert ratio_line(1.0, 3.0, "the baseline", 4) == "ratio 0.3333"
    assert ratio_line(0.5, 0.0, "the best baseline's F1").splitlines() == [
        "the best baseline's F1 is 0: nothing to divide by",
        "ratio inf",
    ]
    assert ratio_line(0.0, 0.0, "the baseline").splitlines()[-1] == "ratio nan"
