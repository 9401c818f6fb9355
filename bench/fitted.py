"""Models fitted inside a benchmark, as checkpoints the project's own inference code reads."""

from __future__ import annotations

from typing import Any

from torch import nn

from crack_pipeline.vision.models.checkpoint import make_checkpoint
from crack_pipeline.vision.training.loop import FitResult


def bench_checkpoint(
    model: nn.Module, architecture: str, input_size: int, fitted: FitResult | None = None
) -> dict[str, Any]:
    """`model` as a checkpoint; its provenance says it was made by a benchmark, not a pipeline run."""
    return make_checkpoint(
        model,
        variant=architecture,
        architecture=architecture,
        input_size=input_size,
        train_config={},
        data_fingerprint="benchmark",
        split_fingerprint="benchmark",
        git_commit="benchmark",
        best_epoch=fitted.best_epoch if fitted else 0,
        best_metrics=fitted.best_metrics if fitted else {},
    )
