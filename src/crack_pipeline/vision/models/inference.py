"""Inference: a checkpoint's model made ready for it (batch norms folded into their convolutions, the fastest
memory layout), the input normalisation, and logits and p(crack) of uint8 images in batches, each image seen
as it is or averaged over its mirrored and turned views (test-time views)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from crack_pipeline.vision.data.labels import CLASS_NAMES, CRACK
from crack_pipeline.vision.models.checkpoint import model_from_checkpoint, threshold_text
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.settings import ConfigError

logger = logging.getLogger(__name__)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """Fold, in place, every batch norm that directly follows a convolution among its parent's children
    (the order timm's and torchvision's CNNs register and run them in) into that convolution's weights.

    In eval mode a batch norm is a fixed affine map per channel: on a 2-core CPU it took a third of
    EfficientNet-Lite0's forward time. A norm with a built-in activation (timm's BatchNormAct2d) leaves
    that activation in its place; module names stay, so CAM layers are still found by name.
    """
    if model.training:
        raise ValueError("batch norms are folded for inference only: call model.eval() first")
    for parent in list(model.modules()):
        previous_name, previous = None, None
        for name, child in list(parent.named_children()):
            if (
                isinstance(child, nn.BatchNorm2d)
                and isinstance(previous, nn.Conv2d)
                and child.running_mean is not None
            ):
                setattr(parent, previous_name, fuse_conv_bn_eval(previous, child))
                after = [getattr(child, part) for part in ("drop", "act") if hasattr(child, part)]
                setattr(parent, name, nn.Sequential(*after) if after else nn.Identity())
            previous_name, previous = name, child
    return model


def inference_model(checkpoint: dict[str, Any], precision: Precision) -> nn.Module:
    """The checkpoint's model in eval mode, batch norms folded, in `precision`'s memory layout."""
    return precision.prepare(fold_batch_norms(model_from_checkpoint(checkpoint)))


# A square's eight symmetries, ordered so that the first 1, 2 and 4 are groups of their own: as it is,
# mirrored left-right, both mirrors and the half turn, then the quarter turns and the diagonal mirrors. A
# crack is a crack whichever way the photo was taken, so averaging a model's logits over these views steadies
# p(crack), at the cost of one forward pass each (README, "Test-time views").
DIHEDRAL_VIEWS: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = (
    lambda x: x,
    lambda x: x.flip(-1),
    lambda x: x.flip(-2),
    lambda x: x.flip((-2, -1)),
    lambda x: x.transpose(-2, -1),
    lambda x: x.rot90(1, (-2, -1)),
    lambda x: x.rot90(-1, (-2, -1)),
    lambda x: x.flip((-2, -1)).transpose(-2, -1),
)
VIEW_COUNTS = (1, 2, 4, 8)


def check_views(views: int, name: str = "test_time_views") -> int:
    """`views` if it is a count of DIHEDRAL_VIEWS that forms a group (VIEW_COUNTS), else a ValueError
    naming the setting `name`."""
    if type(views) is not int or views not in VIEW_COUNTS:
        raise ValueError(f"{name}: {views!r}; one of {', '.join(map(str, VIEW_COUNTS))}")
    return views


def views_of(checkpoint: dict[str, Any]) -> int:
    """How many views the checkpoint's model averages (chosen at training, its threshold set with them;
    1 for a checkpoint from before they existed)."""
    return check_views(checkpoint.get("test_time_views", 1))


def views_setting(views: Any, parameter: str) -> int | None:
    """The view count `parameter` sets (None when unset: the model's own), else a `ConfigError` naming it."""
    if views is None:
        return None
    try:
        return check_views(views, parameter)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def with_views(checkpoint: dict[str, Any], views: int | None, parameter: str) -> dict[str, Any]:
    """The checkpoint scoring with `views` (the value of `parameter`) instead of its own count, with the
    threshold training chose for that count on the same validation images, and its feature reference for that
    count (None for a model trained before they were kept per count); unchanged when None."""
    if views_setting(views, parameter) is None:
        return checkpoint
    if views == views_of(checkpoint):
        return checkpoint
    thresholds = checkpoint.get("thresholds_by_views", {})
    if views not in thresholds:
        raise ConfigError(
            f"{parameter}: {views}, but model {checkpoint['variant']} has no threshold for {views} views (it "
            f"was trained before thresholds were chosen per view count): leave it unset to score with the "
            f"model's own {views_of(checkpoint)}, or retrain the model"
        )
    return {
        **checkpoint,
        "test_time_views": views,
        "threshold": thresholds[views],
        "feature_reference": checkpoint.get("feature_references_by_views", {}).get(views),
    }


def views_asked(
    checkpoint: dict[str, Any], settings: dict[str, Any], section: str
) -> tuple[dict[str, Any], str]:
    """The checkpoint scoring with `<section>.test_time_views` (`with_views`), and its views described for a
    log line, naming the model's own count when another is asked. `<section>.threshold` set as well is used
    as given; the run says which threshold training chose for that count (a threshold holds for the count
    it was chosen with: one recalibrated on a folder scored with these views does)."""
    own = views_of(checkpoint)
    scoring = with_views(checkpoint, settings.get("test_time_views"), f"{section}.test_time_views")
    description = describe_views(scoring)
    if views_of(scoring) != own:
        description += f" ({section}.test_time_views; the model's own: {own})"
        if settings.get("threshold") is not None:
            logger.info(
                "%s: %s.threshold %s is used on p(crack) with %d views, in place of the %s training chose "
                "for them",
                section,
                section,
                settings["threshold"],
                views_of(scoring),
                threshold_text(scoring["threshold"]["value"]),
            )
    return scoring, description


def describe_views(checkpoint: dict[str, Any]) -> str:
    """For a log line: `p(crack) averaged over 4 test-time views`, or `p(crack) of each image as it is`."""
    views = views_of(checkpoint)
    return (
        "p(crack) of each image as it is" if views == 1 else f"p(crack) averaged over {views} test-time views"
    )


class ViewAveragedClassifier(nn.Module):
    """`network` whose logits are averaged over the first `views` of DIHEDRAL_VIEWS, as predict_logits
    averages them: what a model is registered as, so that its stored threshold holds for its output."""

    def __init__(self, network: nn.Module, views: int):
        super().__init__()
        self.network = network
        self.views = check_views(views)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.network(view(images)) for view in DIHEDRAL_VIEWS[: self.views]]).mean(0)


def normalizer(mean, std) -> Callable[[torch.Tensor], torch.Tensor]:
    """Float images in [0, 1] to the model's input scale."""
    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return lambda x: (x - mean) / std


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    mean,
    std,
    precision: Precision,
    batch_size: int = 64,
    views: int = 1,
) -> torch.Tensor:
    """Logits (float32, N x classes) for uint8 N x 3 x S x S images, in eval mode, at `precision`,
    averaged over the first `views` of DIHEDRAL_VIEWS (one view after another over all images)."""
    return logits_per_view(model, images, mean, std, precision, batch_size, views).mean(0)


@torch.no_grad()
def logits_per_view(
    model: nn.Module,
    images: torch.Tensor,
    mean,
    std,
    precision: Precision,
    batch_size: int = 64,
    views: int = 1,
) -> torch.Tensor:
    """`views` x N x classes: predict_logits's logits of each of the first `views` views, before their
    mean (the mean of the first 1, 2 or 4 of 8 is that many views' logits, without passes of their own)."""
    model.eval()
    if check_views(views) > 4 and images.shape[-1] != images.shape[-2]:
        raise ValueError(f"{views} views turn images a quarter: they must be square, not {images.shape[-2:]}")
    normalise = normalizer(mean, std)
    outputs = []
    step = precision.images_per_pass(batch_size, *images.shape[-2:])
    for view in DIHEDRAL_VIEWS[:views]:
        for start in range(0, len(images), step):
            batch = precision.batch(normalise(view(images[start : start + step]).float().div_(255)))
            with precision.autocast():
                outputs.append(model(batch).float().cpu())
    if not outputs:
        return torch.empty((views, 0, 2))
    return _per_view(outputs, views)


def crack_probabilities(
    model: nn.Module,
    images: torch.Tensor,
    mean,
    std,
    precision: Precision,
    batch_size: int = 64,
    views: int = 1,
) -> np.ndarray:
    """p(crack) of each uint8 N x 3 x S x S image, forward passes only (`views`: see predict_logits)."""
    return crack_probability_of(predict_logits(model, images, mean, std, precision, batch_size, views))


def crack_probability_of(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits, dim=1)[:, CLASS_NAMES.index(CRACK)].numpy().astype(float)


def crack_probabilities_and_features(
    model: nn.Module,
    head: str,
    images: torch.Tensor,
    mean,
    std,
    precision: Precision,
    batch_size: int = 64,
    views: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """p(crack) of each image and what the classifier `head` (a dotted module path) sees of it: the
    model's own feature vector (N x D float32; a feature map averaged over its positions, and over the
    `views`), in the same forward passes."""
    logits, features = logits_and_features_per_view(
        model, head, images, mean, std, precision, batch_size, views
    )
    return crack_probability_of(logits.mean(0)), features.mean(0).numpy()


def logits_and_features_per_view(
    model: nn.Module,
    head: str,
    images: torch.Tensor,
    mean,
    std,
    precision: Precision,
    batch_size: int = 64,
    views: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`logits_per_view`, and what the classifier `head` sees of each image in each view (views x N x D),
    from the same forward passes."""
    seen: list[torch.Tensor] = []
    hook = model.get_submodule(head).register_forward_pre_hook(
        lambda _module, inputs: seen.append(_pooled(inputs[0]).float().cpu())
    )
    try:
        logits = logits_per_view(model, images, mean, std, precision, batch_size, views)
    finally:
        hook.remove()
    return logits, _per_view(seen, views) if seen else torch.empty((views, 0, 0))


def _per_view(passes: list[torch.Tensor], views: int) -> torch.Tensor:
    """views x N x D: what passes over all images, one view after another, gave, by view."""
    together = torch.cat(passes)
    return together.view(views, len(together) // views, -1)


def _pooled(features: torch.Tensor) -> torch.Tensor:
    """N x D: a feature vector as it is, a feature map (N x C x H x W) averaged over its positions (a
    flattened map would weigh hundreds of kB per image, and compare positions rather than content)."""
    return features.mean((2, 3)) if features.ndim == 4 else torch.flatten(features, 1)
