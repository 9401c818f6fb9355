"""A folder of files, as a root plus sorted relative paths."""

from __future__ import annotations

import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Folders that NAS boxes, operating systems and zip tools put beside photos. Synology's @eaDir holds a small
# JPEG of every photo: scanned, each photo would be ingested twice, and a test photo's copy trained on.
SYSTEM_FOLDERS = frozenset(
    {
        "@eaDir",
        "@Recycle",
        "@Recently-Snapshot",
        "#recycle",
        "#snapshot",
        "$RECYCLE.BIN",
        "System Volume Information",
        "__MACOSX",
    }
)
_SYSTEM_CASEFOLDED = frozenset(name.casefold() for name in SYSTEM_FOLDERS)  # Windows writes $Recycle.Bin


def composed(name: str) -> str:
    """A file's name with its letters in one Unicode form (NFC), as names are compared across folders and
    tables: a folder copied from a Mac spells `ü` as `u` and a combining mark, a spreadsheet or another
    file system as one letter, and the two did not match."""
    return unicodedata.normalize("NFC", name)


@dataclass(frozen=True)
class Folder:
    root: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted
    # Files whose names are not valid UTF-8 (an old camera's or a zip's Latin-1), shown with \x escapes:
    # no table, gallery or log can carry them as they are, so they are reported, not read.
    unreadable_names: tuple[str, ...] = ()
    # Folders and files not scanned, each "relative path (why)": hidden and system ones, second ways into a
    # folder, folders that cannot be read.
    passed_over: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        """The folder as messages and records name it, its `..` steps taken (`without_dots`): its root is
        the path as given, which a survey begun named `..` goes by."""
        return without_dots(self.root)

    @property
    def name(self) -> str:
        """The folder's name, its `..` steps taken (`<project>/..`: the project's parent's)."""
        return Path(self.shown).name

    @classmethod
    def scan(cls, root: str | Path) -> Folder:
        """Every regular file below `root`, recursively, through linked folders too, and links that lead
        nowhere (read, they are reported unreadable). Passed over, with one warning: hidden files, hidden
        and system folders (`SYSTEM_FOLDERS`), a second way into a folder (a link into the tree, a link
        loop), a link to a folder holding `root`, and folders that cannot be read. A clear error when
        `root` is missing or holds no file."""
        root = Path(root)
        # Named as the user finds it: a catalog path from --params (`../photos`) reaches here as
        # `<project>/../photos`, which the settings' own messages already name without its `..`.
        shown = without_dots(root)
        if not root.exists():
            raise FileNotFoundError(f"image folder {shown!r} does not exist")
        if not root.is_dir():
            raise NotADirectoryError(f"{shown!r} is a file, not a folder of images")
        found, folders, hidden = _walk(root)
        passed_over = sorted(folders + [f"{name} (a hidden file: metadata, a cache)" for name in hidden])
        # Folders first: a NAS can hold a hidden ._ file for every photo, thousands of lines saying one thing.
        listed = "; ".join(
            f"{len(entries):,} {kind}{'s' if len(entries) > 1 else ''}: "
            + ", ".join(entries[:5])
            + (" ..." if len(entries) > 5 else "")
            for kind, entries in (("folder", folders), ("hidden file", hidden))
            if entries
        )
        if passed_over:
            logger.warning("%s: passed over %s", shown, listed)
        if not found:
            raise FileNotFoundError(
                f"image folder {shown!r} holds no files" + (f" (passed over {listed})" if passed_over else "")
            )
        files, unreadable = [], []
        for name in found:
            shown = _shown(name)
            (files if shown == name else unreadable).append(shown)
        return cls(
            root=root, files=tuple(files), unreadable_names=tuple(unreadable), passed_over=tuple(passed_over)
        )

    def path_of(self, relative: str) -> Path:
        return self.root / relative


def listed_names(root: Path) -> set[str]:
    """The names `Folder.scan(root)` would list (its files and unreadable names), without its warnings: a
    listing only, no file read. `FileNotFoundError` where `root` is no folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {without_dots(root)!r} does not exist")
    return {_shown(name) for name in _walk(root)[0]}


@dataclass(frozen=True)
class ImageRef:
    """One image to look at: its name in outputs (a path relative to its folder), where it is, its label,
    and its width x height where a scan read them."""

    name: str
    file: Path
    label: str | None = None
    pixels: int | None = None


def _walk(root: Path) -> tuple[list[str], list[str], list[str]]:
    """The files below `root` (relative), the folders passed over and the hidden files passed over (see
    `Folder.scan`), each sorted."""
    found: list[str] = []
    passed_over: list[str] = []
    hidden: list[str] = []

    def unreadable(error: OSError) -> None:
        where = _shown(Path(error.filename).relative_to(root).as_posix()) if error.filename else str(root)
        passed_over.append(f"{where} (cannot be read: {error.strerror or error})")

    # A real folder of the tree is scanned under its own name, never through a link; and a folder outside
    # it that a link of the tree leads to is scanned through that link, never through another link to a
    # folder inside it: the tree's links first (not followed).
    linked = set()
    for here, folders, _ in os.walk(root):
        folders[:] = [name for name in folders if not _is_system(name)]
        linked.update((Path(here) / name).resolve() for name in folders if (Path(here) / name).is_symlink())
    top = root.resolve()
    outside = {real for real in linked if not real.is_relative_to(top) and not top.is_relative_to(real)}
    walked = set()
    for here, folders, names in os.walk(root, followlinks=True, onerror=unreadable):
        here = Path(here)
        kept = []
        for name in sorted(folders):
            path = here / name
            relative = _shown(path.relative_to(root).as_posix())
            real = path.resolve()
            link = path.is_symlink()
            if _is_system(name) or _in_system_folder(real, top):
                passed_over.append(f"{relative} (hidden or system: thumbnails, metadata, a recycle bin)")
            elif real in walked or (
                link
                and (
                    real.is_relative_to(top)  # not in a system folder: passed over above
                    or _scanned_in_tree(_first_hop(path), top)
                    or any(real != other and real.is_relative_to(other) for other in outside)
                )
            ):
                passed_over.append(f"{relative} (a second way into {real}, scanned once)")
            elif top.is_relative_to(real):
                passed_over.append(f"{relative} (a link to {real}, which holds the folder itself)")
            else:
                walked.add(real)
                kept.append(name)
        folders[:] = kept
        for name in names:
            if not _is_file_or_dangling(here / name):
                continue
            relative = (here / name).relative_to(root).as_posix()
            # macOS writes a ._<name> beside every photo copied to a NAS or a USB disk.
            if name.startswith("."):
                hidden.append(_shown(relative))
            else:
                found.append(relative)
    return sorted(found), sorted(passed_over), sorted(hidden)


def _first_hop(link: Path) -> Path:
    """Where `link` leads in one step (a link to a link stops at the second), its folders resolved."""
    hop = Path(os.path.realpath(link.parent)) / os.readlink(link)
    return hop.resolve() if hop.name in ("", ".", "..") else hop.parent.resolve() / hop.name


def _in_system_folder(real: Path, top: Path) -> bool:
    return real.is_relative_to(top) and any(map(_is_system, real.relative_to(top).parts))


def _scanned_in_tree(path: Path, top: Path) -> bool:
    """Whether the scan reaches `path` by its own name: inside `top`, through no hidden or system folder."""
    return path.is_relative_to(top) and not _in_system_folder(path, top)


def _is_file_or_dangling(path: Path) -> bool:
    """A regular file, or a link to nothing; also one that cannot even be looked at (reading it, the scan
    reports why)."""
    try:
        return path.is_file() or (path.is_symlink() and not path.exists())
    except OSError:
        return True


def _is_system(name: str) -> bool:
    return name.startswith(".") or name.casefold() in _SYSTEM_CASEFOLDED


def _shown(name: str) -> str:
    """`name` as text any file accepts: bytes that are not UTF-8 (kept by Python as surrogates) as \\x
    escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def without_dots(path: str | Path) -> str:
    """`path` as a user finds it: `<project>/../photos` as `/work/photos` (every message naming it showed the
    `..`), where that is the same place; a `..` after a linked folder leads out of the link's target, so
    such a path stays as it is."""
    tidy = os.path.normpath(path)
    return tidy if os.path.realpath(tidy) == os.path.realpath(path) else str(path)
