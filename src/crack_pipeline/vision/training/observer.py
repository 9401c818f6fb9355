"""What `loop.fit` lets look at the model after each epoch (e.g. heatmaps through training)."""

from __future__ import annotations

from typing import Any, Protocol

from torch import nn


class EpochObserver(Protocol):
    """Looks at the model after each epoch's validation (e.g. heatmaps through training); what it returns
    joins the epoch's history row, and its state is saved with the run's, so a resumed run loses nothing."""

    def __call__(self, model: nn.Module, epoch: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
