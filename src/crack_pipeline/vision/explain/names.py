"""File names for outputs made from image names, which cannot leave their folder or confuse a browser."""

from __future__ import annotations

import re
from pathlib import PurePosixPath


def safe_stem(relative: str) -> str:
    """A file's stem as a name for outputs that cannot leave its folder or confuse a browser."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", PurePosixPath(relative).stem)[:60].strip("._") or "image"


def safe_name(index: int, relative: str) -> str:
    """`safe_stem`, unique by index."""
    return f"{index:05d}_{safe_stem(relative)}"
