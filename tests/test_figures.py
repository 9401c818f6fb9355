"""Sheets of captioned pictures drawn in pixels, and the same sheet as a figure for the catalog."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib import get_data_path
from PIL import Image

from crack_pipeline.vision import fonts
from crack_pipeline.vision.figures import CELL, DPI, GAP, TITLE_SIZE, _wrapped, grid, jet, photo_sheet, sheet


def _solid(colour: tuple[int, int, int], height: int = 40, width: int = 40) -> np.ndarray:
    return np.tile(np.asarray(colour, dtype=np.uint8), (height, width, 1))


def test_each_picture_is_scaled_into_its_cell_in_row_major_order_and_maps_are_drawn_in_jet():
    pictures = [_solid((255, 0, 0)), _solid((0, 255, 0), 20, 40), np.ones((10, 10))]
    pixels = sheet(pictures, ["red", "green\nwide", "map"], "a title", columns=2, cell=64)
    assert pixels.dtype == np.uint8 and pixels.shape[1] == GAP + 2 * (64 + GAP)
    # Cells hold their picture's colour at their centres (the row below the captions).
    rows = [row for row in range(pixels.shape[0]) if tuple(pixels[row, GAP + 32]) == (255, 0, 0)]
    assert rows, "the red picture is on the sheet"
    red_middle = (rows[0] + rows[-1]) // 2
    assert rows[-1] - rows[0] + 1 == 64, "a 40-px picture scaled to the 64-px cell"
    green_column = 2 * GAP + 64 + 32
    assert tuple(pixels[red_middle, green_column]) == (0, 255, 0), (
        "the second picture to the right of the first"
    )
    green_rows = [row for row in range(pixels.shape[0]) if tuple(pixels[row, green_column]) == (0, 255, 0)]
    assert len(green_rows) == 32, "aspect kept: 20 x 40 becomes 32 x 64"
    map_rows = [
        row for row in range(pixels.shape[0]) if tuple(pixels[row, GAP + 32]) == tuple(jet(np.ones(1))[0])
    ]
    assert map_rows and map_rows[0] > rows[-1], "the map in jet colours, on the second row"
    # Title and captions are drawn: dark pixels above the first pictures.
    assert (pixels[: rows[0], :, 0] < 100).any()


def test_long_titles_wrap_to_the_sheets_width_instead_of_being_cut():
    short = sheet([_solid((0, 0, 255))], ["x"], "title")
    long = sheet([_solid((0, 0, 255))], ["x"], "a long title " * 20)
    assert long.shape[1] == short.shape[1] == GAP + CELL + GAP
    assert long.shape[0] > short.shape[0], "more title lines, a taller sheet"


def test_a_grid_figure_saved_at_the_catalogs_dpi_is_the_sheet_pixel_for_pixel():
    catalog = (Path(__file__).resolve().parents[1] / "conf/base/catalog.yml").read_text()
    assert f"dpi: {DPI}" in catalog, "figures are saved at the dpi the sheets are wrapped for"
    pictures = [_solid((255, 0, 0)), _solid((0, 0, 255))]
    pixels = sheet(pictures, ["a", "b"], "t")
    buffer = io.BytesIO()
    grid(pictures, ["a", "b"], "t").savefig(buffer, format="png", dpi=DPI)
    saved = np.asarray(Image.open(buffer).convert("RGB"))
    assert saved.shape == pixels.shape
    assert np.abs(saved.astype(int) - pixels).mean() < 2


def test_captions_wrap_within_their_cell_even_in_wide_letters():
    wide = sheet([_solid((0, 0, 255)), _solid((0, 0, 255))], ["W" * 45, "x"], "t", columns=2, cell=64)
    # The gap between the two cells stays white below the title: no caption ran into it.
    gap = wide[GAP + TITLE_SIZE + 4 :, GAP + 64 : GAP + 64 + GAP]
    assert (gap == 255).all()


def test_a_grid_of_strip_photos_gives_each_the_length_of_three_cells_lying_or_standing():
    """A contact sheet of a line-scan camera's photos (label these next, confident mistakes, the EDA sample
    grid): each 6000 x 400 strip, kept at its own aspect, was a 256 x 17 sliver in a square cell."""
    brown = (150, 90, 30)
    for height, width in ((34, 512), (512, 34)):
        pictures = [_solid(brown, height, width)] * 4
        buffer = io.BytesIO()
        grid(pictures, ["#1: line/0001.jpg"] * 4, "label these next").savefig(buffer, format="png", dpi=DPI)
        saved = np.asarray(Image.open(buffer).convert("RGB"))
        shown = (np.abs(saved.astype(int) - brown).max(axis=-1) < 3).sum()
        assert shown > 4 * 30_000, (height, width)  # 784 x 53 each (256 x 17 before)


def test_a_sheet_of_strips_lying_and_standing_and_photos_draws_each_at_its_own_layouts_size():
    """Laid out for its middle picture's aspect, a sheet of three lying and three standing strips drew the
    standing ones 4 x 53 px; a strip among photos was a 256 x 17 sliver."""
    brown, blue, green = (150, 90, 30), (20, 40, 200), (30, 160, 60)

    def shown(pixels: np.ndarray, colour: tuple[int, int, int]) -> int:
        return int((np.abs(pixels.astype(int) - colour).max(axis=-1) < 3).sum())

    strips = [_solid(brown, 34, 512)] * 3 + [_solid(blue, 512, 34)] * 3
    pixels = photo_sheet(strips, ["line/0001.jpg"] * 6, "label these next")
    assert shown(pixels, brown) > 3 * 30_000 and shown(pixels, blue) > 3 * 30_000  # 784 x 53 / 52 x 784 each
    pixels = photo_sheet([_solid(brown, 34, 512)] + [_solid(green, 300, 400)] * 3, ["x"] * 4, "t")
    assert shown(pixels, brown) > 30_000 and shown(pixels, green) >= 3 * 256 * 192, (
        "each at least at its own size"
    )


def test_a_strip_among_many_photos_keeps_the_sheet_about_the_size_of_the_photos_alone():
    """47 photos beside one lying strip (and one standing) were laid out in cells as large as the largest:
    5552 px wide and up to 5676 px high for pictures a 1856 x 1980 sheet holds; each keeps its size now."""
    brown, blue, green = (150, 90, 30), (20, 40, 200), (30, 160, 60)
    photos_alone = photo_sheet([_solid(green)] * 48, ["x"] * 48, "t")
    pictures = [_solid(green)] * 46 + [_solid(brown, 34, 512), _solid(blue, 512, 34)]
    pixels = photo_sheet(pictures, ["x"] * 48, "t")
    assert pixels.shape[1] == photos_alone.shape[1]
    assert pixels.shape[0] < 1.5 * photos_alone.shape[0]
    for colour, at_least in ((green, 46 * CELL * CELL), (brown, 30_000), (blue, 30_000)):
        assert (pixels == colour).all(axis=-1).sum() >= at_least, colour  # solid colours stay exact


def test_accented_letters_in_captions_and_titles_are_drawn_not_replaced_by_a_missing_glyph():
    # Pillow's default font drew only ASCII: `Brücke_Süd.jpg` read as `Br□cke_S□d.jpg` on grids and panels.
    missing = "\U0010fffd"  # a private-use code point: no font has a glyph for it
    for word in ("Brücke_Süd", "Straße Łódź", "Ωmega"):
        text, font = fonts.drawable(word, 11)
        assert text == word and font.path == str(fonts.FONT_FILE)
        for letter in set(word) - set("Bck_Sdtrae Lodzmg"):
            assert bytes(font.getmask(letter)) != bytes(font.getmask(missing)), f"{letter!r} drawn as a box"


def test_a_caption_no_font_of_the_machine_draws_is_written_in_code_points_never_as_boxes(monkeypatch, caplog):
    """DejaVu Sans has no Chinese or Japanese glyphs: `橋梁/IMG_0001.jpg` drew as `□□/IMG_0001.jpg`, silently
    (matplotlib's font of last resort claims them too, and draws each as a box)."""
    assert not [path for path in fonts.fallback_fonts() if "LastResort" in path]
    monkeypatch.setattr(fonts, "fallback_fonts", lambda: ())  # a machine with DejaVu Sans alone
    picture = [_solid((255, 0, 0))]
    drawn = sheet(picture, ["橋梁/IMG_0001.jpg"], "site 北側", cell=200)
    written = sheet(picture, ["\\u6a4b\\u6881/IMG_0001.jpg"], "site \\u5317\\u5074", cell=200)
    np.testing.assert_array_equal(drawn, written)
    assert "no font on this machine draws 側北: " in caplog.text and "draws 梁橋: " in caplog.text
    assert "(\\u6881, \\u6a4b); install one that has them, such as Noto Sans CJK" in caplog.text


def test_a_caption_dejavu_sans_cannot_draw_is_drawn_in_a_font_of_the_machine_that_can(monkeypatch):
    installed = str(Path(get_data_path()) / "fonts" / "ttf" / "STIXGeneral.ttf")  # has 𝐀, U+1D400
    monkeypatch.setattr(fonts, "fallback_fonts", lambda: (installed,))
    text, font = fonts.drawable("𝐀 crack", 11)
    assert text == "𝐀 crack" and font.path == installed
    assert fonts.drawable("Brücke", 11)[1].path == str(fonts.FONT_FILE), "DejaVu Sans where it draws"


def test_a_sheet_of_lying_photos_leaves_no_white_band_under_each_row():
    """A contact sheet or grid of 3:2 photos put each in a square cell: 85 px of white under every row."""
    green = (30, 160, 60)
    pixels = photo_sheet([_solid(green, 320, 480)] * 6, ["x"] * 6, "t", columns=3)
    rows = np.flatnonzero((pixels == green).all(axis=-1).any(axis=1))
    gaps = np.diff(rows)[np.diff(rows) > 1] - 1  # the rows between one row of photos and the next
    assert len(gaps) == 1 and gaps[0] <= GAP + 20, gaps  # the gap and one caption line, no white band
    mixed = photo_sheet([_solid(green, 320, 480), _solid(green, 480, 320)], ["x"] * 2, "t")
    assert (mixed == green).all(axis=-1).sum() == 2 * CELL * round(CELL * 2 / 3), "each at its own aspect"


def test_a_font_installed_after_matplotlib_listed_the_machine_s_fonts_draws_the_text_it_has(
    monkeypatch, tmp_path
):
    """matplotlib lists the machine's fonts once and keeps the list in its cache folder: a font installed as
    the warning says (Noto Sans CJK) went unseen, the text still written as code points, until that list was
    deleted by hand. Here: the list made before the install holds DejaVu Sans alone."""
    import shutil

    from matplotlib import font_manager

    installed = tmp_path / "fonts" / "Installed.ttf"  # a font with 𝐀 (U+1D400), which DejaVu Sans lacks
    installed.parent.mkdir()
    shutil.copy(Path(get_data_path()) / "fonts" / "ttf" / "STIXGeneral.ttf", installed)
    before = [entry for entry in font_manager.fontManager.ttflist if entry.fname == str(fonts.FONT_FILE)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", before)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: [str(installed)])
    fonts.fallback_fonts.cache_clear()
    try:
        text, font = fonts.drawable("𝐀 crack", 11)
    finally:
        fonts.fallback_fonts.cache_clear()
    assert (text, font.path) == ("𝐀 crack", str(installed))


def test_text_wraps_by_the_pixels_its_words_take_keeping_its_line_breaks_and_cutting_only_a_too_wide_word():
    """One wrapping for titles, captions and the colour bar's legend: narrow letters fill a line as wide
    ones do (wrapped by a count of letters, a line of i's ended half empty)."""
    _, font = fonts.drawable("x", 11)
    width = 80
    lines = _wrapped("ii iiii i iiiiii iii ii iiiii i iiii\nW\n\n" + "W" * 20 + " end", font, width)
    assert all(font.getlength(line) <= width for line in lines)
    narrow = lines[: lines.index("W")]
    assert " ".join(narrow) == "ii iiii i iiiiii iii ii iiiii i iiii", "whole words, in order"
    for line, following in zip(narrow, narrow[1:], strict=False):
        assert font.getlength(f"{line} {following.split()[0]}") > width, "no line ends before it is full"
    assert lines[lines.index("W") + 1] == "", "a line break kept, an empty line too"
    cut = lines[lines.index("W") + 2 :]
    assert "".join(cut).replace(" ", "") == "W" * 20 + "end" and cut[-1].endswith("end")
    pieces = [line for line in cut if set(line) == {"W"}]
    assert len(pieces) > 1 and all(font.getlength(piece + "W") > width for piece in pieces[:-1]), (
        "cut where it reaches the edge"
    )
