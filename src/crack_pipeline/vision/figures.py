"""Pictures shared by every room: a titled sheet of captioned pictures, drawn with Pillow (`sheet`; laid out
for strip photos too, `photo_sheet`), the same sheet as a matplotlib Figure for the catalog's figure datasets
(`grid`), and a heatmap in jet colours with its scale (`with_colour_bar`).

Sheets are composed in pixels, not laid out by matplotlib: a 16-picture grid or a strip of heatmaps through
training takes milliseconds, not a quarter of a second (explaining one photo wrote 12 of them). Figures are
built with the object-oriented API (`Figure`), never pyplot, so no backend is ever selected."""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from crack_pipeline.vision.fonts import drawable

CELL = 256  # a picture's longer side on a sheet, in pixels
PICTURE_SIDE = 2 * CELL  # a picture's longer side at most as kept for a sheet (`sheet_picture`)
GAP = 8  # pixels between cells and around the sheet
CAPTION_SIZE, TITLE_SIZE = 11, 14  # font sizes in pixels
# The dpi the catalog's figure datasets save at (conf/base/catalog.yml, `_figure`): a sheet wrapped in a
# figure comes out pixel for pixel.
DPI = 110
BAR_HEIGHT = 10  # a colour bar's thickness in pixels (`with_colour_bar`)
# A picture this many times longer than it is wide is a strip (`sheet_layout`).
STRIP_ASPECT = 3

# Matplotlib's jet as a 256-colour Pillow palette: colouring a 12-MP map is one palette conversion.
_JET_PALETTE = (colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8).tobytes()


def _levels(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) as uint8 levels 0..255, in place on one float32 copy."""
    levels = np.clip(values, 0, 1, dtype=np.float32)
    levels *= 255
    np.rint(levels, out=levels)
    return levels.astype(np.uint8)


def jet(heatmap: np.ndarray) -> np.ndarray:
    """An H x W map in [0, 1] (clipped) as H x W x 3 uint8 jet colours (read-only: copy to draw on it)."""
    # Through a Pillow palette: a 12-MP map in 0.06 s (np.take: 0.09 s, float colours: 0.3 s).
    levels = _levels(heatmap)
    indexed = Image.fromarray(levels if levels.ndim == 2 else levels.reshape(1, -1))
    indexed.putpalette(_JET_PALETTE)  # the grey levels become palette indices
    return np.asarray(indexed.convert("RGB")).reshape(*levels.shape, 3)


def _rgb(picture: np.ndarray) -> Image.Image:
    """A picture as an RGB image: a 2-D map in [0, 1] in jet colours, a float RGB in [0, 1], or uint8 RGB
    (an alpha channel is dropped)."""
    if picture.ndim == 2:
        return Image.fromarray(jet(picture))
    if picture.dtype != np.uint8:
        picture = _levels(picture)
    return Image.fromarray(np.ascontiguousarray(picture[..., :3]))


def _fitted(picture: Image.Image, box: tuple[int, int]) -> Image.Image:
    """A picture scaled to fill the `box` (width, height) on one side, at its own aspect."""
    scale = min(box[0] / picture.width, box[1] / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def sheet_picture(image: Image.Image) -> np.ndarray:
    """A picture for a sheet, at its own aspect and at most PICTURE_SIDE on its longer side: made as soon as
    its image is decoded (one photo of 48 MP in memory at a time, not all of a sheet's; decoded `within`
    PICTURE_SIDE, image_io.decode_image, a JPEG is decoded at a fraction of its size)."""
    image.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return np.asarray(image)


def _wrapped(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text`'s lines, each wrapped to whole words, as many as fit `width` pixels a line; a word wider than
    that is cut where it reaches the edge (a letter a line at least)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        start = len(lines)
        for word in paragraph.split():
            if len(lines) > start and font.getlength(f"{lines[-1]} {word}") <= width:
                lines[-1] = f"{lines[-1]} {word}"
                continue
            while len(word) > 1 and font.getlength(word) > width:
                # The longest start that fits, by halving (a file name is a long word: 45 ms a caption
                # trying every length).
                ends = range(1, len(word))
                fits = max(1, bisect.bisect_right(ends, width, key=lambda end: font.getlength(word[:end])))
                lines.append(word[:fits])
                word = word[fits:]
            lines.append(word)
        if len(lines) == start:
            lines.append("")
    return lines


def sheet(
    pictures: Sequence[np.ndarray],
    captions: Sequence[str],
    title: str,
    columns: int | None = None,
    cell: int | tuple[int, int] = CELL,
) -> np.ndarray:
    """Pictures in rows, each under its caption, below a title, as H x W x 3 uint8 pixels. Each picture is
    scaled into its cell, `cell` pixels square or (width, height), at its own aspect; a 2-D picture is a map
    in [0, 1], drawn in jet."""
    cell_size = _cell_size(cell)
    columns = _columns(columns, len(pictures))
    return _flowed_sheet(
        pictures, captions, title, [cell_size] * len(pictures), GAP + columns * (cell_size[0] + GAP)
    )


def _cell_size(cell: int | tuple[int, int]) -> tuple[int, int]:
    """A cell as (width, height): an int is a square's side."""
    return (cell, cell) if isinstance(cell, int) else cell


def _columns(columns: int | None, count: int) -> int:
    """`columns`, or by default as many as make `count` pictures a square."""
    return columns or max(1, math.ceil(math.sqrt(count)))


def _rows(cells: Sequence[tuple[int, int]], width: int) -> list[list[int]]:
    """The indices of `cells` (width, height) laid left to right in order, in rows of at most `width` pixels
    (with the gaps); a cell wider than that has a row of its own."""
    rows: list[list[int]] = []
    used = width
    for index, (cell_width, _) in enumerate(cells):
        if used + cell_width + GAP > width:
            rows.append([])
            used = GAP
        rows[-1].append(index)
        used += cell_width + GAP
    return rows


def _flowed_sheet(
    pictures: Sequence[np.ndarray],
    captions: Sequence[str],
    title: str,
    cells: Sequence[tuple[int, int]],
    width: int,
) -> np.ndarray:
    """`sheet`'s pixels with each picture in its own cell (width, height), the cells laid in rows of the
    sheet's `width` (`_rows`), each row as high as its highest cell."""
    width = max([width, *(GAP + cell_width + GAP for cell_width, _ in cells)])
    title, title_font = drawable(title, TITLE_SIZE)
    title_lines = _wrapped(title, title_font, width - 2 * GAP)
    caption_fonts = [drawable(caption, CAPTION_SIZE) for caption in captions]
    caption_lines = [
        _wrapped(caption, font, w) for (caption, font), (w, _) in zip(caption_fonts, cells, strict=False)
    ]
    caption_height = (CAPTION_SIZE + 3) * max((len(lines) for lines in caption_lines), default=0)
    top = GAP + (TITLE_SIZE + 4) * len(title_lines)
    rows = _rows(cells[: len(caption_lines)], width) or [[]]
    row_heights = [caption_height + max((cells[i][1] for i in row), default=CELL) + GAP for row in rows]
    canvas = Image.new("RGB", (width, top + GAP + sum(row_heights)), "white")
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(title_lines):
        draw.text(
            (width / 2, GAP + (TITLE_SIZE + 4) * number), line, fill="black", font=title_font, anchor="ma"
        )
    y = top + GAP
    for row, row_height in zip(rows, row_heights, strict=True):
        x = GAP
        for index in row:
            cell_width, cell_height = cells[index]
            for number, line in enumerate(caption_lines[index]):
                draw.text(
                    (x + cell_width / 2, y + (CAPTION_SIZE + 3) * number),
                    line,
                    fill="black",
                    font=caption_fonts[index][1],
                    anchor="ma",
                )
            fitted = _fitted(_rgb(pictures[index]), (cell_width, cell_height))
            canvas.paste(fitted, (x + (cell_width - fitted.width) // 2, y + caption_height))
            x += cell_width + GAP
        y += row_height
    return np.asarray(canvas)


def sheet_layout(
    aspect: float, columns: int | None, fitted: bool = False
) -> tuple[int | None, int | tuple[int, int]]:
    """The columns and cell of a sheet of pictures of `aspect` (width / height): for a strip (a line-scan
    camera's, a stitched panorama), cells as long as three side by side, in one column when it lies, three
    cells high when it stands (in square cells a 6000 x 400 strip was a 256 x 17 sliver); else `columns` of
    square cells, or, `fitted` (every picture of that aspect: a panel's), cells of that aspect, CELL on their
    longer side (a 3:2 photo left 85 px of white in each square cell)."""
    long_side = 3 * CELL + 2 * GAP
    if aspect >= STRIP_ASPECT:
        return 1, (long_side, math.ceil(long_side / aspect))
    if aspect <= 1 / STRIP_ASPECT:
        return columns, (CELL, long_side)
    if fitted:
        return columns, (CELL, round(CELL / aspect)) if aspect >= 1 else (round(CELL * aspect), CELL)
    return columns, CELL


def photo_sheet(
    pictures: Sequence[np.ndarray], captions: Sequence[str], title: str, columns: int | None = None
) -> np.ndarray:
    """The `sheet` of `pictures`, each in the cell its own layout gives it (`sheet_layout`), laid in rows
    `columns` square cells wide: a line-scan camera's strips one above the other, a strip among photos as
    long as three of them. Laid out for one picture's aspect, a sheet of strips lying and standing drew the
    others 4 x 53 px, and a strip among photos a sliver; in cells as large as the largest, 47 photos beside
    one lying strip made a 5552 x 1980 sheet, with a standing one too 5552 x 5676. A lying photo's cell is
    as high as the photo (a row of 3:2 photos left 85 px of white under each); a standing one's stays square,
    so that columns line up."""
    cells = [_photo_cell(picture.shape[1] / picture.shape[0]) for picture in pictures]
    columns = _columns(columns, len(pictures))
    return _flowed_sheet(pictures, captions, title, cells, GAP + columns * (CELL + GAP))


def _photo_cell(aspect: float) -> tuple[int, int]:
    """The cell (width, height) of a picture of `aspect` on a `photo_sheet`."""
    return _cell_size(sheet_layout(aspect, None, fitted=aspect >= 1)[1])


def with_colour_bar(pixels: np.ndarray, caption: str) -> np.ndarray:
    """A sheet (H x W x 3 uint8) with the jet scale its maps are drawn in below it: a bar from 0 (low) to 1
    (high), `caption` saying what the colours measure over it (a heatmap alone does not say what red is). A
    picture narrower than the legend's longest word (`_legend_width`: a training sample of 16 to ~70 px) is
    centred on white that wide: its words were cut ("heatma p") and its "0 low" ran into "high 1"."""
    least = _legend_width(caption)
    if (short := least - pixels.shape[1]) > 0:
        widened = np.full((pixels.shape[0], least, 3), 255, np.uint8)
        widened[:, short // 2 : short // 2 + pixels.shape[1]] = pixels
        pixels = widened
    return np.concatenate([pixels, _colour_bar(pixels.shape[1], caption)])


_ENDS, _ENDS_NAMED = ("0", "1"), ("0 low", "high 1")


def _legend_width(caption: str) -> int:
    """The narrowest legend that writes `caption` without cutting a word, and 0 and 1 apart under the bar."""
    caption, font = drawable(caption, CAPTION_SIZE)
    longest = max(
        [font.getlength(word) for word in caption.split()] + [sum(map(font.getlength, _ENDS)) + GAP]
    )
    return math.ceil(longest) + 2 * GAP


@functools.lru_cache(maxsize=16)
def _colour_bar(width: int, caption: str) -> np.ndarray:
    """`with_colour_bar`'s legend, `width` pixels wide: drawn once per width and caption (4 ms a panel). Its
    ends say "0 low" and "high 1" where both fit beside each other, else "0" and "1"."""
    caption, font = drawable(caption, CAPTION_SIZE)
    lines = _wrapped(caption, font, width - 2 * GAP)
    line_height = CAPTION_SIZE + 3
    bar_width = max(1, min(width - 2 * GAP, 3 * CELL))
    legend = Image.new("RGB", (width, len(lines) * line_height + BAR_HEIGHT + line_height + GAP), "white")
    draw = ImageDraw.Draw(legend)
    for number, line in enumerate(lines):
        draw.text((width / 2, number * line_height), line, fill="black", font=font, anchor="ma")
    left, top = (width - bar_width) // 2, len(lines) * line_height
    gradient = np.broadcast_to(np.linspace(0, 1, bar_width, dtype=np.float32), (BAR_HEIGHT, bar_width))
    legend.paste(Image.fromarray(jet(gradient)), (left, top))
    below = top + BAR_HEIGHT + 2
    named = sum(map(font.getlength, _ENDS_NAMED)) + GAP <= bar_width
    low, high = _ENDS_NAMED if named else _ENDS
    draw.text((left, below), low, fill="black", font=font, anchor="la")
    draw.text((left + bar_width, below), high, fill="black", font=font, anchor="ra")
    return np.asarray(legend)


def figure_of(pixels: np.ndarray) -> Figure:
    """A Figure showing `pixels` edge to edge, one saved pixel per pixel when saved at DPI."""
    height, width = pixels.shape[:2]
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axis = figure.add_axes((0, 0, 1, 1))
    axis.imshow(pixels, interpolation="antialiased")
    axis.axis("off")
    return figure


def grid(
    pictures: Sequence[np.ndarray], captions: Sequence[str], title: str, columns: int | None = None
) -> Figure:
    """The `photo_sheet` of `pictures` as a Figure, for datasets and MLflow calls that take figures."""
    return figure_of(photo_sheet(pictures, captions, title, columns))
