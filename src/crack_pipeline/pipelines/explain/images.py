"""Which images `explain` explains, and at which threshold and scale each: a folder's, or a split's, whose
images from several domains are each decided and tiled as their domain's."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.pipelines.split.nodes import require_roots
from crack_pipeline.vision.data.folder import Folder, ImageRef
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.scanning import OK, scan_folder, summary_lines
from crack_pipeline.vision.data.sources import image_files, image_keys
from crack_pipeline.vision.models.checkpoint import domain_threshold_values, named_domain, threshold_text

logger = logging.getLogger(__name__)


def images_to_explain(
    split_manifest: pd.DataFrame, explain_input: Folder | None, explain: dict, ingest: dict
) -> tuple[list[ImageRef], list[str], list[str | None], dict[str, str], dict[str, str]]:
    """`explain.input_dir` validated like ingest (labels where folder names give them; a byte-identical
    copy explained once and reported), else the images of `explain.split` (of `explain.domain`, if set)
    where the split found them, named `<domain>/<path>` where they come from several domains (two data
    sets may both hold a `Positive/1.jpg`); with the SHA-256 and the domain of each (None for a folder's),
    the folder's files that validation left out, with why, and its byte-identical copies of another
    ({copy: the file it copies, the one explained})."""
    if explain_input is None:
        rows = require_roots(split_manifest)
        # A manifest of domains all named by digits reads back with numbers for names.
        rows = rows[rows.split == explain["split"]].assign(domain=lambda r: r.domain.astype(str))
        rows = rows.sort_values(["domain", "path"])
        if (domain := named_domain(explain.get("domain"), "explain.domain")) is not None:
            rows = rows[rows.domain == domain]
        names = image_keys(rows) if rows.domain.nunique() > 1 else rows.path
        return (
            [
                ImageRef(name, file, label)
                for name, file, label in zip(names, image_files(rows), rows.label, strict=True)
            ],
            list(rows.sha256),
            list(rows.domain),
            {},
            {},
        )
    scan = scan_folder(
        explain_input,
        ingest["label_aliases"],
        ImageLimits.of(ingest),
        workers=ingest.get("workers"),
        require_labels=False,
    )
    for line in summary_lines(scan.index, "explain input"):
        logger.info(line)
    kept = scan.index[(scan.index.status == OK) & (scan.index.duplicate_of == "")]
    left_out = scan.index[scan.index.status != OK]
    copies = scan.index.loc[
        (scan.index.status == OK) & (scan.index.duplicate_of != ""), ["path", "duplicate_of"]
    ]
    return (
        [
            ImageRef(path, explain_input.path_of(path), label or None, int(width) * int(height))
            for path, label, width, height in zip(kept.path, kept.label, kept.width, kept.height, strict=True)
        ],
        list(kept.sha256),
        [None] * len(kept),
        {
            path: f"{status}: {detail}"
            for path, status, detail in zip(left_out.path, left_out.status, left_out.detail, strict=True)
        },
        dict(copies.itertuples(index=False)),
    )


def domain_scales(
    checkpoint: dict[str, Any],
    threshold: dict[str, Any],
    tiling: dict[str, Any],
    items: list[ImageRef],
    domains: list[str | None],
) -> tuple[dict[str, float], dict[str, int]]:
    """The threshold and the tile size of each image whose domain the model has its own for (its training
    patch side there, unless `tiling.tile_size` is set): evaluation decides them so, each patch whole,
    whether the images explained come from several domains or one (a split of one domain, an
    `explain.max_images` sample, `retrain`'s). The others, and every image of a folder (its domain
    unknown), are called at the pooled threshold and tiled at the pooled scale. A model of one domain, or
    one already scoped to the domain named (`for_domain`), has nothing of its own per image."""
    present = {domain for domain in domains if domain is not None}
    own = {d: value for d, value in domain_threshold_values(threshold).items() if d in present}
    known = checkpoint.get("patch_sides") or {}
    own_sides = len(known) > 1 and checkpoint.get("domain") is None and tiling.get("tile_size") is None
    sides = {d: side for d, side in known.items() if d in present} if own_sides else {}
    for kind, values, shown, pooled, unit in (
        ("threshold", own, threshold_text, threshold_text(threshold["value"]), ""),
        ("tile size", sides, "{:.4g}".format, checkpoint.get("patch_side"), " px"),
    ):
        if values:
            described = ", ".join(
                f"{domain} {shown(value)}{unit}" for domain, value in sorted(values.items())
            )
            logger.info(
                "explain: an image's %s is its domain's (%s), else %s%s", kind, described, pooled, unit
            )
    pairs = list(zip(items, domains, strict=True))
    return (
        {item.name: own[d] for item, d in pairs if d in own},
        {item.name: int(sides[d]) for item, d in pairs if d in sides},
    )


# Beyond this many images, or this many bytes, explain's memory (all it makes, until the end) is better spent
# on a survey. What it holds of an image: a 227-px patch's files about 0.5 MB, a tiled photo's about 5.3 bytes
# a pixel (30 photos of 12 MP took 1.9 GB more).
MANY_IMAGES = 2000
MANY_BYTES = 4e9
PATCH_BYTES = 5e5
BYTES_PER_PIXEL = 5.3


def memory_warning(items: list[ImageRef]) -> str | None:
    """A warning where explaining `items` would hold too much until the run ends (None where not)."""
    held = sum(max(PATCH_BYTES, BYTES_PER_PIXEL * (item.pixels or 0)) for item in items)
    if len(items) <= MANY_IMAGES and held <= MANY_BYTES:
        return None
    return (
        f"explain: {len(items)} images: every file made stays in memory until the run ends, when all are "
        f"written (about {held / 1e9:.1f} GB here: 0.5 MB a 227-px patch, about 60 MB a 12-MP photo); for "
        "thousands of images or hundreds of photos, `kedro run --pipelines=survey` writes image by image and "
        "resumes after a stop"
    )
