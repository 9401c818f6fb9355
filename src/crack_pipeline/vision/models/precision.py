"""Numeric precision on a device: fp32, or bf16 autocast where it is native and measured to match fp32.

`auto` is decided per use, not per machine alone: what the user sees (accuracy, heatmaps, crack maps) must
not depend on which CPU or GPU computed it, so `auto` picks bf16 only for the uses in `AUTO_BF16_USES`,
where `bench/precision.py` measured bf16 to match fp32, and only on a device that computes bf16 natively
(as torch reports it: AVX-512 BF16 or AMX on a CPU, compute capability 8.0 (Ampere) or later on a GPU).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field

import torch

from crack_pipeline.vision.models.device import resolve_device, threads_per_process
from crack_pipeline.vision.settings import ConfigError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
# What a model is being run for: training from random weights, fine-tuning pretrained weights, forward
# passes (probabilities), or class activation maps (gradients of the output at an early layer).
USES = ("scratch", "fine_tune", "inference", "cam")
# Measured on a native-bf16 CPU (bench/precision.py, README "Precision"): bf16 trains small_cnn as well
# (0.983 vs 0.975, within +-0.01 over six seeds) but moved EfficientNet's p(crack) by up to 0.149 and its
# LayerCAM maps (correlation 0.90) and with them the pointing game: so fp32 for every use.
AUTO_BF16_USES: frozenset[str] = frozenset()


def cpu_capability() -> str:
    """The vector instruction set torch dispatches to on this CPU, as torch reports it (e.g. AVX2, AVX512)."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX-512 BF16 or AMX), as torch's cpuinfo reports it,
    on any operating system; elsewhere bf16 is emulated and slow."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def has_native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively. On a GPU, that GPU's own (not the current one's) compute
    capability: `torch.cuda.is_bf16_supported()` also counts the emulation of a T4 or V100."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    return cpu_has_native_bf16()


def describe_cpu() -> str:
    """One line for benchmark output: the capability torch uses and whether bf16 is native."""
    return f"cpu {cpu_capability()}, native bf16 {'yes' if cpu_has_native_bf16() else 'no'}"


def compute_used(device: torch.device, processes: int = 1) -> dict[str, str | int]:
    """What computes on `device`, recorded with a model beside its settings: trained weights are bit-identical
    only for the same device, CPU kernels (AVX2, AVX-512), torch threads (each process's, on a CPU) and
    torch version (within noise otherwise)."""
    return {
        "device": str(device) if device.type == "cpu" else f"{device} {torch.cuda.get_device_name(device)}",
        "cpu": describe_cpu(),
        "threads": threads_per_process(processes) if device.type == "cpu" else torch.get_num_threads(),
        "processes": processes,
        "torch": str(torch.__version__),  # a plain string: weights_only loading refuses TorchVersion
    }


@functools.cache
def _warn_emulated_bf16(device: torch.device) -> None:
    """Once per device and process: a run resolves its precision for every model and use."""
    logger.warning(
        "precision: bf16 on %s, which only emulates it (%s): slower than fp32 there; "
        "use precision: auto or fp32",
        device,
        describe_cpu() if device.type == "cpu" else "compute capability below 8.0",
    )


# Pixels of the images a CPU forward pass takes at once: 6 at 224 px (Precision.images_per_pass).
CPU_PASS_PIXELS = 6 * 224 * 224


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32" or "bf16"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def resolve(
        cls, requested: str = "auto", use: str = "inference", device: str | torch.device = "cpu"
    ) -> Precision:
        """The precision for one `use` (see USES) on `device` (the `device` setting: auto, cpu, cuda[:k]):
        `fp32` and `bf16` as asked; `auto` bf16 only for a use in AUTO_BF16_USES on a device with native
        bf16, else fp32."""
        if requested not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {requested!r}")
        if use not in USES:
            raise ValueError(f"precision use must be one of {USES}, got {use!r}")
        device = resolve_device(device)
        if requested == "auto":
            requested = "bf16" if use in AUTO_BF16_USES and has_native_bf16(device) else "fp32"
        elif requested == "bf16" and not has_native_bf16(device):
            _warn_emulated_bf16(device)
        return cls(requested, device)

    # NHWC in both: oneDNN's bf16 kernels need it, and even in fp32 on an AVX2-only CPU it trained
    # 1.3-1.8x and inferred 1.2-2.3x faster than NCHW (small_cnn, squeezenet, efficientnet at 224 px);
    # cuDNN's tensor-core kernels prefer it too.
    memory_format = torch.channels_last

    def autocast(self):
        if self.name == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def images_per_pass(self, batch_size: int, height: int, width: int) -> int:
        """How many `height` x `width` images to run at once, at most `batch_size`: on a CPU, as many as
        CPU_PASS_PIXELS allows. A batch whose activations outgrow the CPU's caches runs slower per image:
        EfficientNet-Lite0 inferred at 7.0 ms an image in passes of 6, 8.4-9.0 in passes of 8 and 11.0 in
        batches of 32 at 224 px; at 160 px 3.9 ms in passes of 6 to 11, 4.5 at 15 and 5.1 at 32 (2 cores,
        AVX-512)."""
        if self.device.type != "cpu":
            return batch_size
        return max(1, min(batch_size, CPU_PASS_PIXELS // (height * width)))

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device, memory_format=self.memory_format)

    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """`images` on the device in the memory layout; to a GPU from pinned memory, without waiting."""
        if self.device.type == "cuda" and not images.is_cuda:
            images = images.pin_memory().to(self.device, non_blocking=True)
        return images.to(self.device).contiguous(memory_format=self.memory_format)
