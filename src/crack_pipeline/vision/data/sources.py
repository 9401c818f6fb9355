"""Several labelled folders in one data set, each a named domain (a camera, a surface, a data set).

Every image keeps its domain, so metrics can be reported per domain and a split can keep each domain's
class balance; groups (parent photos) are named within their domain, so two data sets that both number
their photos from 1 never share a group. An image is known everywhere by its key `<domain>/<path>`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.labels import LabelResolver, UnknownLabelFolders
from crack_pipeline.vision.data.scanning import LABEL_CONFLICT, OK, ScanResult, looks_like_image, scan_folder
from crack_pipeline.vision.errors import InputError

DOMAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Folder names that say nothing of where images come from: such a folder is named after its parent.
GENERIC_FOLDER_NAMES = {"images", "image", "imgs", "data", "dataset", "raw", "patches", "all"}


@dataclass(frozen=True)
class Source:
    domain: str
    folder: Folder
    group_pattern: str | None = None  # the parent photo in a file name; None: each file is its own group


def domain_of_folder(root: str | Path) -> str:
    """A domain name for a folder given without one: its name, or its parent's for a generic name
    (`data/01_raw/synthetic/images` -> `synthetic`)."""
    path = Path(root).resolve()
    name = path.parent.name if path.name.lower() in GENERIC_FOLDER_NAMES else path.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-") or "images"


def check_domain_name(domain: str, setting: str) -> None:
    """Raise `InputError` for a domain name (the value of `setting`) that is not a plain name."""
    if not isinstance(domain, str) or not DOMAIN_NAME.match(domain):
        raise InputError(f"{setting}: {domain!r} is not a plain name (letters, digits, _ . -, no '/')")


def check_domains(domains: Sequence[str], setting: str = "data.sources") -> None:
    """Raise `InputError` for a domain name that is not a plain name, or one used twice, naming each entry of
    `setting` it was given in (`data.sources[2].domain`), so that the run's error says which file set it."""
    uses: dict[str, list[str]] = {}
    for i, domain in enumerate(domains):
        entry = f"{setting}[{i}].domain"
        check_domain_name(domain, entry)
        uses.setdefault(domain, []).append(entry)
    if repeated := [(domain, entries) for domain, entries in uses.items() if len(entries) > 1]:
        raise InputError(
            "; ".join(f"{', '.join(entries)}: {domain!r} used more than once" for domain, entries in repeated)
            + "; domain names must differ"
        )


def image_key(domain: str, path: str) -> str:
    return f"{domain}/{path}"


def image_keys(table: pd.DataFrame) -> list[str]:
    """The key of every row of a table with `domain` and `path` columns (image index, split manifest)."""
    return [image_key(d, p) for d, p in zip(table.domain, table.path, strict=True)]


def image_files(table: pd.DataFrame) -> list[Path]:
    """Where every row's image is: its folder `root` joined with its `path` (image index, manifest)."""
    return [Path(root) / path for root, path in zip(table.root, table.path, strict=True)]


def domain_of_key(key: str) -> str:
    return key.split("/", 1)[0]


def listed_labels(sources: Sequence[Source], aliases: Mapping[str, Sequence[str]]) -> dict[str | None, int]:
    """How many files named like images each class folder of `sources` holds (None: outside any), from
    their names alone: known before any file is decoded."""
    resolver = LabelResolver(aliases)
    return dict(
        Counter(resolver.label_of(path) for s in sources for path in s.folder.files if looks_like_image(path))
    )


def scan_sources(
    sources: Sequence[Source],
    aliases: Mapping[str, Sequence[str]],
    limits: ImageLimits = ImageLimits(),
    workers: int | None = None,
    histogram_images: int = 500,
    require_labels: bool = True,
) -> ScanResult:
    """`scan_folder` of every source, in one index with a `domain` column and groups named
    `<domain>:<group>`; pixel histograms pooled over the domains.

    The same bytes in two domains are one image: under one label, the later copies join the first's
    group (so a split never puts them on both sides) and name it in `duplicate_of` by its key; under two
    labels, every copy is excluded as a label conflict.
    """
    check_domains([s.domain for s in sources])
    frames, histograms = [], {}
    for source in sources:
        try:
            result = scan_folder(
                source.folder,
                aliases,
                limits,
                source.group_pattern,
                workers,
                histogram_images,
                require_labels,
            )
        except UnknownLabelFolders as error:
            # Which folder: with several, 'Postive' (5 files) alone does not say where to look.
            where = (
                f"domain {source.domain} ({source.folder.root})" if len(sources) > 1 else source.folder.root
            )
            raise UnknownLabelFolders(f"{where}: {error}") from None
        frames.append(
            result.index.assign(domain=source.domain, group=source.domain + ":" + result.index.group)
        )
        for label, counts in result.histograms.items():
            histograms[label] = histograms.get(label, np.zeros((3, 256), np.int64)) + counts
    index = pd.concat(frames, ignore_index=True)
    _resolve_copies_across_domains(index)
    return ScanResult(index=index, histograms=histograms)


def _resolve_copies_across_domains(index: pd.DataFrame) -> None:
    decoded = index[index.status == OK]
    spanning = decoded.groupby("sha256").domain.transform("nunique") > 1
    for _, copies in decoded[spanning].groupby("sha256", sort=False):
        if copies.label.nunique() > 1:
            where = ", ".join(image_keys(copies))
            index.loc[copies.index, ["status", "detail"]] = [
                LABEL_CONFLICT,
                f"identical content under labels {sorted(copies.label.unique())} in two domains: {where}",
            ]
            continue
        first = copies.index[0]
        others = copies.index[copies.domain != copies.domain[first]]
        index.loc[others, "duplicate_of"] = image_key(index.at[first, "domain"], index.at[first, "path"])
        index.loc[others, "group"] = index.at[first, "group"]


def training_patch_sides(image_index: pd.DataFrame, split_manifest: pd.DataFrame) -> dict[str, Any]:
    """The median longer side, in pixels on disk, of the training split's images (`patch_side`: the scale
    at which whole photos are tiled for this model, `tiling.tile_size: null`) and of each domain's
    (`patch_sides`: for photos of a domain named, `explain.domain`)."""
    train_keys = set(image_keys(split_manifest[split_manifest.split == "train"]))
    rows = image_index[[key in train_keys for key in image_keys(image_index)]]
    sides = rows[["width", "height"]].max(axis=1)
    by_domain = sides.groupby(rows.domain).median()
    return {
        "patch_side": int(sides.median()) if len(rows) else None,
        "patch_sides": {str(domain): int(side) for domain, side in by_domain.items()},
    }
