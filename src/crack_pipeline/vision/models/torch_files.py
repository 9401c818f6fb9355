"""Writing torch files so that a kill mid-write never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_atomically(data: Any, path: Path) -> None:
    """`torch.save` to a temporary sibling, then rename it over `path`: readers get the old or new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        torch.save(data, partial)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
