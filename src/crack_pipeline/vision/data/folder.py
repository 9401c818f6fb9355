"""A folder of files, as a root plus sorted relative paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Folder:
    root: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted
    # Files whose names are not valid UTF-8 (an old camera's or a zip's Latin-1), shown with \x escapes:
    # no table, gallery or log can carry them as they are, so they are reported, not read.
    unreadable_names: tuple[str, ...] = ()

    @classmethod
    def scan(cls, root: str | Path) -> Folder:
        """Every regular file below `root`, recursively; a clear error when `root` is missing or empty."""
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
        if not root.is_dir():
            raise NotADirectoryError(f"{str(root)!r} is a file, not a folder of images")
        found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        if not found:
            raise FileNotFoundError(f"image folder {str(root)!r} holds no files")
        files, unreadable = [], []
        for name in found:
            shown = _shown(name)
            (files if shown == name else unreadable).append(shown)
        return cls(root=root, files=tuple(files), unreadable_names=tuple(unreadable))

    def path_of(self, relative: str) -> Path:
        return self.root / relative


@dataclass(frozen=True)
class ImageRef:
    """One image to look at: its name in outputs (a path relative to its folder), where it is, its label."""

    name: str
    file: Path
    label: str | None = None


def _shown(name: str) -> str:
    """`name` as text any file accepts: bytes that are not UTF-8 (kept by Python as surrogates) as \\x
    escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
