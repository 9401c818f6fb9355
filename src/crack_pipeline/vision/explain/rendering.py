"""Pictures of explanations: overlays, panels, outlines and boxes, their files, an offline HTML gallery."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence

import jinja2
import numpy as np
from PIL import Image

from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.figures import jet, sheet, sheet_layout, with_colour_bar
from crack_pipeline.vision.models.checkpoint import threshold_text

# What a heatmap's colours measure, under its colour bar. pytorch-grad-cam scales each CAM from its own
# minimum to its maximum: a clean patch's weakest evidence is red too. A whole photo's map is its tiles'
# CAMs, each scaled so, weighted by the tile's p(crack): red only where a tile is called cracked.
PATCH_SCALE = "heatmap: crack evidence, scaled per image (its own strongest is 1: red on a clean image too)"
PHOTO_SCALE = "heatmap: crack evidence, each tile's scaled 0 to 1 and weighted by its p(crack)"
# Grids and the gallery show patches and whole photos together.
MIXED_SCALE = f"{PATCH_SCALE}; a whole photo's: each tile's, weighted by its p(crack)"
# The gallery's colour bar, a CSS gradient through jet's own colours at 9 stops from 0 to 1 (typed by hand,
# three stops were a few levels off the heatmaps' red and yellow).
_SCALE_COLOURS = ",".join(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in jet(np.linspace(0, 1, 9)[None])[0])


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The jet heatmap over the image at alpha 0.5, as the MATLAB demo draws it (uint8 RGB).

    Blended in integers, (a + b + 1) // 2 without widening: a float blend takes a second on a 12-MP photo.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"an overlay is drawn on uint8 pixels, got {image.dtype}")
    colours = jet(heatmap)
    blended = image >> 1
    blended += colours >> 1
    blended += (image | colours) & 1
    return blended


def picture_png(pixels: np.ndarray) -> bytes:
    """An explanation's picture as PNG at zlib level 1: on photo-like pictures 4.5x faster than the default
    level 6, for 15 % more bytes (they are written for every photo; data sets keep level 6)."""
    return png_bytes(pixels, compress_level=1)


def image_bytes(pixels: np.ndarray, name: str) -> bytes:
    """PNG (`picture_png`), or JPEG (quality 90) when `name` ends in .jpg."""
    if not name.endswith(".jpg"):
        return picture_png(pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def marked_overlay(
    image: np.ndarray, heatmap: np.ndarray, crack_mask: np.ndarray | None, boxes: Sequence[dict]
) -> np.ndarray:
    """The heatmap over the image (`overlay`), the crack mask's outline and the crack boxes drawn on it."""
    picture = overlay(image, heatmap)
    if crack_mask is not None:
        picture = draw_outline(picture, crack_mask)
    return draw_boxes(picture, boxes)


def panel(
    image: np.ndarray,
    heatmap: np.ndarray,
    title: str,
    boxes: Sequence[dict] = (),
    crack_mask: np.ndarray | None = None,
    scale: str = PATCH_SCALE,
) -> np.ndarray:
    """original | heatmap | overlay with the crack `boxes` and the outline of `crack_mask` (at the image's
    size), as the photo's own overlay has them, titled with label, prediction, probability, over the colour
    bar that `scale` says the meaning of (pixels); in cells of the image's aspect, a strip's as
    `sheet_layout` draws it."""
    overlaid = marked_overlay(image, heatmap, crack_mask, boxes)
    columns, cell = sheet_layout(image.shape[1] / image.shape[0], 3, fitted=True)
    pixels = sheet([image, heatmap, overlaid], ["original", "heatmap", "overlay"], title, columns, cell)
    return with_colour_bar(pixels, scale)


def mask_thumbnail(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The crack `mask` at `size` (width, height), crack wherever a pixel it covers is: a crack a pixel wide
    on a 12-MP photo stays on its thumbnail (nearest neighbours would drop most of it)."""
    if mask.shape[::-1] == size:
        return mask
    levels = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
    return np.asarray(levels) > 0


# The page's template, shipped beside this module; autoescaping escapes every name put on the page.
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("crack_pipeline.vision.explain", "."),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def gallery_html(
    items: list[dict],
    model: str,
    threshold: float,
    progress: dict | None = None,
    severity: str | None = None,
    skipped: dict[str, str] | None = None,
) -> str:
    """A self-contained page (no network) listing `items`: file, label, predicted, probability, correct,
    method, overlay and panel (relative links); for whole photos also width, height, tiles,
    probability_map and boxes. `progress` ({"pointing": text, "overview": file, "strips": [file]}) shows the
    model's heatmaps through training first; `severity` says what the cards' severity bands mean; `skipped`
    ({file: why}) lists the files not explained (a gallery of what was read alone hid them). Names
    are escaped by the template, and the items' JSON cannot close the script it sits in (`<`, `>`, `&` as
    unicode escapes)."""

    def called_at(item: dict) -> float:  # images of several domains at their own (older records: none)
        return threshold if item.get("threshold") is None else item["threshold"]

    items = [{**item, "cracks_text": crack_text(item)} if item.get("mask") else item for item in items]
    items = [
        {**item, "probability_text": probability_text(item["probability"], called_at(item))} for item in items
    ]
    data = json.dumps(items).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = _TEMPLATES.get_template("gallery.html")
    return page.render(
        model=model,
        called_at=[threshold_text(t) for t in sorted({called_at(item) for item in items} or {threshold})],
        methods=sorted({item["method"] for item in items}),
        items=data,
        progress=progress,
        severity=severity,
        skipped=skipped,
        scale=MIXED_SCALE,
        scale_colours=_SCALE_COLOURS,
    )


def probability_text(probability: float, threshold: float, decimals: int = 3) -> str:
    """p(crack) to `decimals`, on the side of the threshold as shown (`threshold_text`) that the image was
    called on at `threshold`, rounded toward it where plain rounding would cross: 0.3245 under a threshold
    of 0.32455 (shown 0.3245) reads 0.324, plainly 0.325 ("p 0.325, predicted no_crack" beside "cracked
    from p(crack) 0.3245 on"); 0.52001 under 0.52003 (shown 0.5200) reads 0.519."""
    shown, called, scale = float(threshold_text(threshold)), probability >= threshold, 10**decimals
    text = f"{probability:.{decimals}f}"
    if (float(text) >= shown) != called:
        # Called: up (never below the shown threshold, which rounds to nearest); not: down, under it, to 0
        # at least (under a threshold shown 0.0000 it read -0.001).
        value = (
            math.ceil(probability * scale)
            if called
            else math.floor(max(min(probability, shown - 1e-9), 0) * scale)
        )
        text = f"{value / scale:.{decimals}f}"
    return text


def crack_text(item: dict) -> str:
    """A card's cracks as the gallery words them: count, total length and widest width with its unit and
    severity band. Widths in mm to 0.01 mm: to 0.1 mm, 0.25 and 0.34 mm both read "0.3 mm", one in the
    hairline band (up to 0.3) and one in the fine. Rounded up: 0.304 mm, banded fine, read "0.30 mm (fine)"
    against a hairline bound of 0.3."""
    count = item["cracks_count"]
    text = f"{count} crack{'' if count == 1 else 's'}"
    if not count:
        return text
    unit, digits = ("mm", 2) if item.get("cracks_max_width_mm") is not None else ("px", 1)
    length, width = item[f"cracks_total_length_{unit}"], item[f"cracks_max_width_{unit}"]
    shown = math.ceil(round(width * 10**digits, 6)) / 10**digits  # round(): 0.29 * 100 is 28.999...
    band = item["cracks_worst_severity"]
    return f"{text}, {length:.1f} {unit} long, widest {shown:.{digits}f} {unit} ({band})"


def thumbnail(pixels: np.ndarray, max_side: int = 1024) -> np.ndarray:
    """An image no larger than `max_side` on its longer side (figures of 12-MP photos stay light)."""
    height, width = pixels.shape[:2]
    if max(height, width) <= max_side:
        return pixels
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


BOX_COLOUR = (255, 255, 255)


def draw_boxes(pixels: np.ndarray, boxes: Sequence[dict]) -> np.ndarray:
    """A copy of an RGB image with each box (x0, y0, x1, y1; ends exclusive) outlined inside its edges,
    lines ~0.4 % of the shorter side thick, so they show on a thumbnail of a 12-MP photo too: the pixels
    Pillow's `rectangle(width=...)` draws, except that a box thinner than two lines is filled and one
    reaching past the picture is outlined at its edge. Drawn as array slices: through Pillow, a 12-MP
    picture was copied twice (0.07 s)."""
    picture = pixels.copy()
    height, width = picture.shape[:2]
    line = max(1, round(min(height, width) * 0.004))
    for box in boxes:
        x0, y0 = max(0, box["x0"]), max(0, box["y0"])
        x1, y1 = min(width, box["x1"]), min(height, box["y1"])
        if x1 <= x0 or y1 <= y0:
            continue
        picture[y0 : min(y0 + line, y1), x0:x1] = BOX_COLOUR
        picture[max(y1 - line, y0) : y1, x0:x1] = BOX_COLOUR
        picture[y0:y1, x0 : min(x0 + line, x1)] = BOX_COLOUR
        picture[y0:y1, max(x1 - line, x0) : x1] = BOX_COLOUR
    return picture


OUTLINE_COLOUR = (255, 255, 0)
_EDGE_CHUNK = 65_536  # edge pixels thickened at once


def draw_outline(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of an RGB image with the edge of the crack `mask` (H x W bool) drawn in yellow, ~0.15 % of
    the shorter side thick (at least a pixel), so thin cracks stay visible under their outline.

    The edge is the crack pixels with a 4-neighbour outside the crack (or the image), thickened to every
    pixel within `thickness - 1` 4-connected steps of it: a binary erosion and dilation, computed from the
    crack pixels' list (a 12-MP photo's mask box took 0.09 s through whole-array morphology)."""
    drawn = pixels.copy()
    height, width = mask.shape
    rows, columns = np.nonzero(mask)
    bordered = np.pad(mask, 1)  # outside the image counts as outside the crack
    inner = np.ones(rows.size, dtype=bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):  # the 4 neighbours, in the bordered mask's pixels
        inner &= bordered[rows + dy, columns + dx]
    edge_rows, edge_columns = rows[~inner], columns[~inner]
    reach = max(round(min(height, width) * 0.0015) - 1, 0)
    offset_rows, offset_columns = np.nonzero(_diamond(reach))
    for start in range(0, edge_rows.size, _EDGE_CHUNK):  # the offsets of a few edge pixels at a time
        y = (edge_rows[start : start + _EDGE_CHUNK, None] + (offset_rows - reach)).ravel()
        x = (edge_columns[start : start + _EDGE_CHUNK, None] + (offset_columns - reach)).ravel()
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        drawn[y[inside], x[inside]] = OUTLINE_COLOUR
    return drawn


def _diamond(radius: int) -> np.ndarray:
    """The offsets within `radius` 4-connected steps, as a (2r+1)x(2r+1) bool footprint."""
    rows, columns = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return np.abs(rows) + np.abs(columns) <= radius


def scale_boxes(boxes: Sequence[dict], scale: float) -> list[dict]:
    """Boxes in the pixels of the image resized by `scale` (e.g. its thumbnail), never empty."""
    scaled = []
    for box in boxes:
        x0, y0 = math.floor(box["x0"] * scale), math.floor(box["y0"] * scale)
        x1, y1 = max(x0 + 1, math.ceil(box["x1"] * scale)), max(y0 + 1, math.ceil(box["y1"] * scale))
        scaled.append({**box, "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    return scaled
