"""Pictures of explanations: overlays, panels, grids and an offline HTML gallery."""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Sequence
from importlib.resources import files

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from pytorch_grad_cam.utils.image import show_cam_on_image


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A heatmap brought to (width, height) with bilinear interpolation, kept in [0, 1]."""
    if heatmap.shape[::-1] == tuple(size):
        return heatmap.astype(np.float32)
    resized = Image.fromarray(heatmap.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The jet heatmap over the image at alpha 0.5, as the MATLAB demo draws it (uint8 RGB)."""
    return show_cam_on_image(image.astype(np.float32) / 255, heatmap, use_rgb=True, image_weight=0.5)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def panel(image: np.ndarray, heatmap: np.ndarray, title: str) -> Figure:
    """original | heatmap | overlay, titled with label, prediction and probability."""
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    for axis, (name, picture) in zip(
        figure.subplots(1, 3),
        (("original", image), ("heatmap", heatmap), ("overlay", overlay(image, heatmap))),
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
    method, overlay and panel (relative links). Every name is escaped, in the data and on the page."""
    methods = sorted({item["method"] for item in items})
    # <, > and & as JSON unicode escapes: no file name can close the script or open markup in it.
    data = json.dumps(items).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    options = "".join(f"<option>{html.escape(m)}</option>" for m in methods)
    return _PAGE.format(model=html.escape(model), method_options=options, items=data)
