"""Nodes of the `ingest` pipeline: validate a folder of labelled images and describe it."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field

from crack_pipeline.pipelines.ingest.classes import require_trainable_classes, require_usable_classes
from crack_pipeline.vision.data import eda
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.labels import LabelResolver
from crack_pipeline.vision.data.scanning import OK, group_regex, summary_lines
from crack_pipeline.vision.data.sources import (
    Source,
    check_domain_name,
    check_domains,
    domain_of_folder,
    image_files,
    listed_labels,
    scan_sources,
)
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError, settings_dataclass, settings_from

logger = logging.getLogger(__name__)


def scan_images(
    raw_images: Folder | None,
    ingest: dict[str, Any],
    data: dict[str, Any],
    train: dict[str, Any] | None = None,
    require_labels: bool = True,
    stage: str = "ingest",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode, validate, hash and label every file of the source folders.

    Args:
        raw_images: the one source folder (`data.source_dir`, or the synthetic images); unused when
            `data.sources` lists several.
        ingest: `params:ingest` — label_aliases, min_side, max_pixels, group_pattern, workers,
            histogram_images.
        data: `params:data` — `sources` (a list of {domain, path, group_pattern}; null: `raw_images` alone,
            as the domain `data.domain`, by default named after its folder).
        train: `params:train` — `variants` and `models`: folders whose images are all of a class no variant
            of them can train on are refused (`require_trainable_classes`), before any file is decoded as far
            as their folders' names tell; None: not checked (a folder to score or explain).
        require_labels: images outside class folders stop the run (True) or are kept unlabelled.
        stage: what the logged summary says it is the check of.
    Returns:
        The image index (one row per file, with its domain; skipped files keep their row with the reason)
        and the per-class RGB pixel histograms of the kept images (long format: label, channel, value,
        count).
    """
    sources = sources_of(raw_images, data, ingest.get("group_pattern"))
    folders = ", ".join(str(s.folder.root) for s in sources)
    # A file outside class folders (a misspelt Negativ/) is said by the scan, before it decodes any.
    if train is not None and None not in (listed := listed_labels(sources, ingest["label_aliases"])):
        found = f"image files per class folder, none decoded yet: {listed}"
        require_trainable_classes(set(listed), folders, train, found)
    result = scan_sources(
        sources,
        aliases=ingest["label_aliases"],
        limits=ImageLimits.of(ingest),
        workers=ingest.get("workers"),
        histogram_images=ingest.get("histogram_images", 500),
        require_labels=require_labels,
    )
    for line in summary_lines(result.index, stage):
        logger.info(line)
    if len(sources) > 1:
        for line in domain_lines(result.index):
            logger.info(line)
    if not (result.index.status == OK).any():
        raise InputError(f"no usable image in {folders}: {in_one_line(result.index, stage)}")
    require_every_domain(result.index, sources, stage)
    if train is not None:
        require_usable_classes(result.index, folders, train)
    return result.index, eda.histograms_to_frame(result.histograms)


def in_one_line(index: pd.DataFrame, stage: str) -> str:
    """The scan's summary (`summary_lines`) as one line for an error: its lines joined by "; " (by spaces,
    its reasons' indents ran into it: `skipped 2   skipped, not_an_image: ...`)."""
    return "; ".join(line.strip() for line in summary_lines(index, stage))


def require_every_domain(index: pd.DataFrame, sources: list[Source], stage: str) -> None:
    """An `InputError` naming the first source of several none of whose files was kept (a folder of masks,
    of raw files, of photos under the size limit): the run trained and measured on the other domains alone,
    the listed one missing from every per-domain line with nothing but a count of skipped files to say so."""
    kept = set(index.domain[index.status == OK])
    for i, source in enumerate(sources):
        if len(sources) > 1 and source.domain not in kept:
            rows = index[index.domain == source.domain]
            raise InputError(
                f"data.sources[{i}] ({source.domain}): no usable image in {source.folder.root}: "
                + in_one_line(rows, stage)
            )


def scan_folder_images(folder: Folder | None, ingest: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`scan_images` of one folder alone (e.g. `evaluate_folder.path`), whatever `data.sources` lists;
    images outside class folders are kept, unlabelled (to be ranked for labelling, not scored)."""
    return scan_images(folder, ingest, {}, None, require_labels=False, stage="evaluate_folder")


@settings_dataclass
class SourceSetting:
    domain: str
    path: str
    group_pattern: str | None = None  # null: ingest.group_pattern


@settings_dataclass
class IngestCounts:
    """`ingest`'s numbers: 0 histogram images failed with a ZeroDivisionError, a grid of 'x' or -1 images
    with numpy's error, each once every file had been decoded."""

    min_side: int = Field(32, ge=1)
    max_pixels: int = Field(64_000_000, ge=1)
    workers: int | None = Field(None, ge=1)
    histogram_images: int = Field(500, ge=1)
    sample_grid_size: int = Field(16, ge=1)


def check_ingest_settings(ingest: dict[str, Any]) -> None:
    """`ingest.group_pattern`, `ingest.label_aliases` and its numbers, as a scan reads them, without
    scanning a folder (checked before a run's first node)."""
    group_regex(ingest.get("group_pattern"), "ingest.group_pattern")
    LabelResolver(ingest.get("label_aliases") or {})
    counts = {name: value for name, value in ingest.items() if name in IngestCounts.__dataclass_fields__}
    settings_from(IngestCounts, counts, "ingest")


def check_sources_settings(data: dict[str, Any]) -> None:
    """Each `data.sources` entry's settings and `group_pattern`, as `sources_of` reads them, and their domain
    names (`check_domains`), without scanning a folder (checked before a run's first node)."""
    domains = []
    for i, entry in enumerate(data.get("sources") or []):
        entry_setting = f"data.sources[{i}]"
        setting = settings_from(SourceSetting, entry, entry_setting)
        group_regex(setting.group_pattern, f"{entry_setting}.group_pattern")
        domains.append(setting.domain)
    try:
        check_domains(domains)
        if not domains and data.get("domain"):  # one folder's domain
            check_domain_name(data["domain"], "data.domain")
    except InputError as error:
        raise ConfigError(str(error)) from None


def sources_of(raw_images: Folder | None, data: dict[str, Any], group_pattern: str | None) -> list[Source]:
    """The folders to ingest: those `data.sources` lists, else `raw_images` as one domain."""
    listed = data.get("sources")
    if not listed:
        if raw_images is None:
            raise InputError(
                "data.source_dir is not set and the built-in synthetic data does not exist: pass "
                "--params=data.source_dir=DIR, list folders in data.sources, or run `kedro run` once"
            )
        domain = data.get("domain") or domain_of_folder(raw_images.root)
        check_domain_name(domain, "data.domain")  # named so: scan_sources' check says data.sources[0]
        return [Source(domain, raw_images, group_pattern)]
    if data.get("source_dir"):
        raise InputError(
            f"data.source_dir ({data['source_dir']}) is set, but data.sources lists the folders of this "
            "environment and would be ingested instead: add the folder to data.sources (with a domain name), "
            "or run it in an environment without data.sources"
        )
    sources = []
    for i, entry in enumerate(listed):
        setting = settings_from(SourceSetting, entry, f"data.sources[{i}]")
        try:
            folder = Folder.scan(setting.path)
        except OSError as error:
            raise InputError(f"data.sources[{i}] ({setting.domain}): {error}") from None
        sources.append(Source(setting.domain, folder, setting.group_pattern or group_pattern))
    check_separate_folders(sources)
    return sources


def check_separate_folders(sources: list[Source]) -> None:
    """Raise `InputError` when a source's folder is another's, or inside it (through links too): the files
    they share would be ingested once in each domain, counted, trained on and tested twice."""
    check_domains([source.domain for source in sources])  # a name used twice is the plainer mistake
    real = [source.folder.root.resolve() for source in sources]
    for j, later in enumerate(real):
        for i, earlier in enumerate(real[:j]):
            if later == earlier:
                how = "is the folder of"
            elif later.is_relative_to(earlier):
                how = "lies inside the folder of"
            elif earlier.is_relative_to(later):
                how = "holds the folder of"
            else:
                continue
            raise InputError(
                f"data.sources[{j}] ({sources[j].domain}): its folder {str(later)!r} {how} "
                f"data.sources[{i}] ({sources[i].domain}), {str(earlier)!r}: their shared images would be "
                "ingested in both domains, each counted twice. List every folder once (sibling folders, such "
                "as sdnet2018/W and sdnet2018/D, are fine)"
            )


def domain_lines(index: pd.DataFrame) -> list[str]:
    """One line per domain: its kept images by class and its groups."""
    kept = index[index.status == OK]
    lines = []
    for domain, rows in kept.groupby("domain", sort=False):
        counts = rows.label.value_counts()
        lines.append(
            f"  domain {domain}: crack {counts.get('crack', 0)}, no_crack {counts.get('no_crack', 0)}, "
            f"{rows.group.nunique()} groups"
        )
    return lines


def describe_images(image_index: pd.DataFrame, pixel_histograms: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """EDA tables of the kept images: class counts, image-size distribution, per-class channel statistics."""
    kept = image_index[image_index.status == OK]
    class_counts = eda.class_counts(image_index)
    sizes = kept.groupby(["label", "width", "height"]).size().rename("images").reset_index()
    return class_counts, sizes, eda.channel_statistics(pixel_histograms)


def plot_intensity_histograms(pixel_histograms: pd.DataFrame) -> Figure:
    """Per-class intensity histograms, one panel per RGB channel."""
    return eda.plot_histograms(pixel_histograms)


def plot_sample_grid(image_index: pd.DataFrame, ingest: dict[str, Any]) -> Figure:
    """A labelled grid of `ingest.sample_grid_size` kept images, drawn at random with a fixed seed, each
    named by its domain and file name."""
    kept = image_index[image_index.status == OK]
    count = min(int(ingest.get("sample_grid_size", 16)), len(kept))
    picks = kept.iloc[np.random.default_rng(0).choice(len(kept), size=count, replace=False)]
    names = [f"{d}: {p.rsplit('/', 1)[-1]}" for d, p in zip(picks.domain, picks.path, strict=True)]
    return eda.plot_sample_grid(image_files(picks), names, picks.label.tolist())
