"""Explanation pictures and the gallery: shapes, and names that must never become markup or paths."""

import json
import re

import numpy as np
import pytest

from crack_pipeline.vision.explain.names import safe_name
from crack_pipeline.vision.explain.rendering import gallery_html, overlay
from crack_pipeline.vision.explain.tiling import resize_heatmap
from crack_pipeline.vision.figures import jet

NASTY = '<script>alert("x")</script> & <img src=x onerror=alert(1)>.jpg'


def test_gallery_escapes_every_name():
    item = {
        "file": f"Positive/{NASTY}",
        "label": "crack",
        "predicted": "crack",
        "probability": 0.9,
        "correct": True,
        "method": "gradcam",
        "overlay": "gradcam/00000_x_overlay.png",
        "panel": "gradcam/00000_x_panel.png",
        "tiles": 1,
        "boxes": [],
        "mask": "gradcam/00000_x_mask.png",
        "cracks_count": 1,
        "cracks_total_length_px": 12.5,
        "cracks_max_width_px": 3.0,
        "cracks_worst_severity": NASTY,  # band names are the user's
    }
    page = gallery_html([item], model="<b>small_cnn</b>", threshold=0.37)
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>small_cnn</b>" not in page
    assert "&lt;b&gt;small_cnn&lt;/b&gt;" in page
    assert page.count("<script>") == 1, "only the page's own script"
    assert "p(crack) 0.3700 on" in page, "the decision threshold the page's predictions use"
    assert "Not explained" not in page, "every file has its card"
    listed = gallery_html([item], "m", 0.37, skipped={NASTY: "corrupt_or_truncated: image file is truncated"})
    assert "Not explained: 1 file," in listed and "<script>alert" not in listed and "<img src=x" not in listed
    assert "&lt;script&gt;alert" in listed, "the name, escaped"
    assert "</span>: corrupt_or_truncated: image file is truncated</li>" in listed


def test_output_names_stay_inside_the_folder():
    assert safe_name(3, "../../etc/passwd") == "00003_passwd"
    name = safe_name(12, f"a/b/{NASTY}")
    assert name.startswith("00012_") and "/" not in name and "<" not in name and " " not in name


def test_output_names_keep_the_letters_of_any_script():
    """`Brücke_Süd.jpg` gave outputs named `00001_Br_cke_S_d_...`: every letter outside A-Z was dropped. The
    name is composed whatever form the file system gave (macOS decomposes ü into u and a combining mark), and
    kept under 255 bytes with the suffixes (`_gradcam_overlay.png`) in any script."""
    import unicodedata

    assert safe_name(1, "Brücke_Süd.jpg") == "00001_Brücke_Süd"
    assert safe_name(1, unicodedata.normalize("NFD", "Brücke_Süd.jpg")) == "00001_Brücke_Süd"
    assert safe_name(2, "Мост 3 (север).png") == "00002_Мост_3_север"
    assert safe_name(3, "橋\u202egpj.exe.png") == "00003_橋_gpj.exe", "no control of text direction"
    long = safe_name(4, "橋梁" * 100 + ".jpg")
    assert long.startswith("00004_橋梁") and len(long.encode()) <= 6 + 120
    assert len(safe_name(5, "a" * 100 + ".jpg")) == 6 + 60, "an ASCII name as long as before"


def test_output_names_keep_the_marks_on_letters_of_scripts_written_with_them():
    """`हिन्दी पुल.jpg` gave `00001_ह_न_द_प_ल` and Arabic's `كُوبْرِي.jpg` `00002_ك_وب_ر_ي`: a vowel sign or
    virama is a mark, not a letter, and each was taken for a character to replace."""
    assert safe_name(1, "हिन्दी पुल.jpg") == "00001_हिन्दी_पुल"
    assert safe_name(2, "كُوبْرِي.jpg") == "00002_كُوبْرِي"
    assert safe_name(3, "á (1).jpg") == "00003_á_1", "a mark composed with its letter"


def test_a_mark_whose_character_is_left_out_goes_with_it():
    """An emoji's variation selector (U+FE0F) is a mark too: kept where the emoji became `_`, `Brücke 🏗️.jpg`
    gave `00001_Brücke_` and an invisible character, `wall ❤️ 2.jpg` `00002_wall_` + U+FE0F + `_2`."""
    assert safe_name(1, "Brücke 🏗️.jpg") == "00001_Brücke"
    assert safe_name(2, "wall ❤️ 2.jpg") == "00002_wall_2"
    assert safe_name(3, "\u0301crack.jpg") == "00003_crack", "a combining accent on nothing"
    assert safe_name(4, "Bru\u0308cke.jpg") == "00004_Br\u00fccke", "one on its letter, composed"


def test_overlay_and_resize():
    image = np.full((30, 40, 3), 128, dtype=np.uint8)
    heatmap = resize_heatmap(np.linspace(0, 1, 49, dtype=np.float32).reshape(7, 7), (40, 30))
    assert heatmap.shape == (30, 40) and heatmap.min() >= 0 and heatmap.max() <= 1
    picture = overlay(image, heatmap)
    assert picture.shape == (30, 40, 3) and picture.dtype == np.uint8
    # The jet colours at alpha 0.5, rounded half up: (128 + jet) / 2, pixel for pixel.
    blended = (image.astype(int) + jet(heatmap).astype(int) + 1) // 2
    np.testing.assert_array_equal(picture, blended)
    assert not np.array_equal(overlay(image, np.zeros((30, 40))), overlay(image, np.ones((30, 40))))


def test_a_crack_outline_is_drawn_as_on_the_whole_image():
    from scipy import ndimage

    from crack_pipeline.vision.explain.rendering import OUTLINE_COLOUR, draw_outline

    image = np.full((1400, 1000, 3), 90, dtype=np.uint8)
    mask = np.zeros((1400, 1000), dtype=bool)
    mask[300:310, 200:700] = True
    mask[1390:, 950:] = True  # at the image's corner
    edge = ndimage.binary_dilation(mask & ~ndimage.binary_erosion(mask), iterations=1)  # 2 px at 1000
    drawn = draw_outline(image, mask)
    np.testing.assert_array_equal((drawn == OUTLINE_COLOUR).all(-1), edge)
    assert (image == 90).all(), "the image itself is left as it was"
    assert (draw_outline(image, np.zeros_like(mask)) == image).all()


def test_a_thick_outline_of_an_irregular_mask_is_the_dilated_edge():
    from scipy import ndimage

    from crack_pipeline.vision.explain.rendering import OUTLINE_COLOUR, draw_outline

    image = np.zeros((3100, 2100, 3), dtype=np.uint8)  # 0.15 % of 2100 px: 3 px thick
    rng = np.random.default_rng(0)
    mask = ndimage.binary_opening(rng.random((3100, 2100)) > 0.6)  # blobs, holes, the image's border
    mask[:, 1500:1520] = True
    edge = mask & ~ndimage.binary_erosion(mask)
    expected = ndimage.binary_dilation(edge, iterations=2)
    np.testing.assert_array_equal((draw_outline(image, mask) == OUTLINE_COLOUR).all(-1), expected)


def test_boxes_are_the_pixels_pillow_outlines_and_one_past_the_picture_is_outlined_at_its_edge():
    from PIL import Image, ImageDraw

    from crack_pipeline.vision.explain.rendering import BOX_COLOUR, draw_boxes

    rng = np.random.default_rng(3)
    picture = rng.integers(0, 200, (500, 700, 3), dtype=np.uint8)  # lines of 2 px
    boxes = [{"x0": 10, "y0": 20, "x1": 300, "y1": 200}, {"x0": 400, "y0": 5, "x1": 405, "y1": 480}]
    expected = Image.fromarray(picture)
    for box in boxes:
        corners = (box["x0"], box["y0"], box["x1"] - 1, box["y1"] - 1)
        ImageDraw.Draw(expected).rectangle(corners, outline=BOX_COLOUR, width=2)
    np.testing.assert_array_equal(draw_boxes(picture, boxes), np.asarray(expected))
    past = draw_boxes(picture, [{"x0": 600, "y0": 400, "x1": 701, "y1": 501}])
    assert (past[498:500, 600:700] == BOX_COLOUR).all() and (past[400:500, 698:700] == BOX_COLOUR).all()
    assert (past[402:498, 602:698] == picture[402:498, 602:698]).all(), "only the outline is drawn"


def test_a_card_words_its_cracks_widths_in_mm_finely_enough_to_tell_the_bands_apart():
    def card(width_mm, band):
        return {
            "file": f"{band}.jpg",
            "label": "crack",
            "predicted": "crack",
            "probability": 0.9,
            "correct": True,
            "method": "layercam",
            "overlay": "o.png",
            "panel": "p.png",
            "tiles": 1,
            "boxes": [],
            "mask": "m.png",
            "cracks_count": 2,
            "cracks_total_length_px": 250.0,
            "cracks_max_width_px": width_mm / 0.1,
            "cracks_total_length_mm": 25.0,
            "cracks_max_width_mm": width_mm,
            "cracks_worst_severity": band,
        }

    # 0.25 and 0.35 mm both read "0.3 mm" to a tenth: one under Eurocode's 0.3 mm, one over it.
    # Rounded up, so a width above a band's bound never reads as the bound (0.304 mm: fine, not "0.30").
    cards = [card(0.25, "hairline"), card(0.347, "fine"), card(0.304, "fine"), card(0.29, "hairline")]
    page = gallery_html(cards, model="m", threshold=0.5)
    items = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    assert [item["cracks_text"] for item in items] == [
        "2 cracks, 25.0 mm long, widest 0.25 mm (hairline)",
        "2 cracks, 25.0 mm long, widest 0.35 mm (fine)",
        "2 cracks, 25.0 mm long, widest 0.31 mm (fine)",
        "2 cracks, 25.0 mm long, widest 0.29 mm (hairline)",
    ]
    assert "${esc(i.cracks_text)}" in page, "the card shows it"
    in_px = {**card(0.3, "fine"), "cracks_count": 1}
    del in_px["cracks_total_length_mm"], in_px["cracks_max_width_mm"]
    (item,) = json.loads(re.search(r"const items = (.*);\n", gallery_html([in_px], "m", 0.5)).group(1))
    assert item["cracks_text"] == "1 crack, 250.0 px long, widest 3.0 px (fine)"


def test_the_grids_show_each_class_in_turn_in_the_order_the_images_came(monkeypatch):
    """A split or folder is explained in name order, Negative/ before Positive/: grid_9.png and grid_16.png
    showed the first 9 and 16 images, all clean on the default run's test split."""
    from crack_pipeline.vision.explain import grids

    shown = {}
    monkeypatch.setattr(
        grids.figures, "photo_sheet", lambda p, captions, title: shown.setdefault(title, captions) and p[0]
    )
    pictures = {}
    names = [f"Negative/{i:02d}.jpg" for i in range(20)] + [f"Positive/{i:02d}.jpg" for i in range(3)]
    for name in names:
        label = "crack" if name.startswith("Positive") else "no_crack"
        card = {"method": "gradcam", "file": name, "true_label": label, "predicted": label}
        grids.add_grid_picture(
            pictures, {**card, "probability": 0.5, "threshold": 0.5}, lambda: np.zeros((4, 4, 3), np.uint8)
        )
    grids.grid_files(pictures)
    files = [[caption.split("\n")[0] for caption in captions] for captions in shown.values()]
    assert list(shown) == [f"gradcam: first {n} images, each class in turn" for n in (9, 16)]
    assert files[0] == [
        *("Positive/00.jpg", "Negative/00.jpg", "Positive/01.jpg", "Negative/01.jpg", "Positive/02.jpg"),
        *("Negative/02.jpg", "Negative/03.jpg", "Negative/04.jpg", "Negative/05.jpg"),
    ]
    assert files[1] == files[0] + [f"Negative/{i:02d}.jpg" for i in range(6, 13)]
    assert len(pictures["gradcam"]["no_crack"]) == 16, "no more of a class than a grid shows"
    unlabelled = {"method": "gradcam", "file": "x.jpg", "true_label": None, "predicted": "crack"}
    grids.add_grid_picture(
        pictures, {**unlabelled, "probability": 0.9, "threshold": 0.5}, lambda: np.zeros((4, 4, 3), np.uint8)
    )
    assert len(pictures["gradcam"]["crack"]) == 4, "an unlabelled photo goes with the class it was called"


def test_a_grid_of_one_class_says_so_in_its_title(monkeypatch):
    """A folder of cracked photos alone was titled `first 9 images, each class in turn`, as if there were
    clean ones among them."""
    from crack_pipeline.vision.explain import grids

    titles = []
    monkeypatch.setattr(grids.figures, "photo_sheet", lambda p, captions, title: titles.append(title) or p[0])
    pictures = {}
    for number in range(3):
        card = {"method": "gradcam", "file": f"{number}.jpg", "true_label": None, "predicted": "crack"}
        grids.add_grid_picture(
            pictures, {**card, "probability": 0.9, "threshold": 0.5}, lambda: np.zeros((4, 4, 3), np.uint8)
        )
    grids.grid_files(pictures)
    assert titles == ["gradcam: all 3 images, all of class crack (no image of another class)"]


def test_a_grid_of_fewer_images_than_cells_says_all_of_them_and_a_larger_grid_only_shows_more(monkeypatch):
    """A folder of 4 photos (or 12) gave grids titled `first 9 images` and `first 16 images`; one of 9 or
    fewer, a grid_16.png the same as its grid_9.png."""
    from crack_pipeline.vision.explain import grids

    titles = []
    monkeypatch.setattr(grids.figures, "photo_sheet", lambda p, c, title: titles.append(title) or p[0])
    for count, expected in [
        (1, ["the one image, all of class crack (no image of another class)"]),
        (4, ["all 4 images, each class in turn"]),
        (9, ["all 9 images, each class in turn"]),
        (10, ["first 9 images, each class in turn", "all 10 images, each class in turn"]),
        (12, ["first 9 images, each class in turn", "all 12 images, each class in turn"]),
        (40, ["first 9 images, each class in turn", "first 16 images, each class in turn"]),
    ]:
        titles.clear()
        pictures = {}
        for number in range(count):
            label = ("crack", "no_crack")[number % 2]
            card = {"method": "m", "file": f"{number}.jpg", "true_label": label, "predicted": label}
            grids.add_grid_picture(
                pictures,
                {**card, "probability": 0.5, "threshold": 0.5},
                lambda: np.zeros((4, 4, 3), np.uint8),
            )
        files = grids.grid_files(pictures)
        assert titles == [f"m: {words}" for words in expected], count
        assert list(files) == ["m/grid_9.png", "m/grid_16.png"][: len(expected)], count


def test_a_grid_caption_names_the_file_with_its_folder_as_the_gallery_does():
    """grid_9.png captioned `IMG_0001.jpg` for both day1/IMG_0001.jpg and day2/IMG_0001.jpg (a camera numbers
    each card from 1 again), where the gallery's cards and the tables name each by its path."""
    from crack_pipeline.vision.explain.grids import grid_caption

    card = {
        "file": "day2/IMG_0001.jpg",
        "true_label": None,
        "predicted": "crack",
        "probability": 0.91,
        "threshold": 0.5,
    }
    assert grid_caption(card) == "day2/IMG_0001.jpg\n? -> crack 0.91"


def test_a_probability_is_shown_on_the_side_of_the_threshold_its_image_was_called():
    """A card read 'p 0.325 · predicted no_crack' under 'cracked from p(crack) 0.325 on': p(crack) 0.3245
    and the threshold 0.32455 both rounded to 3 decimals."""
    from crack_pipeline.vision.explain.grids import grid_caption

    def card(probability: float, threshold: float = 0.32455) -> dict:
        predicted = "crack" if probability >= threshold else "no_crack"
        return {
            "file": "a.jpg",
            "label": "crack",
            "predicted": predicted,
            "probability": probability,
            "correct": True,
            "method": "gradcam",
            "overlay": "o.png",
            "panel": "p.png",
            "tiles": 1,
            "boxes": [],
            "true_label": None,
        }

    cards = [card(0.3245), card(0.32455), card(0.3246), card(0.9)]
    page = gallery_html(cards, "m", threshold=0.32455)
    assert "p(crack) 0.3246 on" in page, "the threshold as every other place shows it"
    items = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    assert [item["probability_text"] for item in items] == ["0.324", "0.325", "0.325", "0.900"]
    assert "p ${i.probability_text}" in page, "the cards show it"
    # Under 0.52003, shown 0.5200, p 0.52001 is no crack: "0.520" would read as at the threshold.
    page = gallery_html([card(0.52001, 0.52003), card(0.52003, 0.52003)], "m", threshold=0.52003)
    items = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    assert "p(crack) 0.5200 on" in page
    assert [item["probability_text"] for item in items] == ["0.519", "0.520"]
    below = {**card(0.4951), "threshold": 0.4955, "predicted": "no_crack"}
    assert grid_caption(below).endswith("no_crack 0.49"), "not 0.50, above the threshold 0.4955"


def test_a_threshold_reads_the_same_in_the_gallery_as_in_the_logs_and_figures():
    """The gallery said `cracked from p(crack) 0.519902 on` where explain's and evaluate's log lines, the
    evaluation report and the explanation record's description said 0.5199 (and the confusion matrix
    0.520)."""
    from crack_pipeline.vision.evaluation.plots import plot_confusion_matrix
    from crack_pipeline.vision.models.checkpoint import describe_threshold

    card = {"file": "a.jpg", "label": "crack", "predicted": "crack", "probability": 0.9, "correct": True}
    page = gallery_html([{**card, "method": "m", "overlay": "o", "panel": "p", "tiles": 1}], "m", 0.519902)
    assert "p(crack) 0.5199 on" in page and "0.519902" not in page
    assert describe_threshold({"value": 0.519902, "source": "the model's"}).startswith("threshold 0.5199,")
    metrics = {"tn": 1, "fp": 0, "fn": 0, "tp": 1, "threshold": 0.519902}
    assert plot_confusion_matrix(metrics, "m").axes[0].get_title().endswith("threshold 0.5199")
    from crack_pipeline.vision.models.checkpoint import threshold_text

    assert [threshold_text(t) for t in (0.37, 0.7545, 0.0042)] == ["0.3700", "0.7545", "0.0042"]


def test_a_threshold_under_the_fourth_decimal_shows_its_digit_and_no_p_crack_reads_below_0():
    """A threshold of 0.00004 (a site's recall 0.99 on photos the model scores near 0: evaluate_folder
    measured 0.0010 and 0.0040) read 0.0000 in the gallery, logs and figures: 'cracked from p(crack) 0.0000
    on', and under it a clean image's p(crack) 0.00003 read -0.001 on its card and -0.01 in the grids."""
    from crack_pipeline.vision.explain.grids import grid_caption
    from crack_pipeline.vision.models.checkpoint import describe_threshold, threshold_text

    def card(probability: float) -> dict:
        predicted = "crack" if probability >= 0.00004 else "no_crack"
        return {"file": "a.jpg", "label": "crack", "predicted": predicted, "probability": probability}

    cards = [{**card(p), "method": "m", "overlay": "o", "panel": "p", "tiles": 1} for p in (0.00003, 0.00005)]
    page = gallery_html(cards, "m", 0.00004)
    assert "p(crack) 4.0e-05 on" in page
    items = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    assert [item["probability_text"] for item in items] == ["0.000", "0.001"]
    caption = grid_caption({**card(0.00003), "true_label": "crack", "threshold": 0.00004})
    assert caption.endswith("no_crack 0.00")
    assert describe_threshold({"value": 0.00004, "source": "the site's"}).startswith("threshold 4.0e-05,")
    assert [threshold_text(t) for t in (0.0, 1.0, 0.99996, 0.00123)] == [
        "0.0000",
        "1.0000",
        "0.99996",
        "0.0012",
    ]


def test_a_strip_photo_fills_its_panel_lying_or_standing_and_a_photo_fills_cells_of_its_aspect():
    """A 6000 x 400 strip (a line-scan camera, a stitched panorama) was three 256 x 17 slivers on its panel,
    each in a square cell of white; a 4:3 photo's panel had 64 px of white under its pictures."""
    from crack_pipeline.vision.explain.rendering import panel, thumbnail

    brown = (150, 90, 30)

    def photo_pixels(panel_pixels: np.ndarray) -> int:  # the original's colour, found only in the original
        return int((panel_pixels == brown).all(axis=-1).sum())

    for height, width in ((400, 6000), (6000, 400)):
        small = thumbnail(np.full((height, width, 3), brown, np.uint8))
        pixels = panel(small, np.zeros(small.shape[:2], np.float32), "strip.jpg")
        assert photo_pixels(pixels) > 30_000, (height, width)  # 784 x 53 (256 x 17 before)
        assert pixels.shape[1] == 800, "as wide as a photo's panel"
    photo = np.full((768, 1024, 3), brown, np.uint8)
    pixels = panel(photo, np.zeros(photo.shape[:2], np.float32), "IMG_0001.jpg")
    assert pixels.shape[:2] == (248 + 46, 800) and photo_pixels(pixels) == 256 * 192


def test_a_grid_of_strip_photos_shows_each_as_long_as_a_strips_panel_does():
    """A line-scan camera's survey: each of a grid's overlays was a 256 x 17 sliver in a square cell."""
    import io

    from PIL import Image

    from crack_pipeline.vision.explain.artefacts import summary_files
    from crack_pipeline.vision.explain.rendering import thumbnail

    brown = (150, 90, 30)
    strip = thumbnail(np.full((400, 6000, 3), brown, np.uint8), 512)
    pictures = {"gradcam": {"crack": [(strip, "line/0001.jpg\ncrack -> crack 0.91")] * 16}}
    files = summary_files([], pictures, "cnn", 0.5)
    for count in (9, 16):
        grid = np.asarray(Image.open(io.BytesIO(files[f"gradcam/grid_{count}.png"])).convert("RGB"))
        assert (grid == brown).all(axis=-1).sum() > count * 30_000, count  # 784 x 53 each (256 x 17 before)


def _colour_bars(pixels: np.ndarray, shortest: int = 200) -> list[int]:
    """The rows of a picture that hold the jet scale from 0 to 1, left to right (a colour bar), over more
    than `shortest` pixels."""
    ends = jet(np.array([0.0, 1.0]))
    rows = []
    for row in range(pixels.shape[0]):
        coloured = np.flatnonzero((pixels[row] != 255).any(axis=-1))
        if coloured.size > shortest and (pixels[row, coloured[[0, -1]]] == ends).all():
            rows.append(row)
    return rows


def test_panels_grids_and_the_gallery_say_what_the_heatmaps_colours_mean():
    """A heatmap in jet said nothing of what red and blue mean, nor that each image's is scaled to its own
    strongest evidence (a clean patch shows red too)."""
    import io

    from PIL import Image

    from crack_pipeline.vision.explain import rendering
    from crack_pipeline.vision.explain.artefacts import summary_files

    photo = np.full((320, 480, 3), 128, np.uint8)
    pixels = rendering.panel(photo, np.zeros(photo.shape[:2], np.float32), "IMG_0001.jpg")
    bar = _colour_bars(pixels)
    assert bar == list(range(241, 251)), "10 px thick, under the 800 x 227 panel and the bar's caption"
    assert pixels.shape == (273, 800, 3), "and 0 and 1 written under its ends"
    pictures = {"gradcam": {"crack": [(photo, "IMG_0001.jpg\ncrack -> crack 0.91")] * 16}}
    grid = summary_files([], pictures, "cnn", 0.5)["gradcam/grid_9.png"]
    assert len(_colour_bars(np.asarray(Image.open(io.BytesIO(grid)).convert("RGB")))) == 10
    page = gallery_html([], "cnn", 0.5)
    assert "Heatmap colours: 0 low <span></span> high 1 (heatmap: crack evidence, scaled per image" in page


@pytest.mark.parametrize("width", [16, 64, 100, 160, 800])
def test_the_colour_bar_is_readable_under_a_picture_of_any_width(width):
    """Under a 64-px training sample (MLflow's slider) the caption broke mid-word ("heatma p") and "0 low"
    ran into "high 1"; train.image_size can be 16."""
    from crack_pipeline.vision import figures
    from crack_pipeline.vision.explain import rendering
    from crack_pipeline.vision.fonts import drawable

    for caption in (rendering.PATCH_SCALE, rendering.PHOTO_SCALE, rendering.MIXED_SCALE):
        picture = np.full((min(width, 100), width, 3), 128, np.uint8)
        pixels = figures.with_colour_bar(picture, caption)
        _, font = drawable(caption, figures.CAPTION_SIZE)
        longest = max(font.getlength(word) for word in caption.split())
        assert pixels.shape[1] >= max(width, longest + 2 * figures.GAP), "every word whole on a line"
        assert (pixels[: picture.shape[0]] == 128).all(axis=-1).sum() == picture.shape[0] * width, "all of it"
        lines = figures._wrapped(caption, font, pixels.shape[1] - 2 * figures.GAP)
        assert " ".join(lines) == " ".join(caption.split()), "words never cut"
        bar = _colour_bars(pixels, shortest=40)
        assert len(bar) == figures.BAR_HEIGHT
        # Drawn in those lines (the bar starts under the last): cut at characters, "evidence," took two.
        assert (bar[0] - picture.shape[0]) / (figures.CAPTION_SIZE + 3) == len(lines), "the lines drawn"
        # Under the bar, its two ends' numbers: a blank gap of at least GAP px between them.
        inked = np.flatnonzero((pixels[bar[-1] + 2 :] < 128).any(axis=(0, 2)))
        apart = int(np.argmax(np.diff(inked)))
        assert inked[apart + 1] - inked[apart] > figures.GAP, "0 and 1 apart"
        named = inked[apart] - inked[0] > 15  # "0 low" is 29 px wide, "0" 7 px
        assert named == (width >= 100), "'0 low' and 'high 1' where they fit, else 0 and 1"
