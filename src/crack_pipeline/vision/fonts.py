"""The font a picture's text is drawn in: DejaVu Sans, which matplotlib ships, or, for text it has no glyphs
for (Chinese, Japanese, Korean photo names), a font installed on the machine that has them; a character no
font on the machine has is written as its code point, never drawn as a box."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from matplotlib import font_manager, get_data_path
from matplotlib.ft2font import FT2Font
from PIL import ImageFont

logger = logging.getLogger(__name__)

# Pillow's own default font draws only ASCII: a caption `Brücke_Süd.jpg` read `Br□cke_S□d.jpg`.
FONT_FILE = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
# Matplotlib's font of last resort claims every character and draws each as a box naming its script.
_BOXES = "Last Resort"
_warned: set[str] = set()  # characters no font draws, said once a process


def drawable(text: str, size: int) -> tuple[str, ImageFont.FreeTypeFont]:
    """`text` as it is drawn, and the font at `size` pixels to draw it in: the first of DejaVu Sans and the
    machine's other fonts (`fallback_fonts`) that has a glyph for each of its characters. Where none has,
    DejaVu Sans, each character it lacks written as its code point (`\\u6a4b`), with a warning that says which
    font to install: in DejaVu Sans alone, a Chinese or Japanese photo name drew as a row of boxes."""
    if text.isascii() or _draws(str(FONT_FILE), text):
        return text, _font(str(FONT_FILE), size)
    for path in fallback_fonts():
        if _draws(path, text):
            return text, _font(path, size)
    lacking = {c for c in text if not _draws(str(FONT_FILE), c)}
    if unsaid := "".join(sorted(lacking - _warned)):
        _warned.update(unsaid)
        logger.warning(
            "no font on this machine draws %s: pictures write each as its code point (%s); install one that "
            "has them, such as Noto Sans CJK (fonts-noto-cjk) for Chinese, Japanese and Korean",
            unsaid,
            ", ".join(_code_point(c) for c in unsaid),
        )
    return "".join(_code_point(c) if c in lacking else c for c in text), _font(str(FONT_FILE), size)


@functools.cache
def fallback_fonts() -> tuple[str, ...]:
    """The font files installed on the machine (none is ever downloaded), upright regular ones first, without
    DejaVu Sans and the font of last resort, whose glyphs are boxes: those matplotlib lists, and those
    installed since it listed them (it keeps its list in its cache folder, ~/.cache/matplotlib: a font
    installed as the warning says went unseen until that list was deleted)."""
    listed = font_manager.fontManager.ttflist
    known = {entry.fname for entry in listed}
    installed = sorted(set(font_manager.findSystemFonts()) - known)
    fonts = [
        entry
        for entry in [*listed, *filter(None, map(_entry, installed))]
        if entry.fname != str(FONT_FILE) and not entry.name.startswith(_BOXES)
    ]
    fonts.sort(key=lambda entry: (entry.style != "normal", entry.weight not in (400, "normal"), entry.fname))
    return tuple(dict.fromkeys(entry.fname for entry in fonts))


def _entry(path: str) -> font_manager.FontEntry | None:
    """The font file at `path` as matplotlib lists a font (name, style, weight); None where it cannot be read,
    which matplotlib leaves out of its list too."""
    try:
        return font_manager.ttfFontProperty(FT2Font(path))
    except (OSError, RuntimeError, ValueError, KeyError):
        return None


def _draws(path: str, text: str) -> bool:
    """Whether the font file at `path` has a glyph for each character of `text` (line breaks aside)."""
    return _characters(path).issuperset(map(ord, text.replace("\n", "")))


@functools.cache
def _characters(path: str) -> frozenset[int]:
    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError):  # a damaged font file draws nothing
        return frozenset()


@functools.cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _code_point(character: str) -> str:
    return ascii(character)[1:-1]  # \u6a4b, \U0001d400
