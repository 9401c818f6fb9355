"""A one-class model explained by its own anomaly map, with the interface of `cam.CamExplainer`.

Its score is a nearest-neighbour distance, not a class score a CAM could weigh: the map of each patch's
distance to the clean patches it keeps is the explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crack_pipeline.vision.explain.cam import Explanation
from crack_pipeline.vision.models.inference import crack_probability_of, normalizer
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import get_spec
from crack_pipeline.vision.settings import ConfigError

ANOMALY = "anomaly"


def methods_for(architecture: str, methods: Sequence[str]) -> list[str]:
    """The maps a model of `architecture` is explained with: `methods`, or its anomaly map for a one-class
    model."""
    return [ANOMALY] if get_spec(architecture).kind == "one_class" else list(methods)


class AnomalyExplainer:
    """Anomaly maps and p(crack) for batches of uint8 images; the model is put in eval mode."""

    def __init__(self, model: nn.Module, mean, std, precision: Precision | None = None):
        if not hasattr(model, "anomaly_map"):
            raise ConfigError(
                "explain.methods: 'anomaly' is the map of a one-class model; this one is a classifier"
            )
        self.precision = precision or Precision.resolve("auto")
        self.model = self.precision.prepare(model).eval()
        self.normalise = normalizer(mean, std)

    def explain(self, images: torch.Tensor, targets: Sequence[str] | None = None) -> Explanation:
        """Each image's anomaly map at its size, scaled to [0, 1] as a CAM is, and its p(crack); `targets`
        is accepted for the explainers' common interface (a distance has no class to choose)."""
        x = self.precision.batch(self.normalise(images.float().div(255)))
        with torch.no_grad():
            maps = self.model.anomaly_map(x)
            logits = self.model.logits_of(maps)
        maps = F.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear")[:, 0]
        low = maps.flatten(1).amin(1)[:, None, None]
        high = maps.flatten(1).amax(1)[:, None, None]
        heatmaps = ((maps - low) / (high - low).clamp_min(1e-7)).cpu().numpy().astype(np.float32)
        return Explanation(probabilities=crack_probability_of(logits.float().cpu()), heatmaps=heatmaps)

    def close(self) -> None:
        """Nothing to release (no hooks): the common interface."""
