"""File names for outputs made from image names, which cannot leave their folder or confuse a browser."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from crack_pipeline.vision.data.folder import composed

STEM_CHARACTERS, STEM_BYTES = 60, 120  # a stem's most, so that a name with its suffixes stays under 255 bytes


def safe_stem(relative: str) -> str:
    """A file's stem as a name for outputs that cannot leave its folder or confuse a browser: its letters and
    digits of any script (`Brücke_Süd`, composed: one form whatever form the file system gave) with their
    marks (`हिन्दी`, not `ह_न_द`: a vowel sign is no letter), `.`, `_` and `-`, each run of anything else
    one `_`; at most STEM_CHARACTERS and STEM_BYTES in UTF-8. A mark goes with the character it sits on:
    an emoji's invisible variation selector stayed behind it (`Brücke 🏗️.jpg` gave `Brücke_` and U+FE0F)."""
    # "/", which no stem holds, for each character left out; each run of them one "_".
    kept: list[str] = []
    for character in composed(PurePosixPath(relative).stem):
        on_letter = bool(kept) and (kept[-1].isalnum() or _is_mark(kept[-1]))
        letter = character.isalnum() or character in "._-" or (_is_mark(character) and on_letter)
        kept.append(character if letter else "/")
    stem = re.sub("/+", "_", "".join(kept))
    stem = stem[:STEM_CHARACTERS]
    while len(stem.encode()) > STEM_BYTES:
        stem = stem[:-1]
    return stem.strip("._") or "image"


def _is_mark(character: str) -> bool:
    """A mark on a letter (Unicode's categories M: Devanagari's and Arabic's vowel signs, a combining
    accent)."""
    return unicodedata.category(character).startswith("M")


def safe_name(index: int, relative: str) -> str:
    """`safe_stem`, unique by index."""
    return f"{index:05d}_{safe_stem(relative)}"
