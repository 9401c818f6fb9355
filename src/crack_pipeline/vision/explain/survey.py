"""A survey: a folder of thousands of photos explained photo by photo into a folder that only grows, so that
a killed run continues where it stopped and N processes can share the work (shards); merged at the end
into one gallery and one set of tables.

Layout of a survey folder: `survey.json` (what the survey explains, with which model and settings), with
the model's heatmaps through training beside it where its checkpoint recorded them (`cam_progress/*.png`,
linked from `cam_progress.json`), `photos/<method>/<key>_*` (each photo's files, as `explain` writes them)
and `records/<key>.json` (its table rows and gallery cards; written last, so a photo counts as done only
once all its files are). A photo's key comes from its name and its content (SHA-256), so a photo replaced
under its name (re-shot, repaired, or another folder's) is explained again beside its first explanation,
and the merge shows the one of the content the folder holds (`survey_contents`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import VALIDATED, decode_image
from crack_pipeline.vision.explain.artefacts import ArtefactWriter, summary_files, tables
from crack_pipeline.vision.explain.cam_strips import linked_through, progress_pictures
from crack_pipeline.vision.explain.grids import GridPictures, add_grid_picture
from crack_pipeline.vision.explain.photo_explainer import PhotoExplainer
from crack_pipeline.vision.explain.scales import own_scales
from crack_pipeline.vision.explain.severity import severity_words
from crack_pipeline.vision.explain.survey_contents import Content
from crack_pipeline.vision.explain.survey_keys import name_digest, photo_key, record_name
from crack_pipeline.vision.settings import ConfigError

MANIFEST = "survey.json"
PHOTOS = "photos/"
PROGRESS = "cam_progress.json"  # links to the survey model's heatmaps through training
LINKED = ("overlay", "panel", "probability_map", "mask")  # a gallery card's links to a photo's files


@dataclass(frozen=True)
class Shard:
    """The `index`-th of `count` deterministic parts of a survey (0 <= index < count)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """`"i/N"` (i from 0 to N-1), or the whole survey for None."""
        if text is None:
            return cls()
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not match or not int(match[1]) < int(match[2]):
            raise ConfigError(
                f"explain.shard must be 'i/N' with 0 <= i < N (e.g. '0/4' .. '3/4'), got {text!r}"
            )
        return cls(int(match[1]), int(match[2]))

    def holds(self, name: str) -> bool:
        """Whether the photo `name` (its path in the survey's folder) is this shard's: by a hash of the
        name, so a photo keeps its shard when others are added to the folder."""
        return name_digest(name) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def progress_saves(checkpoint: Mapping[str, Any]) -> dict[str, bytes]:
    """The survey model's heatmaps through training, where its checkpoint recorded them: the strips and
    overview, and their links (PROGRESS), saved once with the manifest; nothing without a record."""
    record = checkpoint.get("cam_progress")
    if not record:
        return {}
    pictures, links = progress_pictures(record, checkpoint["variant"])
    return {**pictures, PROGRESS: _json(links)}


def survey_saves(
    explainer: PhotoExplainer,
    writer: ArtefactWriter,
    items: Iterable[ImageRef],
    contents: Mapping[str, Content],
) -> Iterator[dict[str, bytes]]:
    """Per photo of `items` (explained, or found unreadable) one save: its files under `photos/`, then its
    record (table rows, gallery cards; `skipped` with the reason for an unreadable one), keyed by its name
    and its content (`contents`, as the run found it)."""
    skipped: dict[str, str] = {}
    reported = 0
    for chunk in explainer.explain(list(items), skipped):
        for photo, explanations in zip(chunk.photos, chunk.explanations, strict=True):
            name, content = photo.ref.name, contents[photo.ref.name]
            files: dict[str, bytes] = {}
            record: dict[str, Any] = {
                **_identity(name, content),
                "rows": [],
                "cards": [],
                "boxes": [],
                "cracks": [],
            }
            for method, explanation in explanations.items():
                key = photo_key(name, content.sha256)
                made = writer.artefacts(method, photo, explanation, f"{method}/{key}")
                files.update({PHOTOS + file: data for file, data in made.files.items()})
                record["rows"].append(made.row)
                record["cards"].append(made.card)
                record["boxes"].extend(made.boxes)
                record["cracks"].extend(made.measurements.to_dict("records"))
            yield {**files, record_name(name, content.sha256): _json(record)}
            release_freed_memory()  # written: its arrays are garbage; keeps a long survey's memory flat
        yield from _skipped_saves(skipped, reported, contents)
        reported = len(skipped)
    yield from _skipped_saves(skipped, reported, contents)


@functools.cache
def _glibc_trim():
    """glibc's malloc_trim, or None where the C library is another (macOS, musl, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system (glibc's `malloc_trim(0)`, all arenas): a 12-MP photo's
    freed arrays leave holes that the next photo's do not always fit, and a long survey's memory would
    creep. True when something was released; a no-op returning False without glibc."""
    trim = _glibc_trim()
    return bool(trim(0)) if trim is not None else False


def _skipped_saves(
    skipped: dict[str, str], reported: int, contents: Mapping[str, Content]
) -> list[dict[str, bytes]]:
    """The records of the unreadable photos from the `reported`-th on."""
    return [
        {record_name(name, contents[name].sha256): _json({**_identity(name, contents[name]), "skipped": why})}
        for name, why in list(skipped.items())[reported:]
    ]


def _identity(name: str, content: Content) -> dict[str, Any]:
    """What a record says of its photo: name, content (with the file's size and times), and when it was
    explained (the latest wins where the photo's content now is unknown)."""
    return {
        "file": name,
        "sha256": content.sha256,
        "stat": list(content.stat),
        "explained_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, default=_plain).encode()


def _plain(value: Any) -> Any:
    """numpy scalars (from tables) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value)} to a survey record")


@dataclass
class MergedSurvey:
    files: dict[str, bytes]  # the gallery (index.html) and the grids
    predictions: pd.DataFrame
    boxes: pd.DataFrame
    measurements: pd.DataFrame
    skipped: dict[str, str]  # photo -> why it could not be read


def merge_records(
    records: Iterable[Mapping[str, Any]],
    read: Any,
    manifest: Mapping[str, Any],
    measurement_columns: list[str],
    link_prefix: str,
    progress: Mapping[str, Any] | None = None,
) -> MergedSurvey:
    """The gallery, grids and tables of a survey from its photos' records, in order of file name, whichever
    shard wrote them. `read(relative path) -> bytes` reads a photo's file (the grids' overlays);
    `link_prefix` leads from the gallery's folder to the survey's; `progress` (the survey's PROGRESS links)
    puts the model's heatmaps through training in the gallery."""
    rows, cards, boxes, cracks, skipped = [], [], [], [], {}
    pictures: GridPictures = {}
    records = sorted(records, key=lambda r: r["file"])
    for record in records:
        if "skipped" in record:
            skipped[record["file"]] = record["skipped"]
            continue
        # Records written before the crack segmenter could call a photo: the classifier called them; before
        # rows recorded their scale: measured at the survey's.
        called, scale = {"crack": "classifier"}, manifest.get("mm_per_pixel")
        rows.extend(
            {
                **row,
                "called_by": row.get("called_by", called.get(row["predicted_label"])),
                "mm_per_pixel": row.get("mm_per_pixel", scale),
            }
            for row in record["rows"]
        )
        # Boxes written before the segmenter's were: all of the classifier's tiles.
        boxes.extend({**box, "found_by": box.get("found_by", "classifier")} for box in record["boxes"])
        cracks.append(pd.DataFrame(record["cracks"], columns=measurement_columns))
        for card in record["cards"]:
            # Cards written before each recorded the threshold it was called at (grid captions round by it).
            card = card if card.get("threshold") is not None else {**card, "threshold": manifest["threshold"]}
            overlay = PHOTOS + card["overlay"]
            # The survey's own file, of its photo's size: the default limits stopped the merge on the overlay
            # of a photo ingest.min_side (max_pixels) let in, as too small (too large).
            add_grid_picture(
                pictures, card, lambda overlay=overlay: decode_image(read(overlay), VALIDATED).pixels
            )
            cards.append({**card, **{k: link_prefix + PHOTOS + card[k] for k in LINKED if card.get(k)}})
    linked = linked_through(progress, link_prefix) if progress else None
    default = manifest.get("mm_per_pixel")
    severity = severity_words(default, manifest.get("severity_bands"), own_scales(records, default))
    model, threshold = manifest["model"], manifest["threshold"]
    files = summary_files(cards, pictures, model, threshold, linked, severity, skipped)
    predictions, box_table, measurements = tables(rows, boxes, cracks, measurement_columns)
    return MergedSurvey(files, predictions, box_table, measurements, skipped)
