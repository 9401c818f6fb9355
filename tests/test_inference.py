"""Inference models: batch norms folded away without changing a single prediction."""

import pytest
import torch
from torch import nn

from crack_pipeline.vision.models.inference import fold_batch_norms
from crack_pipeline.vision.models.registry import REGISTRY, create_model


@pytest.mark.parametrize("architecture", sorted(REGISTRY))
def test_folding_keeps_the_outputs_and_the_cam_layers(architecture):
    torch.manual_seed(0)
    model = create_model(architecture, num_classes=2)
    # Statistics as training leaves them, not the identity they start as.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        expected = model(x)
        norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        folded = fold_batch_norms(model)
        assert torch.allclose(folded(x), expected, atol=1e-4, rtol=1e-4)
    left = sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert left == 0 or norms == 0, f"{left} of {norms} batch norms left"
    folded.get_submodule(REGISTRY[architecture].cam_layer)  # still found by name


def test_a_training_model_is_not_folded():
    with pytest.raises(ValueError, match="eval"):
        fold_batch_norms(create_model("small_cnn").train())
