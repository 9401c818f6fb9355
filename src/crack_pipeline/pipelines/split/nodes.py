"""Nodes of the `split` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.pipelines.ingest.classes import require_indexed_classes
from crack_pipeline.vision.data.labels import CRACK
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.data.splitting import SPLITS, stratified_group_split
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.noise import few_images_note, one_class_note

logger = logging.getLogger(__name__)


def usable_images(image_index: pd.DataFrame) -> pd.DataFrame:
    """The images ingest kept (status "ok"), sorted by domain and path: what every split assigns."""
    kept = image_index[image_index.status == OK]
    return kept.sort_values(["domain", "path"]).reset_index(drop=True)


def strata(kept: pd.DataFrame) -> list[str]:
    """What a split keeps in proportion: the class, within its domain where there are several."""
    if kept.domain.nunique() < 2:
        return kept.label.tolist()
    return [f"{label} in {domain}" for label, domain in zip(kept.label, kept.domain, strict=True)]


MANIFEST_COLUMNS = ["path", "label", "group", "sha256", "split", "root", "domain"]


def split_manifest_of(kept: pd.DataFrame, assigned) -> pd.DataFrame:
    """The split manifest (MANIFEST_COLUMNS: the image's path relative to its folder `root`, its domain;
    no image copies) of `kept` with one split name per row; rows left out ("") are dropped."""
    manifest = kept.assign(split=assigned)[lambda f: f.split != ""]
    return manifest[MANIFEST_COLUMNS].reset_index(drop=True)


def require_roots(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest, if it records the folder and domain of each image; older manifests did not."""
    if not {"root", "domain"} <= set(manifest.columns):
        raise InputError(
            "the latest split manifest (catalog entry split_manifest) was made by an older version "
            "that did not record the folder and domain of its images: make the split again (kedro run, or "
            "kedro run --pipelines=from_folder --params=data.source_dir=DIR)"
        )
    return manifest


def split_images(
    image_index: pd.DataFrame, split: dict[str, Any], train: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assign every kept image to train, val or test.

    Args:
        image_index: the ingest index; only rows with status "ok" are split.
        split: `params:split` — ratios {train, val, test}, seed, subset_fraction.
        train: `params:train` — its variants: images all of a class none of them trains on are refused, as
            ingest refuses them (`require_indexed_classes`), here for an index an earlier run saved (a split
            run alone, after an ingest for other variants).
    Returns:
        The split manifest (MANIFEST_COLUMNS) and the per-split class counts.
    """
    require_indexed_classes(image_index, train)
    kept = usable_images(image_index)
    assigned = stratified_group_split(
        strata(kept),
        kept.group.tolist(),
        ratios=split["ratios"],
        seed=split["seed"],
        subset_fraction=split.get("subset_fraction", 1.0),
    )
    manifest = split_manifest_of(kept, assigned)
    return manifest, split_counts(manifest, tests_asked=split["ratios"].get("test", 0) > 0)


def split_counts(manifest: pd.DataFrame, tests_asked: bool = True) -> pd.DataFrame:
    """Images per split and class (one row per split, in train, val, test order), also logged; a domain left
    without test images warned of where `tests_asked` (split.ratios.test above 0)."""
    counts = (
        manifest.groupby(["split", "label"])
        .size()
        .unstack(fill_value=0)
        .reindex([s for s in SPLITS if s in set(manifest.split)])
        .reset_index()
    )
    logger.info("split: %s", ", ".join(f"{r.split} {sum(r[1:])}" for r in counts.itertuples(index=False)))
    several = manifest.domain.nunique() > 1
    # A folder of its own (one domain) too: 100 photos leave 15 test images, the champion chosen on them.
    for domain, rows in manifest.groupby("domain"):
        sizes = rows.split.value_counts()
        # Said once, here: a folder of hard negatives is clean only on purpose, nothing to warn of.
        one_class = one_class_note(*_class_counts(rows.label))
        if several:
            logger.info(
                "  domain %s: %s%s",
                domain,
                ", ".join(f"{s} {sizes.get(s, 0)}" for s in SPLITS),
                f" ({one_class})" if one_class else "",
            )
        test, classes = rows[rows.split == "test"].label, 1 if one_class else 2
        if "test" not in sizes and tests_asked:
            # A retrain splits new photo groups without asking each split for one: a new site of a few
            # parent photos can go to train whole, its domain then missing from every figure unsaid.
            logger.warning(
                "split: domain %s keeps no test image (%s): no test figure judges a model there, and the "
                "champion is chosen without it. Add more of its photos, or judge it on photos of it kept "
                'out of its labels (evaluate_folder, README: "Keep what the model knew")',
                domain,
                ", ".join(f"{s} {sizes.get(s, 0)}" for s in SPLITS[:2]),
            )
        elif "test" in sizes and (note := few_images_note(*_class_counts(test), classes=classes)):
            logger.warning(
                "split: domain %s keeps %s, too few to judge a model there by: its test figures will be "
                'rough. Judge it on photos of it kept out of its labels (evaluate_folder, README: "Keep '
                'what the model knew")',
                domain,
                note,
            )
    return counts


def _class_counts(labels: pd.Series) -> tuple[int, int]:
    """How many of `labels` are cracks, and how many clean."""
    cracks = int((labels == CRACK).sum())
    return cracks, len(labels) - cracks
