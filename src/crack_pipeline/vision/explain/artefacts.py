"""The files and tables of an explanation run: per image a heatmap, a crack mask, an overlay with its crack
outlines and boxes and a panel (and for a whole photo its tile probabilities), per method two grids, one
gallery, and the rows of the predictions, boxes and crack measurements tables."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from crack_pipeline.vision import figures
from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.explain import rendering
from crack_pipeline.vision.explain.measurements import image_summary, measure_cracks
from crack_pipeline.vision.explain.photos import PhotoExplanation, TiledPhoto
from crack_pipeline.vision.explain.regions import BOX_FIELDS
from crack_pipeline.vision.explain.tiling import resize_heatmap

LARGE_PHOTO_PIXELS = 1_000_000  # overlays of larger photos are written as JPEG (a 12-MP PNG is ~20 MB)
GRID_SIDE = 512  # overlays in the grids are thumbnails of at most this side
GRID_SIZES = (9, 16)


def safe_name(index: int, relative: str) -> str:
    """A file name for outputs that cannot leave its folder or confuse a browser, unique by index."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePosixPath(relative).stem)[:60].strip("._") or "image"
    return f"{index:05d}_{stem}"


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # float16: a 12-MP photo's map is 24 MB, not 48, and a heatmap needs no more than 3 digits.
    np.save(buffer, array.astype(np.float16))
    return buffer.getvalue()


class ArtefactWriter:
    """Collects every output of a run in memory, photo by photo, as {relative path: bytes} and table rows."""

    def __init__(
        self,
        threshold: float,
        mm_per_pixel: float | None = None,
        severity_bands: Mapping[str, float] | None = None,
    ) -> None:
        self.threshold = threshold  # p(crack) from which an image is called cracked
        self.mm_per_pixel, self.severity_bands = mm_per_pixel, severity_bands  # see measure_cracks
        # Measured once on nothing: bad settings stop the run before its first photo, and the columns are
        # known for a run without a single crack.
        nothing = measure_cracks(np.zeros((1, 1), dtype=bool), mm_per_pixel, severity_bands)
        self.measurement_columns = ["file", "method", *nothing.columns]
        self.files: dict[str, bytes] = {}
        self.rows: list[dict] = []
        self.gallery: list[dict] = []
        self.box_rows: list[dict] = []
        self.measurement_tables: list[pd.DataFrame] = []
        self._grid_pictures: dict[str, list[tuple[np.ndarray, str]]] = {}

    def add(self, method: str, photo: TiledPhoto, explanation: PhotoExplanation) -> None:
        """One photo explained by one method: its files, its predictions row, its gallery card, its boxes."""
        ref = photo.ref
        name = f"{method}/{safe_name(photo.index, ref.name)}"
        probability = explanation.probability
        predicted = "crack" if probability >= self.threshold else "no_crack"
        correct = None if ref.label is None else ref.label == predicted
        height, width = photo.image.shape[:2]
        picture = rendering.overlay(photo.image, explanation.heatmap)
        measured = {}
        if explanation.crack_mask is not None:
            self.files[f"{name}_mask.png"] = png_bytes(explanation.crack_mask.astype(np.uint8) * 255)
            picture = rendering.draw_outline(picture, explanation.crack_mask)
            cracks = measure_cracks(explanation.crack_mask, self.mm_per_pixel, self.severity_bands)
            cracks.insert(0, "method", method)
            cracks.insert(0, "file", ref.name)
            self.measurement_tables.append(cracks)
            measured = {f"cracks_{key}": value for key, value in image_summary(cracks).items()}
        picture = rendering.draw_boxes(picture, explanation.boxes)
        overlay_name = f"{name}_overlay.{'jpg' if height * width > LARGE_PHOTO_PIXELS else 'png'}"
        self.files[f"{name}_heatmap.npy"] = npy_bytes(explanation.heatmap)
        self.files[overlay_name] = rendering.image_bytes(picture, overlay_name)
        small = rendering.thumbnail(photo.image)
        small_size = (small.shape[1], small.shape[0])
        tiles = (
            f" | {len(photo.grid)} tiles, {len(explanation.boxes)} crack regions"
            if photo.scope == "photo"
            else ""
        )
        title = (
            f"{ref.name} | true {ref.label or '?'} | predicted {predicted} | "
            f"p(crack) {probability:.3f} | {method}{tiles}"
        )
        panel = rendering.panel(
            small,
            resize_heatmap(explanation.heatmap, small_size),
            title,
            rendering.scale_boxes(explanation.boxes, small.shape[0] / height),
        )
        self.files[f"{name}_panel.png"] = figures.figure_png(panel)
        if photo.scope == "photo":
            self.files[f"{name}_tiles.npy"] = npy_bytes(explanation.tile_probabilities)
            small_probability = resize_heatmap(explanation.probability_map, small_size)
            self.files[f"{name}_probability.png"] = rendering.png_bytes(
                rendering.overlay(small, small_probability)
            )
        pictures = self._grid_pictures.setdefault(method, [])
        if len(pictures) < max(GRID_SIZES):
            caption = f"{PurePosixPath(ref.name).name}\n{ref.label or '?'} -> {predicted} {probability:.2f}"
            pictures.append((rendering.thumbnail(picture, GRID_SIDE), caption))
        for number, box in enumerate(explanation.boxes):
            self.box_rows.append({"file": ref.name, "method": method, "box": number, **box})
        row = {
            "file": ref.name,
            "true_label": ref.label,
            "crack_probability": float(probability),
            "predicted_label": predicted,
            "correct": correct,
            "method": method,
            "width": width,
            "height": height,
            "tiles": len(photo.grid),
            "crack_regions": len(explanation.boxes),
            **measured,
        }
        self.rows.append(row)
        self.gallery.append(
            {
                **row,
                "label": ref.label or "unlabelled",
                "predicted": predicted,
                "probability": float(probability),
                "correct": "unknown" if correct is None else correct,
                "overlay": overlay_name,
                "panel": f"{name}_panel.png",
                "probability_map": f"{name}_probability.png" if photo.scope == "photo" else None,
                "mask": f"{name}_mask.png" if explanation.crack_mask is not None else None,
                "boxes": [
                    {k: box[k] for k in ("x0", "y0", "x1", "y1", "probability")} for box in explanation.boxes
                ],
            }
        )

    def finish(self, model: str) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The grids of the first images of each method and the gallery added to the files; the files, the
        predictions table, the boxes table and the crack measurements table (one row per crack)."""
        for method, pictures in self._grid_pictures.items():
            for count in GRID_SIZES:
                shown = pictures[:count]
                figure = figures.grid(
                    [p for p, _ in shown], [c for _, c in shown], f"{method}: first {count} images"
                )
                self.files[f"{method}/grid_{count}.png"] = figures.figure_png(figure)
        self.files["index.html"] = rendering.gallery_html(self.gallery, model, self.threshold).encode()
        boxes = pd.DataFrame(self.box_rows, columns=["file", "method", "box", *BOX_FIELDS])
        tables = [table for table in self.measurement_tables if len(table)]
        if tables:
            measurements = pd.concat(tables, ignore_index=True)
        else:  # no crack anywhere: the columns still say what would be measured
            measurements = pd.DataFrame(columns=self.measurement_columns)
        return self.files, pd.DataFrame(self.rows), boxes, measurements
