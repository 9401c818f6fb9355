"""How a model variant trains: every setting of `train.defaults` and `train.models.<name>.training`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import asdict, field
from typing import Literal

from pydantic import Field

from crack_pipeline.vision.data.augment import AugmentConfig
from crack_pipeline.vision.settings import settings_dataclass


@settings_dataclass
class TrainConfig:
    epochs: int = Field(5, ge=0)  # 0: the head stage alone (head_passes)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adamw", "adam"] = "adamw"
    # A rate of 0 or less (or NaN) trained a model that never learned or diverged; a warmup of 1 or more
    # stopped the first step with torch's ZeroDivisionError or ValueError.
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    # Early stopping: epochs without a better validation loss. At 0 the loop stopped before its first epoch,
    # and the starting weights were checkpointed and registered as if trained.
    patience: int = Field(3, ge=1)
    # At least this many optimisation steps: `epochs` raised to reach them, and early stopping waits for
    # them. A few hundred labelled images are a handful of steps an epoch, too few to move the network.
    min_steps: int = Field(0, ge=0)
    freeze_backbone_epochs: int = Field(0, ge=0)  # train only the head for this many epochs first
    # Before the first epoch, the head alone for this many passes over the backbone's features computed
    # once (no augmentation): a pretrained backbone's linear probe in seconds, logged as epoch 0 (0: off).
    head_passes: int = Field(0, ge=0)
    class_weights: Literal["balanced"] | None = "balanced"
    seed: int = 42
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    deterministic: bool = False  # torch's deterministic algorithms only: bit-identical reruns
    # The learning rate over the run, stepped every batch: constant, or one cycle (up to `lr` over the first
    # `warmup` share of all `epochs`' steps, then cosine annealing to ~0), which lets small_cnn learn from
    # scratch on a few hundred images (README, "small_cnn").
    schedule: Literal["constant", "onecycle"] = "constant"
    warmup: float = Field(0.3, ge=0, lt=1)
    # Draw each epoch's images (and the head stage's passes) so that every domain (the `<domain>/` of an
    # image's key) is seen equally often, however many images it has; false: each image once per epoch.
    balance_domains: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    progress: bool = True

    def __post_init__(self):
        if self.epochs == 0 and self.head_passes == 0 and self.min_steps == 0:
            raise ValueError(
                "epochs 0, head_passes 0 and min_steps 0: nothing would train; set epochs, head_passes or "
                "min_steps"
            )
        if self.epochs == 0 and self.head_passes and self.min_steps:
            # `lasting` raised epochs 0 like any other: the head stage alone became a whole-network tuning.
            raise ValueError(
                f"epochs 0 (the head stage alone) and min_steps {self.min_steps}: min_steps would add epochs "
                "that train the whole network; set min_steps 0, or epochs 1 to fine-tune after the head stage"
            )

    def lasting(self, steps_per_epoch: int) -> TrainConfig:
        """This configuration with its epochs raised, where `min_steps` needs more than `epochs` give."""
        return dataclasses.replace(
            self, epochs=max(self.epochs, self.epochs_before_stopping(steps_per_epoch))
        )

    def epochs_before_stopping(self, steps_per_epoch: int) -> int:
        """The epochs `min_steps` takes, before which early stopping does not stop the run."""
        return math.ceil(self.min_steps / max(1, steps_per_epoch))

    def fingerprint(self) -> str:
        settings = {k: v for k, v in asdict(self).items() if k != "progress"}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
