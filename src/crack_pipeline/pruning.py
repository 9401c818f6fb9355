"""Old versions of versioned outputs, and their removal (`kedro prune`).

Kedro saves a versioned output as `<path>/<run timestamp>/<name>` and never removes one, so a nightly
retrain grows the disk without end. An output here is any folder whose subfolders are named as Kedro names
versions; a version is complete when it holds `<name>` (what Kedro loads: a save that failed left its
folder without it). Of each output, the newest `keep` complete versions stay, and so does every folder newer
than the oldest of them (a save at work, or one that failed since); the older folders go.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# kedro.io.core.VERSION_FORMAT ("%Y-%m-%dT%H.%M.%S.%fZ", cut to milliseconds): names that sort by time.
VERSION_NAME = re.compile(r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z")


@dataclass(frozen=True)
class OldVersions:
    """One output's versions: those kept and the folders of those to remove, with their size."""

    output: Path
    kept: tuple[str, ...]
    old: tuple[Path, ...]
    size: int  # bytes in `old`


def versioned_outputs(root: Path) -> Iterator[Path]:
    """Every folder under `root` with version folders in it, without looking inside versions (an
    explanation holds thousands of files) or hidden folders (a save's staging), or following links."""
    for folder, subfolders, _files in os.walk(root):
        if any(VERSION_NAME.fullmatch(name) for name in subfolders):
            yield Path(folder)
        subfolders[:] = [
            name for name in subfolders if not name.startswith(".") and not VERSION_NAME.fullmatch(name)
        ]


def old_versions(output: Path, keep: int) -> OldVersions:
    """What of `output` goes when its newest `keep` complete versions stay (`keep` ≥ 1: the latest always
    stays, as every run loads it)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the latest version is what runs load), not {keep}")
    versions = sorted(entry.name for entry in output.iterdir() if VERSION_NAME.fullmatch(entry.name))
    complete = [name for name in versions if (output / name / output.name).exists()]
    kept = complete[-keep:]
    oldest_kept = kept[0] if kept else None
    old = tuple(output / name for name in versions if oldest_kept is not None and name < oldest_kept)
    return OldVersions(output, tuple(kept), old, sum(folder_size(folder) for folder in old))


def remove(old: OldVersions) -> list[str]:
    """Removes `old`'s folders, oldest first; the problems met (a folder that could not be removed, named,
    with why), after trying every folder."""
    problems: list[str] = []
    for folder in old.old:
        try:
            shutil.rmtree(folder)
        except OSError as error:
            problems.append(f"{folder}: {error.strerror or error}")
    return problems


def folder_size(folder: Path) -> int:
    total = 0
    for parent, _subfolders, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:  # gone meanwhile
                continue
    return total
