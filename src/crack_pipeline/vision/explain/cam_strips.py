"""Pictures of heatmaps through training, from a `cam_progress.CamProgress` record: each sample's overlay
per epoch, one strip per sample, an overview of all, and their files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.explain.names import safe_name
from crack_pipeline.vision.explain.rendering import PATCH_SCALE, overlay, picture_png
from crack_pipeline.vision.explain.tiling import resize_heatmap
from crack_pipeline.vision.figures import CELL, sheet, with_colour_bar

OVERVIEW = "cam_progress/overview.png"


def progress_overlays(record: dict[str, Any]) -> Iterator[tuple[int, str, np.ndarray]]:
    """(epoch, sample name, the heatmap over the image) for every recorded epoch and sample."""
    pictures = [image.permute(1, 2, 0).numpy() for image in record["images"]]
    for epoch, heatmaps in zip(record["epochs"], record["heatmaps"], strict=True):
        for name, picture, heatmap in zip(sample_names(record), pictures, heatmaps, strict=True):
            size = (picture.shape[1], picture.shape[0])
            yield epoch, name, overlay(picture, resize_heatmap(heatmap.numpy() / 255.0, size))


def slider_pictures(record: dict[str, Any]) -> Iterator[tuple[int, str, np.ndarray]]:
    """`progress_overlays`, each over the colour bar: MLflow's image slider shows them one at a time, with
    nothing else beside them that says what the colours mean."""
    for epoch, name, picture in progress_overlays(record):
        yield epoch, name, with_colour_bar(picture, PATCH_SCALE)


def sample_names(record: dict[str, Any]) -> list[str]:
    """A unique, file-safe name per sample: its number, true class and file stem."""
    return [
        safe_name(i, f"{CLASS_NAMES[label]}_{PurePosixPath(name).name}")
        for i, (name, label) in enumerate(zip(record["names"], record["labels"], strict=True))
    ]


def _strip_rows(record: dict[str, Any]) -> dict[str, list[tuple[np.ndarray, str]]]:
    """Per sample: its image, then its heatmap after each recorded epoch, captioned with p(crack)."""
    rows = {
        name: [(image.permute(1, 2, 0).numpy(), name)]
        for image, name in zip(record["images"], sample_names(record), strict=True)
    }
    for index, (epoch, name, picture) in enumerate(progress_overlays(record)):
        probability = record["probabilities"][index // len(rows)][index % len(rows)]
        rows[name].append((picture, f"epoch {epoch}  p(crack) {probability:.2f}"))
    return rows


def progress_sheets(record: dict[str, Any], variant: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One strip per sample (pixels), keyed by its name: the image, then its heatmap epoch by epoch, over the
    colour bar (before, these alone of the heatmap pictures had none); and the overview of all of them. The
    overlays are drawn once for both."""
    rows, cell = _strip_rows(record), _cell(record)
    strips = {
        name: with_colour_bar(
            sheet([p for p, _ in row], [c for _, c in row], f"{variant}: {name}", len(row), cell), PATCH_SCALE
        )
        for name, row in rows.items()
    }
    return strips, _overview(rows, record, variant, cell)


def progress_overview(record: dict[str, Any], variant: str) -> np.ndarray:
    """The overview alone (see `progress_sheets`)."""
    return _overview(_strip_rows(record), record, variant, _cell(record))


def _overview(
    rows: dict[str, list[tuple[np.ndarray, str]]], record: dict[str, Any], variant: str, cell: int
) -> np.ndarray:
    """Every sample's strip, one row each, titled with the pointing game per epoch, over the colour bar
    (pixels): the heatmaps are CamExplainer's, each scaled to its own strongest, as a patch's panel."""
    pointing = pointing_by_epoch(record)
    title = f"{variant}: {record['method']} of the crack class after each epoch (pointing game {pointing})"
    cells = [entry for row in rows.values() for entry in row]
    overview = sheet([p for p, _ in cells], [c for _, c in cells], title, len(record["epochs"]) + 1, cell)
    return with_colour_bar(overview, PATCH_SCALE)


def _cell(record: dict[str, Any]) -> int:
    """The samples' own side, up to a sheet's usual cell: not enlarged (at 160 px, 40 % of the pixels to
    encode)."""
    return min(CELL, max(record["images"].shape[-2:]))


def progress_pictures(record: dict[str, Any], variant: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The strips and the overview as PNG files under `cam_progress/`, and what a gallery beside them links:
    the pointing game by epoch, the overview and the strips."""
    strips, overview = progress_sheets(record, variant)
    files = {f"cam_progress/{name}.png": picture_png(strip) for name, strip in strips.items()}
    links = {"pointing": pointing_by_epoch(record), "overview": OVERVIEW, "strips": sorted(files)}
    files[OVERVIEW] = picture_png(overview)
    return files, links


def linked_through(links: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`progress_pictures`' links as seen from a gallery that `prefix` leads from to their folder."""
    return {
        **links,
        "overview": prefix + links["overview"],
        "strips": [prefix + strip for strip in links["strips"]],
    }


def pointing_by_epoch(record: dict[str, Any]) -> str:
    """`epoch: pointing game` per recorded epoch ("-" where no sample had a mask)."""
    return ", ".join(
        f"{epoch}: {'-' if score is None else f'{score:.2f}'}"
        for epoch, score in zip(record["epochs"], record["pointing_game"], strict=True)
    )
