"""Batched data augmentation on uint8 image tensors (no per-image Python decoding or PIL)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    hflip: bool = True  # the MATLAB demo's random reflection
    translate: int = 30  # pixels, +-, the MATLAB demo's random X/Y translation
    vflip: bool = False
    rot90: bool = False  # cracks have no preferred direction
    brightness: float = 0.0  # +- fraction of the full range
    contrast: float = 0.0  # +- fraction


def augment(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random flips, 90-degree turns and shifts of a uint8 N x 3 x H x W batch; returns float in [0, 1].

    Shifts pad by reflection, so no black borders appear that a model could learn from.
    """
    x = images.float().div_(255)
    n = x.shape[0]

    def coin() -> torch.Tensor:
        return torch.rand(n, generator=generator) < 0.5

    if config.hflip:
        flip = coin()
        x[flip] = x[flip].flip(3)
    if config.vflip:
        flip = coin()
        x[flip] = x[flip].flip(2)
    if config.rot90:
        turns = torch.randint(0, 4, (n,), generator=generator)
        for k in (1, 2, 3):
            chosen = turns == k
            if chosen.any():
                x[chosen] = torch.rot90(x[chosen], k, dims=(2, 3))
    if config.translate:
        t = config.translate
        height, width = x.shape[2:]
        padded = F.pad(x, (t, t, t, t), mode="reflect")
        shifts = torch.randint(0, 2 * t + 1, (n, 2), generator=generator).tolist()
        x = torch.stack(
            [padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(shifts)]
        )
    if config.brightness or config.contrast:
        scale = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * config.contrast
        shift = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * config.brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * scale + mean + shift).clamp_(0, 1)
    return x
