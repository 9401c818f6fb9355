"""bench/cam_progress.py's command line: only classifiers have heatmaps through training."""

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from cam_progress import arguments  # noqa: E402

MODELS = yaml.safe_load(Path("conf/base/parameters_train.yml").read_text())["train"]["models"]


def test_a_one_class_variant_is_refused_before_any_data_is_read(capsys):
    """patch_memory was offered, then crashed on its empty memory bank once the data was decoded."""
    with pytest.raises(SystemExit) as stop:
        arguments(MODELS, ["--variants", "small_cnn", "patch_memory"])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "patch_memory: a one-class model" in error and "choose from small_cnn, " in error


def test_classifier_variants_pass():
    assert arguments(MODELS, ["--variants", "small_cnn", "efficientnet_lite0"]).variants == [
        "small_cnn",
        "efficientnet_lite0",
    ]
