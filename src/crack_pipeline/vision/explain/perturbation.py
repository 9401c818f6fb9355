"""Deletion and insertion curves: do the pixels a heatmap ranks highest drive the model's decision?

Without masks there is no ground truth to score a heatmap against; instead the most relevant
pixels (by the heatmap) are removed step by step — replaced by a blurred copy of the image — and
the class probability is traced (deletion: lower area is better), or added step by step to the
blurred image (insertion: higher area is better). Petsiuk et al., "RISE", 2018.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crack_pipeline.vision.models.inference import normalizer
from crack_pipeline.vision.models.precision import Precision


def _blurred(images: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    padding = kernel // 2
    return F.avg_pool2d(F.pad(images, (padding,) * 4, mode="reflect"), kernel, stride=1)


@torch.no_grad()
def deletion_insertion(
    model: nn.Module,
    images: torch.Tensor,
    heatmaps: np.ndarray,
    classes: list[int],
    mean,
    std,
    precision: Precision,
    steps: int = 10,
) -> tuple[float, float]:
    """Mean area under the deletion and insertion curves of p(class) over `steps` + 1 fractions.

    `images`: uint8 N x 3 x H x W; `heatmaps`: N x H x W; `classes`: the explained class per image.
    """
    if len(images) == 0:
        return float("nan"), float("nan")
    model = model.eval()
    normalise = normalizer(mean, std)
    original = images.float().div(255)
    blurred = _blurred(original)
    count = original.shape[2] * original.shape[3]
    order = torch.from_numpy(np.argsort(-heatmaps.reshape(len(images), -1), axis=1).copy())
    index = torch.arange(len(images))
    curves = {"deletion": [], "insertion": []}
    for step in range(steps + 1):
        top = torch.zeros(len(images), count, dtype=torch.bool)
        top[index[:, None], order[:, : round(count * step / steps)]] = True
        top = top.view(len(images), 1, *original.shape[2:])
        for name, kept_where_top, other in (
            ("deletion", blurred, original),
            ("insertion", original, blurred),
        ):
            x = torch.where(top, kept_where_top, other)
            with precision.autocast():
                logits = model(precision.batch(normalise(x))).float().cpu()
            probability = torch.softmax(logits, dim=1)[index, torch.tensor(classes)]
            curves[name].append(probability.numpy())
    return tuple(
        float(np.trapezoid(np.stack(curves[name]), dx=1 / steps, axis=0).mean())
        for name in ("deletion", "insertion")
    )
