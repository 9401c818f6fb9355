"""bench/cam_layers.py's layers: every classifier's, and a clear refusal for a one-class model."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from cam_layers import compared_layers  # noqa: E402

from crack_pipeline.vision.models.registry import REGISTRY, create_model  # noqa: E402


def test_every_classifier_has_its_registry_layer_and_a_last_layer():
    """efficientnet_lite1 and lite2 were a KeyError unless --layers named the layers."""
    for architecture in (name for name, spec in REGISTRY.items() if spec.kind == "supervised"):
        chosen, last = compared_layers(architecture, None)
        assert chosen == REGISTRY[architecture].cam_layer and last
        assert compared_layers(architecture, "a,b") == ["a", "b"]


@pytest.mark.parametrize("architecture", ["efficientnet_lite1", "efficientnet_lite2"])
def test_the_larger_efficientnets_hold_their_last_layer(architecture):
    with torch.device("meta"):
        modules = dict(create_model(architecture).named_modules())
    assert set(compared_layers(architecture, None)) <= modules.keys()


def test_a_one_class_model_is_refused_by_name():
    with pytest.raises(
        SystemExit, match="patch_memory_lite0 is a one_class model: its heatmap is its anomaly map"
    ):
        compared_layers("patch_memory_lite0", None)
