"""Inference models: batch norms folded away without changing a single prediction."""

import numpy as np
import pytest
import torch
from torch import nn

from crack_pipeline.vision.models.inference import (
    crack_probabilities_and_features,
    fold_batch_norms,
    normalizer,
    predict_logits,
)
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import REGISTRY, create_model, get_spec


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
    if get_spec(architecture).kind == "one_class":  # a bank of clean patches, as fitting leaves it
        model.head.bank = torch.randn(16, model.patch_features(x[:1]).shape[1])
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


def test_a_cpu_pass_takes_as_many_images_as_its_caches_hold_and_a_gpu_the_whole_batch():
    cpu, gpu = Precision("fp32"), Precision("fp32", torch.device("cuda"))
    assert cpu.images_per_pass(32, 224, 224) == 6
    assert cpu.images_per_pass(32, 160, 160) == 11
    assert cpu.images_per_pass(4, 64, 64) == 4, "never more than the batch asked for"
    assert cpu.images_per_pass(32, 2000, 2000) == 1, "never fewer than one"
    assert gpu.images_per_pass(32, 224, 224) == 32


def test_probabilities_do_not_depend_on_how_images_are_batched():
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=2).eval()
    images = torch.randint(0, 256, (20, 3, 224, 224), dtype=torch.uint8)  # passes of 6, 6, 6 and 2
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    together = predict_logits(model, images, mean, std, Precision("fp32"), batch_size=64)
    alone = torch.cat([predict_logits(model, image[None], mean, std, Precision("fp32")) for image in images])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_a_head_that_sees_a_feature_map_gives_its_average_as_the_features():
    spec = get_spec("squeezenet1_1")  # its classifier (a 1x1 conv, then pooling) sees 512 x H x W
    model = create_model("squeezenet1_1").eval()
    images = torch.randint(0, 256, (2, 3, 96, 96), dtype=torch.uint8)
    _, features = crack_probabilities_and_features(
        model, spec.head, images, spec.mean, spec.std, Precision("fp32")
    )
    assert features.shape == (2, 512), "one number per channel, not a flattened map"
    with torch.no_grad():
        normalised = normalizer(spec.mean, spec.std)(images.float() / 255)
        seen = model.features(normalised)  # what its classifier sees: 512 x H x W
    np.testing.assert_allclose(features, seen.mean(dim=(2, 3)).numpy(), rtol=1e-4, atol=1e-5)
