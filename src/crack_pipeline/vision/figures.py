"""Matplotlib figures shared by every room: a titled grid of pictures, and PNG bytes of a figure.

Figures are built with the object-oriented API (`Figure`), never pyplot, so no backend is ever selected."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


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
