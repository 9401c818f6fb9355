"""File names for outputs made from image names, which cannot leave their folder or confuse a browser."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

STEM_CHARACTERS, STEM_BYTES = 60, 120  # a stem's most, so that a name with its suffixes stays under 255 bytes


def safe_stem(relative: str) -> str:
    """A file's stem as a name for outputs that cannot leave its folder or confuse a browser: its letters and
    digits of any script (`Brücke_Süd`, composed: one form whatever form the file system gave) with their
    marks (`हिन्दी`, not `ह_न_द`: a vowel sign is no letter), `.`, `_` and `-`, each run of anything else
    one `_`; at most STEM_CHARACTERS and STEM_BYTES in UTF-8."""
    composed = unicodedata.normalize("NFC", PurePosixPath(relative).stem)
    # "/", which no stem holds, for each character left out; each run of them one "_".
    stem = re.sub("/+", "_", "".join(character if _kept(character) else "/" for character in composed))
    stem = stem[:STEM_CHARACTERS]
    while len(stem.encode()) > STEM_BYTES:
        stem = stem[:-1]
    return stem.strip("._") or "image"


def _kept(character: str) -> bool:
    """A letter or digit of any script, a mark on one (Unicode's categories M: Devanagari's and Arabic's
    vowel signs), `.`, `_` or `-`."""
    return character.isalnum() or character in "._-" or unicodedata.category(character).startswith("M")


def safe_name(index: int, relative: str) -> str:
    """`safe_stem`, unique by index."""
    return f"{index:05d}_{safe_stem(relative)}"
