"""What each epoch draws and how the weights move: class weights, each epoch's order of images, the
optimiser and the per-batch learning-rate schedule."""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

import torch
from torch import nn

from crack_pipeline.vision.data.tensor_cache import ImageTensors

if TYPE_CHECKING:
    from crack_pipeline.vision.training.config import TrainConfig

logger = logging.getLogger(__name__)


def class_weights(labels: torch.Tensor, mode: str | None) -> torch.Tensor | None:
    """Loss weights inversely proportional to each class's count (`mode` "balanced"), or None."""
    if mode is None:
        return None
    counts = torch.bincount(labels, minlength=2).float().clamp_(min=1)
    return counts.sum() / (len(counts) * counts)


def epoch_order(data: ImageTensors, balance_domains: bool, generator: torch.Generator) -> torch.Tensor:
    """The images of one epoch, as indices: a permutation, or with `balance_domains` as many draws (with
    replacement) weighted so that each domain makes up an equal share of them."""
    if not balance_domains:
        return torch.randperm(len(data), generator=generator)
    domains = data.domains
    counts = Counter(domains)
    weights = torch.tensor([1.0 / counts[d] for d in domains], dtype=torch.float64)
    return torch.multinomial(weights, len(data), replacement=True, generator=generator)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    kinds = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}
    return kinds[config.optimizer](model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer, config: TrainConfig, steps_per_epoch: int):
    """The per-batch learning-rate schedule over all `config.epochs` (None for a constant rate)."""
    if config.schedule == "constant":
        return None
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.lr,
        total_steps=max(1, config.epochs * steps_per_epoch),
        pct_start=config.warmup,
        cycle_momentum=False,
    )


def lasting(config: TrainConfig, steps_per_epoch: int, name: str) -> TrainConfig:
    """`config` with the epochs its `min_steps` need, said where they are more than its `epochs`."""
    raised = config.lasting(steps_per_epoch)
    if raised.epochs > config.epochs:
        logger.info(
            "%s: %d epochs of %d steps, for min_steps %d (epochs %d gave %d steps)",
            *(name, raised.epochs, steps_per_epoch, config.min_steps, config.epochs),
            config.epochs * steps_per_epoch,
        )
    return raised
