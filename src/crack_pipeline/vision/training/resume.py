"""A training run's resume state: which run it belongs to, and reading it back without failing the run."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.models.torch_files import load_checked, why_unreadable
from crack_pipeline.vision.training.replicas import Randomness, Replicas

logger = logging.getLogger(__name__)


def data_key(*splits: ImageTensors) -> str:
    digest = hashlib.sha256()
    for split in splits:
        digest.update("\n".join(split.paths).encode())
        digest.update(split.labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def run_key(
    architecture: str,
    precision: str,
    config_key: str,
    model: torch.nn.Module,
    train: ImageTensors,
    val: ImageTensors,
    world: int,
) -> str:
    """What a resume state belongs to: the architecture, precision, training settings, starting weights
    (pretrained, inherited or seeded), data and the number of replicas (they set the steps per epoch,
    which a one-cycle schedule's state counts)."""
    weights = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return (
        f"{architecture}-{precision}-{config_key}-{data_key(train, val)}-x{world}-{weights.hexdigest()[:16]}"
    )


def load_resume(path: Path | None, key: str) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        state = load_checked(path)
    except Exception as error:  # a damaged resume file costs a restart, never the run
        logger.warning("ignoring unreadable resume file %s: %s", path, why_unreadable(error))
        return None
    if state.get("key") != key:
        logger.info("ignoring resume file %s: written for other settings or data", path)
        return None
    return state


def draws_of(randomness: Randomness, replicas: Replicas, device: torch.device) -> dict:
    """Where a run's random draws stand, for a resume state: the epochs' image order, and every replica's
    augmentation and dropout draws (gathered from all: the first replica writes the state)."""
    own = {"augment": randomness.augment.get_state(), **_dropout_draws(device)}
    return {"generator": randomness.order.get_state(), "replica_draws": replicas.each(own)}


def continue_draws(state: dict, randomness: Randomness, replicas: Replicas, device: torch.device) -> None:
    """Every draw continues exactly where a resume state's stopped, each replica its own (a state written
    before they were kept holds the first replica's dropout draws only)."""
    randomness.order.set_state(state["generator"])
    draws = state["replica_draws"][replicas.rank] if "replica_draws" in state else state
    if "augment" in draws:
        randomness.augment.set_state(draws["augment"])
    torch.set_rng_state(draws["torch_rng"])
    if device.type == "cuda" and "gpu_rng" in draws:  # from a state saved on a GPU
        torch.cuda.set_rng_state(draws["gpu_rng"], device)


def _dropout_draws(device: torch.device) -> dict[str, torch.Tensor]:
    """Where dropout's random draws stand: the CPU's generator and, on a GPU, the GPU's own, which dropout
    draws from there."""
    state = {"torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["gpu_rng"] = torch.cuda.get_rng_state(device)
    return state
