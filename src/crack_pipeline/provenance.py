"""Where a model came from: data fingerprints and the code's git commit."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pandas as pd


def data_fingerprint(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted (path, content hash, label) of every image: same files, same fingerprint."""
    rows = manifest.sort_values("path")[["path", "sha256", "label"]].itertuples(index=False)
    return hashlib.sha256("\n".join("\t".join(map(str, row)) for row in rows).encode()).hexdigest()


def split_fingerprint(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted (path, content hash, label, split): identifies the split version by content."""
    rows = manifest.sort_values("path")[["path", "sha256", "label", "split"]].itertuples(index=False)
    return hashlib.sha256("\n".join("\t".join(map(str, row)) for row in rows).encode()).hexdigest()


def git_commit(path: Path | None = None) -> str:
    """The checked-out commit, with "+dirty" when tracked files changed; "unknown" outside git."""
    cwd = path or Path(__file__).parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if status.stdout.strip() else "")
