"""A training run that learned nothing finite: stopped, not its starting weights returned as a model."""

from __future__ import annotations

import math

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.registry import ModelSpec
from crack_pipeline.vision.training.config import TrainConfig


class TrainingDiverged(InputError):
    """No epoch gave a finite validation loss: the weights learned nothing worth keeping."""


def check_converged(
    history: list[dict[str, float]], best_loss: float, spec: ModelSpec, config: TrainConfig
) -> None:
    """A `TrainingDiverged` error when epochs ran and none gave a finite validation loss: the
    "best" weights were then the starting ones (a NaN is never lower), returned as if trained, and a random
    model was given a threshold, registered and could become champion."""
    if not history or math.isfinite(best_loss):
        return
    losses = ", ".join(f"{row['val_loss']}" for row in history)
    raise TrainingDiverged(
        f"{spec.name}: training diverged, no epoch gave a finite validation loss ({losses}); lower the "
        f"learning rate (lr {config.lr} in train.defaults or the variant's training) or use precision fp32 "
        f"(now {config.precision})"
    )
