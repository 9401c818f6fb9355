"""A folder of files, as a root plus sorted relative paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Folder:
    root: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted

    @classmethod
    def scan(cls, root: str | Path) -> Folder:
        """Every regular file below `root`, recursively; a clear error when `root` is missing or empty."""
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
        if not root.is_dir():
            raise NotADirectoryError(f"{str(root)!r} is a file, not a folder of images")
        files = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))
        if not files:
            raise FileNotFoundError(f"image folder {str(root)!r} holds no files")
        return cls(root=root, files=files)

    def path_of(self, relative: str) -> Path:
        return self.root / relative


@dataclass(frozen=True)
class ImageRef:
    """One image to look at: its name in outputs (a path relative to its folder), where it is, its label."""

    name: str
    file: Path
    label: str | None = None
