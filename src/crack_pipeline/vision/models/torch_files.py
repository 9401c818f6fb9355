"""Torch files (checkpoints, resume states, decoded splits, weights): written so that a kill mid-write never
leaves a half-written file behind; why one did not load, in one line."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from crack_pipeline.vision.errors import Interruption, on_full_disk
from crack_pipeline.vision.file_modes import file_mode


def save_atomically(data: Any, path: Path, versions_of: Path | None = None) -> None:
    """`torch.save` to a temporary sibling, then rename it over `path`: readers get the old or new file. The
    writer holds a lock on its temporary file until the rename; a sibling nobody holds is what a save killed
    midway left (it may be gigabytes), and is removed first, here and, for a versioned file, in the folder
    of every version of `versions_of` (a killed save's version is never saved to again). Where the file
    system has no locks, nothing is removed and the save goes on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folders = {path.parent, *(versions_of.glob("*/") if versions_of is not None else ())}
    for sibling in (left for folder in folders for left in folder.glob(f".{path.name}.*")):
        _remove_if_abandoned(sibling)
    while True:
        handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with contextlib.suppress(OSError):  # no locks here (some network file systems): saved all the same
            fcntl.flock(handle, fcntl.LOCK_EX)  # dropped when this process ends, however it ends
        if os.fstat(handle).st_nlink:
            break
        os.close(handle)  # another save's clean-up took it before it was locked: another name
    # mkstemp's 0600 would outlive the rename: the file follows the umask like every other output (a
    # checkpoint a scheduled run wrote was "damaged (PermissionError)" to everyone else of its group).
    os.fchmod(handle, file_mode())
    try:
        try:
            with os.fdopen(handle, "wb", closefd=False) as file:  # locked, whatever its name holds now
                torch.save(data, file)
        except Exception as error:
            if (full := on_full_disk(error, path, "writing it")) is None:
                raise
            raise full from error
        os.replace(partial, path)
    finally:
        os.close(handle)
        Path(partial).unlink(missing_ok=True)


def _remove_if_abandoned(partial: Path) -> None:
    try:
        handle = os.open(partial, os.O_RDWR)  # writable: NFS locks a file only so
    except OSError:
        return  # gone meanwhile: its save has finished
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(handle).st_ino == os.stat(partial).st_ino:  # still the file that nobody holds
            partial.unlink()
    except OSError:
        return  # a save at work (in this process or another, on this machine or another), or no locks
    finally:
        os.close(handle)


def load_checked(path: Path, **options: Any) -> Any:
    """`torch.load` of a file of plain tensors (`weights_only`, onto the CPU) checked whole first: torch reads
    a zip archive's records without their checksums, so a flipped bit in a tensor loads as other weights. A
    ValueError naming the record that is not what was written; a file that is no zip archive (truncated, of
    another kind) is left to torch's own error."""
    check_whole(path)
    return torch.load(path, map_location="cpu", weights_only=True, **options)


def check_whole(path: Path) -> None:
    """A ValueError when a record of the zip archive at `path` does not match its checksum."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        if (damaged := archive.testzip()) is not None:
            raise ValueError(f"{damaged} is not what was written (checksum)")


# torch's message for a file that holds more than tensors wraps the reason in advice for trusted files
# (load it with `weights_only=False`, file an issue): wrong for a damaged or foreign file.
_UNPICKLER_REASON = "WeightsUnpickler error:"


def why_unreadable(error: Exception) -> str:
    """The error's kind and its reason, without torch's advice, e.g. `UnpicklingError: holds more than
    tensors (Unsupported operand 103)` or `RuntimeError: PytorchStreamReader failed reading zip archive`.
    A run stopped while the file was read (`Interruption`) is no reason: raised again, never passed over as
    a damaged file (a resume state taken for one was trained over from the start and overwritten)."""
    if isinstance(error, Interruption):
        raise error
    text = str(error)
    if _UNPICKLER_REASON in text:
        # its first sentence: what follows is how to allow it
        reason = text.split(_UNPICKLER_REASON, 1)[1].strip().split("\n", 1)[0].split(". ", 1)[0].rstrip(".")
        text = f"holds more than tensors ({reason})"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
