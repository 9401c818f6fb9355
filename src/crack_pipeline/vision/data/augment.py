"""Batched data augmentation on uint8 image tensors, with torchvision's blur and Pillow's JPEG re-encoding.

Beyond the MATLAB demo's flips and shifts, what a field photo does to a crack: another scale (distance,
lens), any direction, blur (focus, motion), sensor noise, JPEG compression, white balance and uneven light.
Brightness (a shift of the range, not torchvision's scaling), colour, light and noise are drawn here, from
the one seeded generator that makes every batch reproducible (torchvision's noise draws from the global one).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2.functional import gaussian_blur

from crack_pipeline.vision.settings import settings_dataclass

_MAGNITUDES = ("translate", "brightness", "contrast", "rotate", "blur", "noise", "colour", "illumination")


@settings_dataclass
class AugmentConfig:
    hflip: bool = True  # the MATLAB demo's random reflection
    translate: int = 30  # pixels, +-, the MATLAB demo's random X/Y translation
    vflip: bool = False
    rot90: bool = False  # cracks have no preferred direction
    brightness: float = 0.0  # +- fraction of the full range
    contrast: float = 0.0  # +- fraction
    rotate: float = 0.0  # +- degrees, any angle (reflection fills the corners)
    scale: tuple[float, float] = (1.0, 1.0)  # zoom range: 2.0 shows half the side (a random resized crop)
    blur: float = 0.0  # Gaussian blur of up to this sigma (pixels), on half the images
    noise: float = 0.0  # sensor noise: Gaussian with a std of up to this fraction of the range
    jpeg: int = 0  # re-encode half the images as JPEG of quality in [jpeg, 95]; 0: never
    colour: float = 0.0  # white balance: each channel scaled by 1 +- this
    illumination: float = 0.0  # uneven light: a brightness ramp of +- this across the image

    def __post_init__(self):
        # A negative magnitude was a crash mid-training (blur) or the same as its positive (the +- ranges).
        if negative := [name for name in _MAGNITUDES if getattr(self, name) < 0]:
            raise ValueError(
                f"augment.{negative[0]} is a magnitude, 0 or above (0: off), not {getattr(self, negative[0])}"
            )
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"augment.scale must be a range 0 < low <= high, got {self.scale}")
        if not 0 <= self.jpeg <= 95:
            raise ValueError(f"augment.jpeg is a JPEG quality in 1..95 (0: off), got {self.jpeg}")


def augment(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random flips, turns, shifts, zooms, blur, noise, colour and JPEG of a uint8 N x 3 x H x W batch;
    returns float in [0, 1]. Every draw comes from `generator`, so a seed gives the same batch.

    Shifts and rotations pad by reflection, so no black borders appear that a model could learn from.
    """
    x = images.float().div_(255)
    n = x.shape[0]

    def coin() -> torch.Tensor:
        return torch.rand(n, generator=generator) < 0.5

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=generator)

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
    if config.rotate or config.scale != (1.0, 1.0):
        x = _rotate_and_zoom(x, uniform(-config.rotate, config.rotate), _log_uniform(config.scale, uniform))
    if config.colour:
        x = x * uniform(1 - config.colour, 1 + config.colour, 3, 1, 1)
    if config.illumination:
        x = x * _light_ramp(x.shape, uniform(0, 2 * math.pi), uniform(0, config.illumination))
    if config.brightness or config.contrast:
        scale = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * config.contrast
        shift = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * config.brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * scale + mean + shift
    x = x.clamp_(0, 1)
    if config.blur:
        sigmas, chosen = uniform(0.3, config.blur).tolist(), coin().tolist()
        for i in (i for i in range(n) if chosen[i]):
            size = 2 * math.ceil(2.5 * sigmas[i]) + 1
            x[i] = gaussian_blur(x[i], [size, size], [sigmas[i], sigmas[i]])
    if config.noise:
        std = uniform(0, config.noise, 1, 1, 1)
        x = (x + std * torch.randn(x.shape, generator=generator)).clamp_(0, 1)
    if config.jpeg:
        qualities, chosen = (
            torch.randint(config.jpeg, 96, (n,), generator=generator).tolist(),
            coin().tolist(),
        )
        for i in (i for i in range(n) if chosen[i]):
            x[i] = _jpeg(x[i], qualities[i])
    return x


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """A 3 x H x W float image through a JPEG file of `quality` and back, with Pillow's libjpeg-turbo:
    the same bytes as torchvision's `jpeg`, whose image coding torchvision 0.29 deprecates."""
    pixels = image.mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    file = io.BytesIO()
    Image.fromarray(pixels).save(file, "JPEG", quality=quality)
    decoded = np.array(Image.open(file).convert("RGB"))  # writable, as torch wants
    return torch.from_numpy(decoded).permute(2, 0, 1).float().div_(255)


def _log_uniform(bounds: tuple[float, float], uniform) -> torch.Tensor:
    """Zoom factors spread evenly in log scale, so 0.5..2 zooms in as often as out."""
    low, high = bounds
    return torch.exp(uniform(math.log(low), math.log(high)))


def _rotate_and_zoom(x: torch.Tensor, degrees: torch.Tensor, zoom: torch.Tensor) -> torch.Tensor:
    """Each image turned about its centre by its angle and magnified by its zoom, in one resampling."""
    angle = degrees * math.pi / 180
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zeros = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _light_ramp(shape: torch.Size, direction: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W multiplicative light: 1 - strength on one side, 1 + strength on the other."""
    n, _, height, width = shape
    ys = torch.linspace(-1, 1, height).view(1, height, 1)
    xs = torch.linspace(-1, 1, width).view(1, 1, width)
    ramp = torch.cos(direction).view(n, 1, 1) * xs + torch.sin(direction).view(n, 1, 1) * ys
    return (1 + strength.view(n, 1, 1) * ramp.clamp(-1, 1)).unsqueeze(1)
