"""The model registry: every architecture builds, classifies two classes, and names real layers."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import ResNet18_Weights

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.registry import (
    REGISTRY,
    PretrainedWeightsMissing,
    create_model,
    efficientnet_lite_imagenet,
    get_spec,
)
from crack_pipeline.vision.settings import ConfigError


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_architecture_gives_two_logits_and_declares_its_layers(name):
    spec = get_spec(name)
    model = create_model(name, num_classes=2).eval()
    if spec.kind == "one_class":  # a bank of clean patches, as fitting leaves it
        assert "bank" in dict(model.get_submodule(spec.head).named_buffers()), "the head holds the bank"
        model.head.bank = torch.randn(16, model.patch_features(torch.randn(1, 3, 64, 64)).shape[1])
    activations = {}
    model.get_submodule(spec.cam_layer).register_forward_hook(
        lambda m, i, o: activations.setdefault("cam", o)
    )
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 128, 128))
    assert logits.shape == (2, 2)
    assert activations["cam"].ndim == 4 and activations["cam"].shape[-1] >= 4, "a spatial map to explain"
    head = model.get_submodule(spec.head)  # what training fits: weights, or a one-class model's bank
    assert any(t.numel() for t in [*head.parameters(), *head.buffers()])
    assert len(spec.mean) == len(spec.std) == 3


def test_squeezenet_head_gives_negative_logits_too():
    """torchvision's head ends in a ReLU (logits >= 0), which blanks the CAMs of the other class."""
    torch.manual_seed(0)
    model = create_model("squeezenet1_1").eval()
    with torch.no_grad():
        logits = model(torch.randn(16, 3, 96, 96))
    assert (logits < 0).any()


def test_unknown_architecture():
    with pytest.raises(ConfigError, match="known:"):
        create_model("vgg99")


def test_missing_torchvision_weights_say_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(PretrainedWeightsMissing) as caught:
        create_model("resnet18", pretrained=True)
    message = str(caught.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path / "hub" / "checkpoints") in message


def test_damaged_torchvision_weights_say_which_file_and_what_to_do(tmp_path):
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"<html>a proxy's error page</html>")
    with pytest.raises(InputError) as caught:
        create_model("resnet18", pretrained=True, weights_path=str(weights))
    message = str(caught.value)
    assert message.startswith(
        f"pretrained weights {weights} are damaged or not a torch file (UnpicklingError"
    )
    assert "put the file resnet18-f37072fd.pth there again" in message and "weights_only" not in message


def test_local_torchvision_weights_are_loaded(tmp_path, monkeypatch):
    reference = create_model("resnet18")  # random weights, to tell them apart
    from torchvision.models import resnet18

    imagenet = resnet18(weights=None)
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(imagenet.state_dict(), hub / ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    loaded = create_model("resnet18", pretrained=True)
    assert torch.equal(loaded.conv1.weight, imagenet.conv1.weight)
    assert not torch.equal(loaded.conv1.weight, reference.conv1.weight)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite_imagenet_weights_see_a_cat(name):
    from skimage import data

    spec = get_spec(name)
    image = Image.fromarray(data.chelsea()).resize((spec.input_size,) * 2, Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        top = int(efficientnet_lite_imagenet(name).eval()(x).argmax())
    assert 281 <= top <= 285, f"{name}: ImageNet class {top} is not a cat"


@pytest.mark.parametrize(
    "stored",
    [
        lambda: create_model("squeezenet1_1").state_dict(),  # another architecture's weights
        lambda: {"model": create_model("resnet18").state_dict(), "epoch": 3},  # a training checkpoint
        lambda: torch.zeros(3),
    ],
    ids=["another architecture", "a training checkpoint", "a tensor"],
)
def test_torchvision_weights_of_another_model_say_which_file_and_what_to_do(tmp_path, stored):
    weights = tmp_path / "resnet18.pth"
    torch.save(stored(), weights)
    with pytest.raises(InputError) as caught:
        create_model("resnet18", pretrained=True, weights_path=str(weights))
    message = str(caught.value)
    assert message.startswith(f"pretrained weights {weights} do not fit ResNet (")
    assert message.endswith(
        "put the file resnet18-f37072fd.pth there (published at " + ResNet18_Weights.IMAGENET1K_V1.url + ")"
    )
    assert len(message) < 600, "not every missing key"
