"""The benchmarks' trained files (bench/trained_run.py): which crack segmenter a benchmark uses."""

import sys
from pathlib import Path

import pytest
import torch

from crack_pipeline.vision.explain.crack_segmenter import FORMAT, SegmenterConfig, train_segmenter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from trained_run import segmenter_of  # noqa: E402


def test_a_benchmark_s_segmenter_file_is_checked_loaded_and_named(tmp_path, capsys):
    """bench/straight_cracks.py and bench/segment_quality.py each checked, loaded and printed it in lines of
    their own; a checkpoint of another kind stopped them with a KeyError."""
    with pytest.raises(SystemExit, match=r"^--segmenter .*missing\.pt: no such file$"):
        segmenter_of(str(tmp_path / "missing.pt"))
    for other in (
        {"variant": "small_cnn"},
        {"format": "crack_pipeline.checkpoint/1", "variant": "small_cnn"},
    ):
        torch.save(other, tmp_path / "classifier.pt")  # a classifier's checkpoint has a format too
        with pytest.raises(
            SystemExit, match=r"^--segmenter .*classifier\.pt: not a crack segmenter checkpoint"
        ):
            segmenter_of(str(tmp_path / "classifier.pt"))
    # One of the format with no settings: refused where it is read, naming it (a KeyError where used, before).
    torch.save(
        {"format": FORMAT, "segmenter_id": "5eed", "config": {}, "state_dict": {}}, tmp_path / "bare.pt"
    )
    with pytest.raises(SystemExit, match=r"^--segmenter .*bare\.pt: its settings give the net no width"):
        segmenter_of(str(tmp_path / "bare.pt"))
    segmenter = {
        **train_segmenter(SegmenterConfig(samples=2, steps=1, crop=32, width=4)),
        "segmenter_id": "5eed",
    }
    torch.save(segmenter, tmp_path / "segmenter.pt")
    assert segmenter_of(str(tmp_path / "segmenter.pt"))["segmenter_id"] == "5eed"
    assert capsys.readouterr().out == f"crack segmenter 5eed ({tmp_path / 'segmenter.pt'})\n"
