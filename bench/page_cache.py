"""Files read once before a benchmark times two sides on them, so that neither reads them from disk."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def read_once(paths: Iterable[Path]) -> int:
    """Read every file in `paths` (into the page cache); the number read. Timed one after the other, the
    first side read the files from disk and the second found them in memory."""
    count = 0
    for path in paths:
        path.read_bytes()
        count += 1
    return count
