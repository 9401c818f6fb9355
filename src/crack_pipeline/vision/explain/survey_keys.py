"""How a survey names each photo's files and record: a readable stem and a hash of the photo's name and
content, by which hash alone a photo is known done."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import PurePosixPath

from crack_pipeline.vision.explain.names import safe_stem

RECORDS = "records/"


def name_digest(name: str) -> int:
    """64 bits of the SHA-256 of `name`: a photo's shard, and with its content its record's key."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def photo_key(name: str, content: str = "") -> str:
    """A photo's file-name stem in the survey: readable, safe in any file system, unique by its
    `photo_digest`."""
    return f"{safe_stem(name)}_{photo_digest(name, content)}"


def photo_digest(name: str, content: str = "") -> str:
    """A hash of a photo's name and `content` (its SHA-256 or `survey_contents.UNREAD`; "" in the keys of
    surveys begun before contents were recorded, which went by name alone), which tells its record."""
    identity = f"{name}\n{content}" if content else name
    return f"{name_digest(identity):016x}"


def record_name(name: str, content: str = "") -> str:
    return f"{RECORDS}{photo_key(name, content)}.json"


def recorded_digests(files: Iterable[str]) -> set[str]:
    """The `photo_digest` of each record among a survey's `files`: by those, not the whole names, a photo
    is done, as its readable stem changes with `safe_stem` (letters beyond A-Z kept since 2026-12-07: a
    survey begun before named `Brücke.jpg`'s record `Br_cke_...`)."""
    return {PurePosixPath(name).stem.rpartition("_")[2] for name in files if name.startswith(RECORDS)}
