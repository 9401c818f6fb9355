"""Where models run: `auto` (a CUDA GPU when torch sees one, else the CPU), `cpu`, or `cuda[:k]`."""

from __future__ import annotations

import re

import torch

from crack_pipeline.vision.settings import ConfigError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:<index>"


def resolve_device(requested: str | torch.device | None = "auto") -> torch.device:
    """The torch device for the `device` setting; a clear error for a GPU that torch does not see."""
    if isinstance(requested, torch.device):
        return _without_tf32(requested) if requested.type == "cuda" else requested
    text = _setting(requested)
    if text == "auto":
        return _without_tf32(torch.device("cuda")) if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise ConfigError(f"device must be {DEVICE_CHOICES}, got {requested!r}")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device: {requested} asks for a CUDA GPU, but torch {torch.__version__} sees none "
            f"({'built without CUDA' if torch.version.cuda is None else 'no GPU or driver found'}): "
            "use device: auto or cpu"
        )
    index = int(match[1] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device: {requested}, but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    return _without_tf32(torch.device("cuda", index))


def spread_device(requested: str | None, index: int) -> torch.device:
    """The device of the `index`-th of several processes on one machine (a survey's shards): `auto` or `cuda`
    with k GPUs is GPU `index` mod k, so they share the GPUs instead of all taking the first; `cuda:<k>`
    and `cpu` are `resolve_device`'s."""
    device = resolve_device(requested)
    if _setting(requested) in ("auto", "cuda") and device.type == "cuda":
        return torch.device("cuda", index % torch.cuda.device_count())
    return device


def threads_per_process(processes: int) -> int:
    """The torch threads each of `processes` processes sharing this one's CPUs takes: this process's own
    count (OMP_NUM_THREADS, or the CPUs it may run on: a container's share, not the host's every core)
    shared out."""
    return max(1, torch.get_num_threads() // processes)


def _setting(requested: str | None) -> str:
    # Not `requested or "auto"`: device=0 (GPU 0, meant as cuda:0) was taken for auto, without a word.
    return "auto" if requested is None else str(requested).strip().lower() or "auto"


def _without_tf32(gpu: torch.device) -> torch.device:
    """`gpu`, once fp32 there is fp32: cuDNN's convolutions run in TF32 by default (a 10-bit mantissa, from
    Ampere on), which moves p(crack), heatmaps and thresholds from the CPU's by about 1e-3."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return gpu
