"""A training run's resume state: which run it belongs to, and reading it back without failing the run."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.models.torch_files import why_unreadable

logger = logging.getLogger(__name__)


def data_key(*splits: ImageTensors) -> str:
    digest = hashlib.sha256()
    for split in splits:
        digest.update("\n".join(split.paths).encode())
        digest.update(split.labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def load_resume(path: Path | None, run_key: str) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged resume file costs a restart, never the run
        logger.warning("ignoring unreadable resume file %s: %s", path, why_unreadable(error))
        return None
    if state.get("key") != run_key:
        logger.info("ignoring resume file %s: written for other settings or data", path)
        return None
    return state


def dropout_draws(device: torch.device) -> dict[str, torch.Tensor]:
    """Where dropout's random draws stand, for a resume state: the CPU's generator and, on a GPU, the
    GPU's own, which dropout draws from there."""
    state = {"torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["gpu_rng"] = torch.cuda.get_rng_state(device)
    return state


def continue_dropout_draws(state: dict, device: torch.device) -> None:
    """Dropout draws continue exactly where a resume state's stopped (on a GPU, from a state saved on one)."""
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "gpu_rng" in state:
        torch.cuda.set_rng_state(state["gpu_rng"], device)
