"""One CAM wrapper for the whole pytorch-grad-cam family, the method chosen by name.

Batched; gradients flow only from the output back to the target layer (every parameter is
frozen, the layer's output is made the leaf that requires grad); works under bf16 autocast
(the layer's output is handed on in float32, which pytorch-grad-cam can turn into numpy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam import (
    AblationCAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from crack_pipeline.vision.data.labels import CLASS_NAMES, CRACK, NO_CRACK
from crack_pipeline.vision.models.inference import crack_probability_of, normalizer
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.settings import ConfigError

METHODS = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "xgradcam": XGradCAM,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
    "ablationcam": AblationCAM,
}
TARGETS = ("predicted", "crack")  # what explain.target may say; an image's own target may also name a class


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"explain.target must be one of {TARGETS}, got {target!r}")


def called_class(probability: float, threshold: float) -> int:
    """The class a model calls from its p(crack): crack from the decision threshold on."""
    return CLASS_NAMES.index(CRACK if probability >= threshold else NO_CRACK)


class _CalledClass:
    """The score of the class the model calls at `threshold`, picked inside the graph from one image's
    logits (no extra forward)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        (probability,) = crack_probability_of(output.detach().float().cpu()[None])
        return output[called_class(probability, self.threshold)]


@dataclass
class Explanation:
    probabilities: np.ndarray  # N: p(crack)
    heatmaps: np.ndarray  # N x H x W float32 in [0, 1], at the input's resolution


class CamExplainer:
    """Heatmaps of `method` for batches of uint8 images, from a model and its CAM layer's name.

    The model is put in eval mode and its parameters are frozen in place. Target "predicted" explains the
    class the classifier calls at `threshold` (its decision threshold: a patch with p(crack) 0.9 that a model
    calls clean at 0.96 is explained as clean); 0.5 is the larger logit.
    """

    def __init__(
        self,
        model: nn.Module,
        cam_layer: str,
        mean,
        std,
        method: str = "gradcam",
        target: str = "predicted",
        precision: Precision | None = None,
        threshold: float = 0.5,
    ):
        if method not in METHODS:
            raise ConfigError(
                f"explain.methods: unknown CAM method {method!r}; choose from {sorted(METHODS)}"
            )
        check_target(target)
        self.precision = precision or Precision.resolve("auto")
        self.model = self.precision.prepare(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        try:
            layer = self.model.get_submodule(cam_layer)
        except AttributeError:
            outer = ", ".join(name for name, _ in self.model.named_modules() if name and name.count(".") < 2)
            raise ConfigError(
                f"explain.cam_layer: {type(model).__name__} has no layer {cam_layer!r}; its outer layers: "
                f"{outer} (a deeper one by its dotted name)"
            ) from None
        # Registered before the CAM's own hooks, so that they see the float32 leaf.
        self._hook = layer.register_forward_hook(_float_leaf)
        self.method, self.target, self.threshold = method, target, threshold
        self.normalise = normalizer(mean, std)
        self.cam = METHODS[method](model=self.model, target_layers=[layer])
        if method in ("scorecam", "ablationcam"):
            self.cam.batch_size = 32

    def explain(self, images: torch.Tensor, targets: Sequence[str] | None = None) -> Explanation:
        """Heatmaps and p(crack) for a uint8 N x 3 x H x W batch; `targets` (per image "predicted" or a
        class name, e.g. the call of a model that averages views) overrides the explainer's target image by
        image."""
        x = self.precision.batch(self.normalise(images.float().div(255)))
        wanted = list(targets) if targets is not None else [self.target] * len(x)
        allowed = ("predicted", *CLASS_NAMES)
        if len(wanted) != len(x) or not set(wanted) <= set(allowed):
            raise ValueError(f"one target of {allowed} per image, got {wanted!r} for {len(x)} images")
        if self.method in ("scorecam", "ablationcam") and "predicted" in wanted:
            # These methods score masked copies of the input: fix each image's class first. (EigenCAM
            # ignores targets: the in-graph call costs it nothing.)
            with torch.no_grad(), self.precision.autocast():
                logits = self.model(x).float()
            chosen = [
                ClassifierOutputTarget(called_class(p, self.threshold))
                for p in crack_probability_of(logits.cpu())
            ]
        else:
            chosen = [_CalledClass(self.threshold)] * len(x)
        targets = [
            pick if want == "predicted" else ClassifierOutputTarget(CLASS_NAMES.index(want))
            for want, pick in zip(wanted, chosen, strict=True)
        ]
        with self.precision.autocast():
            heatmaps = self.cam(input_tensor=x, targets=targets)
        probabilities = crack_probability_of(self.cam.outputs.detach().float().cpu())
        return Explanation(probabilities=probabilities, heatmaps=heatmaps.astype(np.float32))

    def close(self) -> None:
        self._hook.remove()
        self.cam.activations_and_grads.release()


def _float_leaf(module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    output = output.float()
    if not output.requires_grad:
        output.requires_grad_(True)
    return output
