"""Torch files (checkpoints, resume states, decoded splits, weights): written so that a kill mid-write never
leaves a half-written file behind; why one did not load, in one line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from crack_pipeline.vision.data.parallel import process_alive


def save_atomically(data: Any, path: Path) -> None:
    """`torch.save` to a temporary sibling, then rename it over `path`: readers get the old or new file. A
    sibling left by a writer killed mid-save (its process gone) is removed first: it may be gigabytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        writer = stale.name.removeprefix(f".{path.name}.").split(".")[0]
        if writer.isdigit() and not process_alive(int(writer)):
            stale.unlink(missing_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    os.close(handle)
    try:
        torch.save(data, partial)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


# torch's message for a file that holds more than tensors wraps the reason in advice for trusted files
# (load it with `weights_only=False`, file an issue): wrong for a damaged or foreign file.
_UNPICKLER_REASON = "WeightsUnpickler error:"


def why_unreadable(error: Exception) -> str:
    """The error's kind and its reason, without torch's advice, e.g. `UnpicklingError: holds more than
    tensors (Unsupported operand 103)` or `RuntimeError: PytorchStreamReader failed reading zip archive`."""
    text = str(error)
    if _UNPICKLER_REASON in text:
        # its first sentence: what follows is how to allow it
        reason = text.split(_UNPICKLER_REASON, 1)[1].strip().split("\n", 1)[0].split(". ", 1)[0].rstrip(".")
        text = f"holds more than tensors ({reason})"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
