"""Nodes of the `split` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.vision.scanning import OK
from crack_pipeline.vision.splitting import SPLITS, stratified_group_split

logger = logging.getLogger(__name__)


def usable_images(image_index: pd.DataFrame) -> pd.DataFrame:
    """The images ingest kept (status "ok"), sorted by path: what every split assigns."""
    return image_index[image_index.status == OK].sort_values("path").reset_index(drop=True)


def split_manifest_of(kept: pd.DataFrame, assigned) -> pd.DataFrame:
    """The split manifest (path, label, group, sha256, split; no image copies) of `kept` with one split
    name per row; rows left out ("") are dropped."""
    manifest = kept.assign(split=assigned)[lambda f: f.split != ""]
    return manifest[["path", "label", "group", "sha256", "split"]].reset_index(drop=True)


def split_images(image_index: pd.DataFrame, split: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assign every kept image to train, val or test.

    Args:
        image_index: the ingest index; only rows with status "ok" are split.
        split: `params:split` — ratios {train, val, test}, seed, subset_fraction.
    Returns:
        The split manifest (path, label, group, sha256, split; no image copies) and the per-split
        class counts.
    """
    kept = usable_images(image_index)
    assigned = stratified_group_split(
        kept.label.tolist(),
        kept.group.tolist(),
        ratios=split["ratios"],
        seed=split["seed"],
        subset_fraction=split.get("subset_fraction", 1.0),
    )
    manifest = split_manifest_of(kept, assigned)
    return manifest, split_counts(manifest)


def split_counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Images per split and class (one row per split, in train, val, test order), also logged."""
    counts = (
        manifest.groupby(["split", "label"])
        .size()
        .unstack(fill_value=0)
        .reindex([s for s in SPLITS if s in set(manifest.split)])
        .reset_index()
    )
    logger.info("split: %s", ", ".join(f"{r.split} {sum(r[1:])}" for r in counts.itertuples(index=False)))
    return counts
