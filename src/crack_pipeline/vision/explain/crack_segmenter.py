"""Which pixels are crack, learned: a small U-Net trained on the project's own synthetic cracks and their
masks (no real pixel label is ever needed), its training and its checkpoints; where it runs in a photo is
crack_tracing's.

Darkness against the local surface (crack_masks) finds a crack's dark core but also joints, painted lines
and pore chains, and loses a crack's faint ends; a net trained on masks learns the shape of a crack. It
works at the photo's own pixel scale (cracks 1-6 px wide, as in the synthetic patches), on grey levels
standardised against the local surface, so that walls and pavements look alike to it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from scipy import ndimage
from torch import nn

from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.crack_masks import grey_levels
from crack_pipeline.vision.models.inference import fold_batch_norms
from crack_pipeline.vision.settings import settings_dataclass

FORMAT = "crack_pipeline.segmenter/1"
_SURFACE = 31  # px: the local surface a grey level is compared with
_DIFFICULTIES = (0.2, 0.5, 0.8, 1.0)  # from wide dark cracks to hairlines among many confounders
# Training patches are rendered from this index on: never those of the synthetic data set (1..count), its
# test split included, whatever the seeds.
_FIRST_INDEX = 1_000_001


@settings_dataclass
class SegmenterConfig:
    samples: int = 800  # synthetic patches per class (crack, and clean ones with joints and stains)
    steps: int = 2400  # optimiser steps
    batch_size: int = 16
    crop: int = 96  # px: the random crop of a 227-px patch each step trains on
    width: int = 8  # channels of the first level (x2, x4 below)
    learning_rate: float = 3e-3
    seed: int = Field(0, ge=0)  # seeds numpy, which takes no negative seed

    def __post_init__(self):
        if min(self.samples, self.steps, self.batch_size, self.width) < 1:
            raise ValueError("segmenter: samples, steps, batch_size and width must be at least 1")
        if not 16 <= self.crop <= 227:
            raise ValueError(f"segmenter.crop must be between 16 and 227 px, got {self.crop}")
        if not self.learning_rate > 0:
            raise ValueError(f"segmenter.learning_rate must be above 0, got {self.learning_rate}")


class CrackSegmenter(nn.Module):
    """A three-level U-Net: one grey channel in, a crack logit per pixel out (any size)."""

    def __init__(self, width: int = 8):
        super().__init__()

        def block(inputs: int, outputs: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(inputs, outputs, 3, padding=1),
                nn.BatchNorm2d(outputs),
                nn.ReLU(inplace=True),
                nn.Conv2d(outputs, outputs, 3, padding=1),
                nn.BatchNorm2d(outputs),
                nn.ReLU(inplace=True),
            )

        self.down1, self.down2, self.down3 = (
            block(1, width),
            block(width, 2 * width),
            block(2 * width, 4 * width),
        )
        self.up2, self.up1 = block(6 * width, 2 * width), block(3 * width, width)
        self.logit = nn.Conv2d(width, 1, 1)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        # Padded to a multiple of 4, so each level is exactly half the one above and a pixel's features
        # line up across levels wherever the image is cut.
        height, width = grey.shape[-2:]
        full = self.down1(F.pad(grey, (0, -width % 4, 0, -height % 4), mode="replicate"))
        half = self.down2(F.max_pool2d(full, 2))
        quarter = self.down3(F.max_pool2d(half, 2))
        half = self.up2(torch.cat([half, F.interpolate(quarter, scale_factor=2.0)], 1))
        logits = self.logit(self.up1(torch.cat([full, F.interpolate(half, scale_factor=2.0)], 1)))
        return logits[..., :height, :width]


def local_contrast(image: np.ndarray) -> np.ndarray:
    """The HxW(x3) image as grey levels minus the local surface's, in units of their spread (float32)."""
    grey = grey_levels(image)
    relief = grey - ndimage.uniform_filter(grey, _SURFACE)
    # The surface's spread, robustly (median absolute deviation): a box cut tight around a crack has the
    # same as the whole photo, where a standard deviation would be inflated by the crack's own pixels.
    return relief / max(1.4826 * float(np.median(np.abs(relief))), 1.0)


def synthetic_training_set(config: SegmenterConfig) -> tuple[np.ndarray, np.ndarray]:
    """`samples` crack and `samples` clean synthetic patches at mixed difficulties: N x 227 x 227 local
    contrast (float32) and masks (bool; all False for the clean ones)."""
    inputs, masks = [], []
    for positive in (True, False):
        for index in range(_FIRST_INDEX, _FIRST_INDEX + config.samples):
            difficulty = _DIFFICULTIES[index % len(_DIFFICULTIES)]
            synth = SynthConfig(count_per_class=config.samples, seed=config.seed, difficulty=difficulty)
            sample = render_sample(synth, positive, index)
            inputs.append(local_contrast(sample.image))
            masks.append(sample.mask if sample.mask is not None else np.zeros(sample.image.shape[:2], bool))
    return np.stack(inputs), np.stack(masks)


def training_batch(inputs, masks, config, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops, turned by quarter turns, with contrast, blur and noise varied: the cameras it meets."""
    side = inputs.shape[-1]
    crops, truths = [], []
    for index in rng.integers(0, len(inputs), config.batch_size):
        top, left = rng.integers(0, side - config.crop + 1, 2)
        area = (index, slice(top, top + config.crop), slice(left, left + config.crop))
        turns = int(rng.integers(4))
        crop, truth = np.rot90(inputs[area], turns) * rng.uniform(0.6, 1.5), np.rot90(masks[area], turns)
        if rng.random() < 0.3:
            crop = ndimage.gaussian_filter(crop, rng.uniform(0.3, 0.8))
        crops.append((crop + rng.normal(0, rng.uniform(0, 0.3), crop.shape)).astype(np.float32))
        truths.append(truth.astype(np.float32))
    return torch.from_numpy(np.stack(crops))[:, None], torch.from_numpy(np.stack(truths))[:, None]


def segmenter_loss(
    logits: torch.Tensor, truths: torch.Tensor, known: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy weighted 3:1 for crack (cracks are a few percent of the pixels) plus Dice, over the
    pixels `known` marks (1; all where None), the cross-entropy averaged over those alone."""
    known = torch.ones_like(truths) if known is None else known
    probabilities = torch.sigmoid(logits) * known
    overlap = 2 * (probabilities * truths).sum() + 1
    dice = 1 - overlap / (probabilities.sum() + (truths * known).sum() + 1)
    crack_weight = torch.tensor(3.0, device=logits.device)
    weighted = F.binary_cross_entropy_with_logits(
        logits, truths, known, pos_weight=crack_weight, reduction="sum"
    )
    return weighted / known.sum().clamp(min=1) + dice


def train_segmenter(
    config: SegmenterConfig,
    device: str | torch.device = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> dict:
    """A `CrackSegmenter` trained on synthetic masks (`segmenter_loss`), as a checkpoint dict loadable with
    `weights_only=True`."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    inputs, masks = synthetic_training_set(config)
    net = CrackSegmenter(config.width).to(device)

    def batch() -> tuple[torch.Tensor, torch.Tensor, None]:
        crops, truths = (tensor.to(device) for tensor in training_batch(inputs, masks, config, rng))
        return crops, truths, None

    losses = fit_steps(net, batch, config.steps, config.learning_rate, progress, one_cycle=True)
    return {
        "format": FORMAT,
        "segmenter_id": uuid.uuid4().hex,  # what a survey records, to continue only with the same one
        "config": dataclasses.asdict(config),
        "state_dict": cpu_weights(net),
        "losses": losses,
    }


def fit_steps(
    net: CrackSegmenter,
    batch: Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
    steps: int,
    learning_rate: float,
    progress: Callable[[int, float], None] | None = None,
    one_cycle: bool = False,
) -> list[float]:
    """`net` trained in place for `steps` AdamW steps on `batch()` (inputs, truths and the pixels known, as
    `segmenter_loss` takes them) at `learning_rate` (the peak of one cycle if `one_cycle`): its losses."""
    optimiser = torch.optim.AdamW(net.parameters(), learning_rate, weight_decay=1e-4)
    cycle = torch.optim.lr_scheduler.OneCycleLR
    schedule = cycle(optimiser, learning_rate, total_steps=steps) if one_cycle else None
    losses = []
    net.train()
    for step in range(steps):
        inputs, truths, known = batch()
        loss = segmenter_loss(net(inputs), truths, known)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, losses[-1])
    return losses


def cpu_weights(net: nn.Module) -> dict[str, torch.Tensor]:
    """`net`'s state dict on the CPU, detached: what a checkpoint keeps."""
    return {key: value.detach().cpu() for key, value in net.state_dict().items()}


def check_segmenter(checkpoint: Any, source: str) -> None:
    """An `InputError` naming `source` unless `checkpoint` is a complete `train_segmenter` checkpoint."""
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise InputError(
            f"{source}: not a crack segmenter checkpoint of format {FORMAT}: train one with "
            "`kedro run --pipelines=segmenter`"
        )
    missing = [key for key in ("segmenter_id", "config", "state_dict") if key not in checkpoint]
    if missing:
        raise InputError(f"{source}: crack segmenter checkpoint without {', '.join(missing)}")


def segmenter_net(checkpoint: Any, source: str) -> CrackSegmenter:
    """The `CrackSegmenter` of a complete `train_segmenter` checkpoint, its weights loaded: an `InputError`
    naming `source` unless they fit its settings."""
    check_segmenter(checkpoint, source)
    width = checkpoint["config"].get("width") if isinstance(checkpoint["config"], dict) else None
    if not isinstance(width, int) or width < 1:
        raise InputError(f"{source}: its settings give the net no width (config.width: {width!r})")
    net = CrackSegmenter(width)
    try:
        net.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise InputError(f"{source}: its weights do not fit its settings: {error}") from None
    return net


def load_segmenter(checkpoint: dict, device: str = "cpu") -> CrackSegmenter:
    """The `CrackSegmenter` of a `train_segmenter` checkpoint for inference on `device`: batch norms folded
    into the convolutions, channels-last (1.9x as fast on a 2-core CPU at 8 channels, outputs equal to
    1e-5)."""
    net = segmenter_net(checkpoint, "crack segmenter")
    return fold_batch_norms(net.eval()).to(device, memory_format=torch.channels_last)
