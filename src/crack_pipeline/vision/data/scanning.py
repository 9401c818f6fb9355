"""Checking a folder of labelled images: decode every file, hash it, find duplicates and groups."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import (
    NOT_IMAGE,
    UNREADABLE,
    UNRECOGNISED_FORMAT,
    ImageLimits,
    ImageRejected,
    decode_image,
    read_image_file,
)
from crack_pipeline.vision.data.labels import LabelResolver
from crack_pipeline.vision.data.parallel import parallel_map
from crack_pipeline.vision.settings import ConfigError

logger = logging.getLogger(__name__)

OK = "ok"
UNREADABLE_NAME = "unreadable_name"  # a file name that is not UTF-8 (Folder.unreadable_names)
LABEL_CONFLICT = "label_conflict"  # the same bytes under two labels: every copy is excluded
JPEG_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".jpe"}  # .jfif, .jpe: as Windows saves some
IMAGE_SUFFIXES = JPEG_SUFFIXES | {".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jp2", ".ppm", ".pgm"}
INDEX_COLUMNS = [
    "path",
    "label",
    "status",
    "detail",
    "width",
    "height",
    "mode",
    "format",
    "bytes",
    "sha256",
    "group",
    "duplicate_of",
    "root",  # the folder `path` is relative to
]
_CHUNK = 64  # files per task: amortises inter-process traffic and still balances the cores


@dataclass
class FileCheck:
    path: str
    status: str = OK
    detail: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    bytes: int = 0
    sha256: str = ""
    histogram: np.ndarray | None = field(default=None, repr=False)  # 3x256 RGB counts of a pixel sample


def check_file(path: Path, relative: str, limits: ImageLimits, with_histogram: bool = True) -> FileCheck:
    """Read, hash and decode one file (at full size only when a histogram is wanted); never raises."""
    result = FileCheck(path=relative)
    try:
        data = read_image_file(path, limits)  # a large file that is no image or too large: rejected unread
        result.bytes, result.sha256 = len(data), hashlib.sha256(data).hexdigest()
        decoded = decode_image(data, limits, reduced=not with_histogram)
    except OSError as error:
        result.status, result.detail = UNREADABLE, str(error)
        return result
    except ImageRejected as rejection:
        result.status, result.detail = rejection.reason, rejection.detail
        return result
    result.width, result.height = decoded.size
    result.mode, result.format = decoded.source_mode, decoded.source_format
    if with_histogram:
        result.histogram = decoded.histogram()
    return result


def _check_chunk(job: tuple[Path, list[tuple[str, bool]], ImageLimits]) -> list[tuple]:
    """A chunk of checks as index rows (`_ROW_FIELDS`), histograms as raw bytes: pickling objects
    that hold arrays cost about a tenth of the decoding itself."""
    root, files, limits = job
    rows = []
    for relative, with_histogram in files:
        rows.append(_row(check_file(root / relative, relative, limits, with_histogram)))
    return rows


def _row(c: FileCheck) -> tuple:
    """A check as an index row (`_ROW_FIELDS`), its histogram as raw bytes."""
    histogram = None if c.histogram is None else c.histogram.astype(np.uint32).tobytes()
    return (c.path, c.status, c.detail, c.width, c.height, c.mode, c.format, c.bytes, c.sha256, histogram)


_ROW_FIELDS = [f.name for f in fields(FileCheck)]  # the tuples workers send back, in this order


def group_of(relative: str, pattern: re.Pattern | None) -> str:
    """Group id from the file stem: the pattern's `group` (or first) capture, else the file itself."""
    if pattern is None:
        return relative
    match = pattern.search(_stem(relative))
    if match is None:
        return relative
    if "group" in match.groupdict():
        return match.group("group")
    return match.group(1) if match.groups() else match.group(0)


def _stem(relative: str) -> str:
    return relative.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def group_regex(group_pattern: str | None, setting: str = "group_pattern") -> re.Pattern | None:
    """`group_pattern` compiled, or a `ConfigError` naming it and its `setting`: checked before any file is
    decoded (a typo once surfaced as a bare `re.error` after a whole folder's decoding)."""
    if not group_pattern:
        return None
    try:
        return re.compile(group_pattern)
    except re.error as error:
        # Quoted as YAML quotes it in single quotes, where a backslash is itself: repr() doubled each.
        quoted = "'" + group_pattern.replace("'", "''") + "'"
        raise ConfigError(f"{setting}: {quoted} is not a regular expression: {error}") from None


def warn_ungrouped(index: pd.DataFrame, pattern: re.Pattern | None, root: str | Path) -> None:
    """A warning naming the kept files of `index` (grouped by `group_of`) whose names `pattern` finds no
    parent photo in: each is a group of its own, so patches of one photo may land on both sides of the
    split, which the pattern was set to prevent (a pattern that matches no name at all groups nothing)."""
    if pattern is None:
        return
    kept = index[index.status == OK]
    unmatched = list(kept.path[kept.group == kept.path])  # group_of: the file itself where none matched
    if unmatched:
        logger.warning(
            "%s: group_pattern %r finds no parent photo in %d of the %d kept file names (%s%s): each is a "
            "group of its own, so patches of one photo may fall on both sides of the split",
            root,
            pattern.pattern,
            len(unmatched),
            len(kept),
            ", ".join(unmatched[:3]),
            " ..." if len(unmatched) > 3 else "",
        )


@dataclass
class ScanResult:
    index: pd.DataFrame  # one row per file, INDEX_COLUMNS
    histograms: dict[str, np.ndarray]  # label -> 3x256 pixel counts over the sampled kept images


def scan_folder(
    folder: Folder,
    aliases: Mapping[str, Sequence[str]],
    limits: ImageLimits = ImageLimits(),
    group_pattern: str | None = None,
    workers: int | None = None,
    histogram_images: int = 500,
    require_labels: bool = True,
) -> ScanResult:
    """Label, decode and hash every file of `folder`; skipped files keep a row with their reason.

    Unknown class folders fail before any file is decoded. Files are checked in chunks on all
    cores (`workers`; 1 checks inline). Pixel histograms come from an even sample of at most
    `histogram_images` files per class: plenty for statistics, and no cost on huge folders.
    Identical files under one label are kept, but share a group, so that a split never puts
    copies of one image on both sides. With `require_labels=False` (photos to explain), files
    outside class folders are checked too and keep an empty label.
    """
    pattern = group_regex(group_pattern)
    resolver = LabelResolver(aliases)
    labels = {path: resolver.label_of(path) for path in folder.files}
    if require_labels:
        resolver.require_labels(
            (p for p, label in labels.items() if label is None and looks_like_image(p)),
            folder.name,
            labelled_files=sum(label is not None and looks_like_image(p) for p, label in labels.items()),
        )

    labelled = [p for p in folder.files if labels[p] is not None or not require_labels]
    sampled = _even_sample(labelled, labels, histogram_images)
    files = [(p, p in sampled) for p in labelled]
    chunks = [(folder.root, files[i : i + _CHUNK], limits) for i in range(0, len(files), _CHUNK)]
    # fork: the workers only decode with Pillow, so they start in milliseconds without re-imports.
    chunk_rows = parallel_map(_check_chunk, chunks, workers, start_method="fork")
    rows = [row for chunk in chunk_rows for row in chunk]
    # Not decoded (no class to give it): skipped by its name, in the words of one found in a class folder.
    rows += [
        _row(FileCheck(p, NOT_IMAGE, UNRECOGNISED_FORMAT))
        for p in folder.files
        if labels[p] is None and require_labels
    ]
    rows += [
        _row(FileCheck(p, UNREADABLE_NAME, "the file name is not UTF-8 (shown with \\x escapes): rename it"))
        for p in folder.unreadable_names
    ]
    frame = pd.DataFrame(rows, columns=_ROW_FIELDS).sort_values("path", ignore_index=True)
    frame["label"] = frame.path.map(labels).fillna("")  # an unreadable name is reported unlabelled
    frame["group"] = [group_of(p, pattern) for p in frame.path]
    warn_ungrouped(frame, pattern, folder.shown)
    frame["duplicate_of"] = ""
    frame["root"] = folder.shown
    _resolve_duplicates(frame)
    histograms: dict[str, np.ndarray] = {}
    for label, histogram in frame.loc[frame.status == OK, ["label", "histogram"]].itertuples(index=False):
        if histogram is not None:
            counts = np.frombuffer(histogram, np.uint32).reshape(3, 256)
            histograms[label] = histograms.get(label, np.zeros((3, 256), np.int64)) + counts
    return ScanResult(index=frame[INDEX_COLUMNS], histograms=histograms)


def looks_like_image(path: str) -> bool:
    """Whether a file's name ends like an image's (its content is checked when it is decoded)."""
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def _even_sample(paths: Sequence[str], labels: Mapping[str, str | None], per_label: int) -> set[str]:
    by_label: dict[str | None, list[str]] = {}
    for path in paths:
        by_label.setdefault(labels[path], []).append(path)
    sample = set()
    for members in by_label.values():
        step = max(1, -(-len(members) // per_label))
        sample.update(members[::step])
    return sample


def _resolve_duplicates(index: pd.DataFrame) -> None:
    """In place: copies under one label (or none) join the first copy's group; copies filed under two
    labels are excluded. An unlabelled copy (a photo to explain) conflicts with no label."""
    decoded = index[index.status == OK]
    for _, copies in decoded[decoded.sha256.duplicated(keep=False)].groupby("sha256", sort=False):
        labelled = copies.label[copies.label != ""]
        if labelled.nunique() > 1:
            detail = f"identical content under labels {sorted(labelled.unique())}: " + ", ".join(copies.path)
            index.loc[copies.index, ["status", "detail"]] = [LABEL_CONFLICT, detail]
        else:
            first = labelled.index[0] if len(labelled) else copies.index[0]  # the copy that says what it is
            others = copies.index.drop(first)
            index.loc[others, "duplicate_of"] = index.at[first, "path"]
            index.loc[others, "group"] = index.at[first, "group"]


# What becomes of a copy, by the stage that checked the folder (there is a split only at ingest).
DUPLICATES_KEPT_AS = {
    "ingest": "each kept in the same split as its copy",
    "explain input": "each explained once, as the file it copies",
    "evaluate_folder": "each scored once, as the file it copies",
}


def summary_lines(index: pd.DataFrame, stage: str = "ingest", examples: int = 3) -> list[str]:
    """The one-line summary of a folder's check (by `stage`: ingest, evaluate_folder...), then one line
    per skip reason (and for duplicates) with examples."""
    kept = index[index.status == OK]
    counts = kept.label.value_counts()
    skipped = index[index.status != OK]
    # Images outside class folders (a folder to explain or rank for labelling) are counted too: "kept 10
    # (crack 0, no_crack 0)" read as if nothing was kept.
    crack, no_crack = counts.get("crack", 0), counts.get("no_crack", 0)
    unlabelled = len(kept) - crack - no_crack
    lines = [
        f"{stage}: scanned {len(index)} files, kept {len(kept)} (crack {crack}, no_crack {no_crack}"
        f"{f', unlabelled {unlabelled}' if unlabelled else ''}), skipped {len(skipped)}"
    ]

    def listing(rows: pd.DataFrame, describe) -> str:
        more = f" and {len(rows) - examples} more" if len(rows) > examples else ""
        return ", ".join(describe(r) for r in rows.head(examples).itertuples()) + more

    # Several domains: a file by its key, `<domain>/<path>`, as `duplicate_of` names the copy in another
    # domain (two data sets may both hold a `Negative/00023.jpg`).
    several = "domain" in index.columns and index.domain.nunique() > 1

    def name(row) -> str:
        return f"{row.domain}/{row.path}" if several else row.path

    for reason, rows in skipped.groupby("status", sort=True):
        lines.append(
            f"  skipped, {reason}: {len(rows)} — " + listing(rows, lambda r: f"{name(r)} ({r.detail})")
        )
    duplicates = kept[kept.duplicate_of != ""]
    if len(duplicates):
        kept_as = DUPLICATES_KEPT_AS.get(stage)
        lines.append(
            f"  kept, exact duplicates{f' ({kept_as})' if kept_as else ''}: {len(duplicates)} — "
            + listing(duplicates, lambda r: f"{name(r)} = {r.duplicate_of}")
        )
    return lines
