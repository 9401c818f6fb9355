"""Pictures of explanations: overlays, panels, grids and an offline HTML gallery."""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Sequence
from importlib.resources import files

import cv2
import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A heatmap brought to (width, height) with bilinear interpolation, kept in [0, 1]."""
    if heatmap.shape[::-1] == tuple(size):
        return heatmap.astype(np.float32)
    resized = Image.fromarray(heatmap.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The jet heatmap over the image at alpha 0.5, as the MATLAB demo draws it (uint8 RGB).

    pytorch-grad-cam's colouring, blended in uint8: its float blend takes a second on a 12-MP photo.
    """
    colours = cv2.applyColorMap(np.uint8(255 * np.clip(heatmap, 0, 1)), cv2.COLORMAP_JET)
    return cv2.addWeighted(np.ascontiguousarray(image), 0.5, cv2.cvtColor(colours, cv2.COLOR_BGR2RGB), 0.5, 0)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_bytes(pixels: np.ndarray, name: str) -> bytes:
    """PNG, or JPEG (quality 90) when `name` ends in .jpg."""
    if not name.endswith(".jpg"):
        return png_bytes(pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def panel(image: np.ndarray, heatmap: np.ndarray, title: str, boxes: Sequence[dict] = ()) -> Figure:
    """original | heatmap | overlay with the crack `boxes`, titled with label, prediction, probability."""
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    for axis, (name, picture) in zip(
        figure.subplots(1, 3),
        (("original", image), ("heatmap", heatmap), ("overlay", draw_boxes(overlay(image, heatmap), boxes))),
        strict=True,
    ):
        axis.imshow(picture, cmap="jet" if picture.ndim == 2 else None, vmin=0, vmax=1)
        axis.set_title(name, fontsize=9)
        axis.axis("off")
    figure.suptitle(title, fontsize=10)
    return figure


def grid(overlays: Sequence[np.ndarray], titles: Sequence[str], title: str) -> Figure:
    columns = max(1, math.ceil(math.sqrt(len(overlays))))
    rows = max(1, math.ceil(len(overlays) / columns))
    figure = Figure(figsize=(2.6 * columns, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for axis in axes:
        axis.axis("off")
    for axis, picture, caption in zip(axes, overlays, titles, strict=False):
        axis.imshow(picture)
        axis.set_title(caption, fontsize=7)
    figure.suptitle(title)
    return figure


# The page's template (str.format fields: model, method_options, items), shipped beside this module.
_PAGE = (files("crack_pipeline.vision") / "gallery.html").read_text(encoding="utf-8")


def gallery_html(items: list[dict], model: str) -> str:
    """A self-contained page (no network) listing `items`: file, label, predicted, probability, correct,
    method, overlay and panel (relative links); for whole photos also width, height, tiles,
    probability_map and boxes. Every name is escaped, in the data and on the page."""
    methods = sorted({item["method"] for item in items})
    # <, > and & as JSON unicode escapes: no file name can close the script or open markup in it.
    data = json.dumps(items).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    options = "".join(f"<option>{html.escape(m)}</option>" for m in methods)
    return _PAGE.format(model=html.escape(model), method_options=options, items=data)


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
    """A copy of an RGB image with each box (x0, y0, x1, y1; ends exclusive) outlined, lines ~0.4 % of
    the shorter side thick, so they show on a thumbnail of a 12-MP photo too."""
    picture = Image.fromarray(pixels)
    draw = ImageDraw.Draw(picture)
    width = max(1, round(min(pixels.shape[:2]) * 0.004))
    for box in boxes:
        draw.rectangle((box["x0"], box["y0"], box["x1"] - 1, box["y1"] - 1), outline=BOX_COLOUR, width=width)
    return np.asarray(picture)


def scale_boxes(boxes: Sequence[dict], scale: float) -> list[dict]:
    """Boxes in the pixels of the image resized by `scale` (e.g. its thumbnail), never empty."""
    scaled = []
    for box in boxes:
        x0, y0 = math.floor(box["x0"] * scale), math.floor(box["y0"] * scale)
        x1, y1 = max(x0 + 1, math.ceil(box["x1"] * scale)), max(y0 + 1, math.ceil(box["y1"] * scale))
        scaled.append({**box, "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    return scaled
