"""The files and tables of an explanation run: per image a heatmap, a crack mask, an overlay with its crack
outlines and boxes and a panel (and for a whole photo its tile probabilities), per method two grids, one
gallery, and the rows of the predictions, boxes and crack measurements tables."""

from __future__ import annotations

import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.vision.explain import rendering
from crack_pipeline.vision.explain.grids import GridPictures, add_grid_picture, grid_files
from crack_pipeline.vision.explain.measurements import listed_cracks, measure_cracks
from crack_pipeline.vision.explain.names import safe_name
from crack_pipeline.vision.explain.photos import PhotoExplanation, TiledPhoto
from crack_pipeline.vision.explain.regions import BOX_FIELDS
from crack_pipeline.vision.explain.severity import image_summary, severity_words
from crack_pipeline.vision.explain.tiling import resize_heatmap

LARGE_PHOTO_PIXELS = 1_000_000  # overlays of larger photos are written as JPEG (a 12-MP PNG is ~20 MB)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # float16: a 12-MP photo's map is 24 MB, not 48, and a heatmap needs no more than 3 digits.
    np.save(buffer, array.astype(np.float16))
    return buffer.getvalue()


@dataclass
class PhotoArtefacts:
    """What one photo explained by one method adds to a run."""

    files: dict[str, bytes]  # relative path -> content: heatmap, mask, overlay, panel (tile maps)
    row: dict  # its row of the predictions table
    card: dict  # its card in the gallery
    boxes: list[dict]  # its rows of the boxes table
    measurements: pd.DataFrame  # its rows of the crack measurements table
    picture: np.ndarray  # the overlay, for the grids (not written)


class ArtefactWriter:
    """Turns explained photos into files and table rows (`artefacts`), and collects them in memory, photo by
    photo, as {relative path: bytes} and table rows (`add`, `finish`)."""

    def __init__(
        self,
        threshold: float,
        mm_per_pixel: float | None = None,
        severity_bands: Mapping[str, float] | None = None,
        join_gap: float = 0.0,
        scales: Mapping[str, float] | None = None,
        measuring: Mapping[str, Any] | None = None,
    ) -> None:
        self.threshold = threshold  # p(crack) from which an image is called cracked
        self.mm_per_pixel, self.severity_bands = mm_per_pixel, severity_bands  # see measure_cracks
        self.join_gap = join_gap  # tile sides: pieces this near are one crack (CrackMaskConfig.join_gap)
        self.scales = dict(scales or {})  # {file: its own mm a pixel}, before mm_per_pixel (scales.py)
        self.measuring = dict(measuring or {})  # measure_cracks' crest, spurs: as a survey begun before did
        # Measured once on nothing: bad settings stop the run before its first photo, and the columns are
        # known for a run without a single crack.
        some_scale = next(iter(self.scales.values()), mm_per_pixel)
        nothing = measure_cracks(np.zeros((1, 1), dtype=bool), some_scale, severity_bands)
        self.measurement_columns = ["file", "method", *nothing.columns]
        self.files: dict[str, bytes] = {}
        self.rows: list[dict] = []
        self.gallery: list[dict] = []
        self.box_rows: list[dict] = []
        self.measurement_tables: list[pd.DataFrame] = []
        self._grid_pictures: GridPictures = {}

    def add(self, method: str, photo: TiledPhoto, explanation: PhotoExplanation) -> None:
        """One photo explained by one method: its files, its predictions row, its gallery card, its boxes."""
        name = f"{method}/{safe_name(photo.index, photo.ref.name)}"
        made = self.artefacts(method, photo, explanation, name)
        self.files.update(made.files)
        self.rows.append(made.row)
        self.gallery.append(made.card)
        self.box_rows.extend(made.boxes)
        self.measurement_tables.append(made.measurements)
        add_grid_picture(self._grid_pictures, made.card, lambda: made.picture)

    def artefacts(
        self, method: str, photo: TiledPhoto, explanation: PhotoExplanation, name: str
    ) -> PhotoArtefacts:
        """The files (named `name` + suffix) and table rows of one photo explained by one method."""
        ref = photo.ref
        files = {}
        probability = explanation.probability
        called_by = explanation.called_by
        predicted = "crack" if called_by else "no_crack"
        by = " (by the segmenter)" if called_by == "segmenter" else ""  # a call the classifier did not make
        threshold = self.threshold if explanation.threshold is None else explanation.threshold
        correct = None if ref.label is None else ref.label == predicted
        height, width = photo.image.shape[:2]
        overlay_name = f"{name}_overlay.{'jpg' if height * width > LARGE_PHOTO_PIXELS else 'png'}"
        mask_name = f"{name}_mask.png" if explanation.crack_mask is not None else None
        # a PNG of the probability map took 0.12 s and 5x the bytes
        probability_name = f"{name}_probability.jpg" if photo.scope == "photo" else None
        regions = len(explanation.boxes)
        tiles = (
            f" | {len(photo.grid)} tiles, {regions} crack region{'' if regions == 1 else 's'}"
            if photo.scope == "photo"
            else ""
        )
        title = (
            f"{ref.name} | true {ref.label or '?'} | predicted {predicted}{by} | "
            f"p(crack) {rendering.probability_text(probability, threshold)} | {method}{tiles}"
        )
        files[f"{name}_heatmap.npy"] = npy_bytes(explanation.heatmap)
        if photo.scope == "photo":
            files[f"{name}_tiles.npy"] = npy_bytes(explanation.tile_probabilities)
        # The overlay is drawn and encoded on another core while the rest is made (numpy and Pillow work
        # outside the GIL).
        with ThreadPoolExecutor(max_workers=1) as pool:
            drawn = pool.submit(_overlay, photo.image, explanation, overlay_name)
            cracks, measured = self._measured(method, ref.name, explanation, photo.grid.tile_height)
            if mask_name:
                files[mask_name] = rendering.picture_png(explanation.crack_mask)  # 1-bit: 0.3 s less at 12 MP
            small = rendering.thumbnail(photo.image)
            files[f"{name}_panel.png"] = _panel_png(small, explanation, title, height)
            if probability_name:
                files[probability_name] = _probability_jpg(small, explanation)
            picture, files[overlay_name] = drawn.result()
        row = {
            "file": ref.name,
            "true_label": ref.label,
            "crack_probability": float(probability),
            "threshold": explanation.threshold,  # its domain's, where the model has one
            "predicted_label": predicted,
            "called_by": called_by,
            "correct": correct,
            "method": method,
            "width": width,
            "height": height,
            "tiles": len(photo.grid),
            "explained_tiles": explanation.explained_tiles,
            "crack_regions": len(explanation.boxes),
            "mm_per_pixel": self.scales.get(ref.name, self.mm_per_pixel),  # what its cracks were measured at
            **measured,
        }
        card = {
            **row,
            "label": ref.label or "unlabelled",
            "predicted": predicted,
            "probability": float(probability),
            "threshold": threshold,  # the one it was called at, for the side its p(crack) is shown on
            "correct": "unknown" if correct is None else correct,
            "overlay": overlay_name,
            "panel": f"{name}_panel.png",
            "probability_map": probability_name,
            "mask": mask_name,
            "boxes": [
                {k: box[k] for k in ("x0", "y0", "x1", "y1", "probability", "found_by")}
                for box in explanation.boxes
            ],
        }
        boxes = [
            {"file": ref.name, "method": method, "box": number, **box}
            for number, box in enumerate(explanation.boxes)
        ]
        return PhotoArtefacts(files, row, card, boxes, cracks, picture)

    def _measured(
        self, method: str, file: str, explanation: PhotoExplanation, tile_side: int
    ) -> tuple[pd.DataFrame, dict[str, object]]:
        """The cracks of the explanation's mask (one row each) and their per-image summary columns."""
        if explanation.crack_mask is None:
            return pd.DataFrame(columns=self.measurement_columns), {}
        # Every crack the mask holds (one set under measure_cracks' own minimum outlined cracks the table did
        # not list).
        cracks = listed_cracks(
            explanation.crack_mask,
            round(self.join_gap * tile_side),
            mm_per_pixel=self.scales.get(file, self.mm_per_pixel),
            width_bands=self.severity_bands,
            **self.measuring,
        )
        cracks.insert(0, "method", method)
        cracks.insert(0, "file", file)
        return cracks, {f"cracks_{key}": value for key, value in image_summary(cracks).items()}

    def finish(
        self,
        model: str,
        progress_files: tuple[dict[str, bytes], dict[str, Any]] | None = None,
        skipped: dict[str, str] | None = None,
    ) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The grids of the first images of each method, the model's heatmaps through training
        (`progress_files`: their files and links, cam_strips.progress_pictures) and the gallery added to the
        files (listing the `skipped` ones, {file: why}); the files, the predictions table, the boxes table
        and the crack measurements table (one row per crack)."""
        pictures, links = progress_files or ({}, None)
        self.files.update(pictures)
        # The scales its cracks were measured at: a photo that could not be read was not (the gallery gave
        # its scale in the span of explain.scales).
        measured_at = {row["file"]: row["mm_per_pixel"] for row in self.rows if row["file"] in self.scales}
        severity = severity_words(self.mm_per_pixel, self.severity_bands, measured_at)
        self.files.update(
            summary_files(self.gallery, self._grid_pictures, model, self.threshold, links, severity, skipped)
        )
        predictions, boxes, measurements = tables(
            self.rows, self.box_rows, self.measurement_tables, self.measurement_columns
        )
        return self.files, predictions, boxes, measurements


def _panel_png(small: np.ndarray, explanation: PhotoExplanation, title: str, height: int) -> bytes:
    """The panel of a photo `height` pixels high, from its thumbnail `small`: original | heatmap | overlay
    with the crack outline and boxes, titled."""
    size = (small.shape[1], small.shape[0])
    mask = explanation.crack_mask
    panel = rendering.panel(
        small,
        resize_heatmap(explanation.heatmap, size),
        title,
        rendering.scale_boxes(explanation.boxes, small.shape[0] / height),
        None if mask is None else rendering.mask_thumbnail(mask, size),
        rendering.PHOTO_SCALE if explanation.tile_probabilities.size > 1 else rendering.PATCH_SCALE,
    )
    return rendering.picture_png(panel)


def _probability_jpg(small: np.ndarray, explanation: PhotoExplanation) -> bytes:
    """The tile probability map over the photo's thumbnail `small`, as JPEG."""
    probability = resize_heatmap(explanation.probability_map, (small.shape[1], small.shape[0]))
    return rendering.image_bytes(rendering.overlay(small, probability), "probability.jpg")


def _overlay(image: np.ndarray, explanation: PhotoExplanation, name: str) -> tuple[np.ndarray, bytes]:
    """The heatmap over the image, crack outlines and boxes drawn, and the bytes of its file `name`."""
    picture = rendering.marked_overlay(image, explanation.heatmap, explanation.crack_mask, explanation.boxes)
    return picture, rendering.image_bytes(picture, name)


def summary_files(
    cards: list[dict],
    grid_pictures: GridPictures,
    model: str,
    threshold: float,
    progress: dict[str, Any] | None = None,
    severity: str | None = None,
    skipped: dict[str, str] | None = None,
) -> dict[str, bytes]:
    """Per method the grids of its first pictures of each class (`grid_files`), and the gallery of
    `cards`, showing the model's heatmaps through training where `progress` links them
    (cam_strips.progress_pictures), what the severity bands mean (`severity`, severity_words) and which files
    were not explained (`skipped`, {file: why})."""
    files = grid_files(grid_pictures)
    files["index.html"] = rendering.gallery_html(
        cards, model, threshold, progress, severity, skipped
    ).encode()
    return files


def tables(
    rows: list[dict],
    box_rows: list[dict],
    measurement_tables: list[pd.DataFrame],
    measurement_columns: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The predictions, boxes and crack measurements tables of a run from its photos' rows."""
    boxes = pd.DataFrame(box_rows, columns=["file", "method", "box", *BOX_FIELDS, "found_by"])
    found = [table for table in measurement_tables if len(table)]
    # No crack anywhere: the columns still say what would be measured.
    measurements = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=measurement_columns)
    return pd.DataFrame(rows), boxes, measurements
