"""SHA-256 of a downloaded archive, and the lock file that keeps those of archives whose publisher gives
none: `{name: {url, file, bytes, sha256, recorded}}`, recorded at a data set's first download and committed,
so that every later download, on any machine, must match it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.file_modes import file_mode

CHUNK = 1 << 20
SHA256 = re.compile(r"[0-9a-f]{64}")  # as sha256sum prints it


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_lock(lock_file: Path) -> dict[str, dict]:
    """The lock file's entries (none if there is no file), each with a valid `sha256`."""
    if not lock_file.exists():
        return {}
    try:
        lock = json.loads(lock_file.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{lock_file}: not valid JSON ({error}); fix it or take it back from git") from None
    if not isinstance(lock, dict):
        raise InputError(f"{lock_file}: not a JSON object of data sets; fix it or take it back from git")
    for name, entry in lock.items():
        if not (isinstance(entry, dict) and SHA256.fullmatch(str(entry.get("sha256")))):
            raise InputError(
                f'{lock_file}: the entry {name!r} has no "sha256" of 64 hex digits; fix it, take the file '
                f"back from git, or remove the entry to record the next download's"
            )
    return lock


def record_sha256(lock_file: Path, name: str, url: str, archive: Path, sha256: str) -> None:
    """`name`'s entry in the lock file, written whole or not at all: through a temporary file of its own
    beside it (two runs never share one), renamed over it."""
    lock = read_lock(lock_file)
    lock[name] = {
        "url": url,
        "file": archive.name,
        "bytes": archive.stat().st_size,
        "sha256": sha256,
        "recorded": dt.date.today().isoformat(),
    }
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=lock_file.parent, prefix=f".{lock_file.name}.", suffix=".tmp", delete=False
    ) as written:
        try:
            os.fchmod(written.fileno(), file_mode())  # its 0600 would outlive the rename
            written.write(json.dumps(lock, indent=2, sort_keys=True) + "\n")
            written.close()  # whole on disk before it takes the lock file's name
            os.replace(written.name, lock_file)
        finally:  # gone after the rename; left only by a failed write
            Path(written.name).unlink(missing_ok=True)
