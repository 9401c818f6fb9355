"""What a survey knows of each photo's content: its SHA-256, read once, and the file's size, times and
inode then, so that a later run takes an unchanged file as it was without reading it again (a restart over
40,000 photos on a NAS would otherwise read them all). Records note them for the photos they explain;
`contents/<run>.json` for done photos read again after their times changed (touched, copied elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crack_pipeline.vision.data.checksums import sha256_of
from crack_pipeline.vision.data.folder import ImageRef

NOTES = "contents/"  # [name, stat, sha256] of done photos read again since their record (touched, copied)
# The content of a photo that could not be read: not "" (a name-only key, as surveys begun before contents
# were recorded have), so that once the photo can be read, its content is new and it is explained.
UNREAD = "unread"


@dataclass(frozen=True)
class Content:
    """A photo's content as a run found it: its SHA-256 (or `UNREAD`) and the file's size and times then
    (`stat`), by which a later run knows the file unchanged without reading it again."""

    sha256: str
    stat: tuple[int, ...] = ()


def noted_contents(
    records: Iterable[Mapping[str, Any]], notes: Iterable[Iterable[list]] = ()
) -> dict[tuple[str, tuple[int, ...]], str]:
    """(name, stat) -> SHA-256, as the survey's records and notes (`NOTES`) saw its files."""
    noted = {
        (record["file"], tuple(record["stat"])): record["sha256"]
        for record in records
        if record.get("stat") and record.get("sha256") not in (None, UNREAD)
    }
    noted.update(((name, tuple(stat)), sha) for note in notes for name, stat, sha in note)
    return noted


def contents_of(
    photos: Iterable[ImageRef], noted: Mapping[tuple[str, tuple[int, ...]], str] | None = None
) -> dict[str, Content]:
    """Each photo's content. A file with the name, size and times `noted` (`noted_contents`) is taken to
    hold what was noted, unread: a restart over 40,000 photos on a NAS would otherwise read them all again."""
    noted = noted or {}
    contents = {}
    for ref in photos:
        try:
            stat = _stat_of(ref.file)  # before reading: a file changed meanwhile is read again next time
            contents[ref.name] = Content(noted.get((ref.name, stat)) or sha256_of(ref.file), stat)
        except OSError:
            contents[ref.name] = Content(UNREAD)
    return contents


def content_note(
    contents: Mapping[str, Content],
    noted: Mapping[tuple[str, tuple[int, ...]], str],
    records: Iterable[Mapping[str, Any]],
    run: str,
) -> dict[str, bytes]:
    """The save of a note (`NOTES`<run>.json) of the photos read again though a record holds their
    content (their times changed, not their bytes), so that the next run does not read them again; {}
    when there are none. Photos with new content need none: their records will note them."""
    recorded = {(record["file"], record.get("sha256")) for record in records}
    again = [
        [name, list(content.stat), content.sha256]
        for name, content in sorted(contents.items())
        if content.stat and (name, content.stat) not in noted and (name, content.sha256) in recorded
    ]
    return {f"{NOTES}{run}.json": json.dumps(again, indent=1).encode()} if again else {}


def _stat_of(path: Path) -> tuple[int, int, int, int]:
    """Size, modification and change time (ns) and inode: a file rewritten, replaced (even by one of the
    same size and time) or touched changes one."""
    found = path.stat()
    return found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino


def current_records(
    records: Iterable[Mapping[str, Any]], contents: Mapping[str, Content]
) -> list[Mapping[str, Any]]:
    """One record per photo, at most: for a photo the folder holds (`contents`), the one of its content
    now (or one written before contents were recorded, which went by name), none while that content waits
    to be explained; for a photo no longer there, the latest explained."""
    by_file: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_file.setdefault(record["file"], []).append(record)
    current = []
    for name, found in by_file.items():
        if name in contents:
            now = contents[name].sha256
            found = [r for r in found if r.get("sha256", now) == now]
        if found:
            current.append(max(found, key=lambda r: r.get("explained_at", "")))
    return current
