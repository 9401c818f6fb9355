"""New files and folders with the mode every output has: what the process's umask gives (mkstemp and
NamedTemporaryFile make files 0600, mkdtemp folders 0700, and a rename keeps the mode)."""

from __future__ import annotations

import os


def file_creation_mask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a file made with open() gets under the umask."""
    return 0o666 & ~file_creation_mask()
