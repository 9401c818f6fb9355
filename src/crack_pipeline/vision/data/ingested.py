"""The files ingest validated, read again: their bytes while they are unchanged (by SHA-256), their pixels
at a training size. Free of torch, so that decoding worker processes start without importing it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from crack_pipeline.vision.data.image_io import VALIDATED, ImageRejected, decode_image, resize_square

CHANGED_SINCE_INGEST = "changed since ingest validated it: run ingest (or the pipeline) again"


def load_resized(path: Path, size: int) -> np.ndarray:
    """One image file as 3 x size x size uint8 (`resize_square`)."""
    return resize_square(decode_image(path.read_bytes(), VALIDATED).image, size)


def load_resized_chunk(
    job: tuple[list[Path], int, list[str] | None, list[bool] | None],
) -> list[bytes | str | None]:
    """Each file of a chunk as raw `load_resized` bytes, or the reason it could not be read; with the
    SHA-256 each file had when ingest validated it, a file whose content changed since (its label may no
    longer hold) is left out too. A file the `decode` flags pass over is only checked: None when it still
    reads as ingest validated it (its pixels are known already).
    """
    files, size, expected, decode = job
    loaded: list[bytes | str | None] = []
    for file, sha256, wanted in zip(
        files, expected or [None] * len(files), decode or [True] * len(files), strict=True
    ):
        data = ingested_bytes(file, sha256)
        if isinstance(data, str) or not wanted:  # why not, or checked only (None)
            loaded.append(data if isinstance(data, str) else None)
            continue
        try:
            loaded.append(resize_square(decode_image(data, VALIDATED).image, size).tobytes())
        except (OSError, ImageRejected) as error:
            loaded.append(f"{type(error).__name__}: {error}")
    return loaded


def ingested_bytes(file: Path, sha256: str | None) -> bytes | str:
    """The file's bytes while they are those ingest validated (`sha256`; any without), else why not: its
    content changed since (its label may no longer hold), or it cannot be read."""
    try:
        data = file.read_bytes()
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return CHANGED_SINCE_INGEST if sha256 and hashlib.sha256(data).hexdigest() != sha256 else data


def changed_since_ingest(files: list[Path], expected: list[str]) -> dict[Path, str]:
    """The files whose content is no longer the SHA-256 ingest recorded for them, or that cannot be read,
    with why."""
    found = {file: ingested_bytes(file, sha256) for file, sha256 in zip(files, expected, strict=True)}
    return {file: reason for file, reason in found.items() if isinstance(reason, str)}
