"""How familiar a folder is to the model: its tiles' distances from the model's validation images, in its
features (`vision.transfer.familiarity`), against the reference the model keeps for its test-time views;
logged, and warned of from `evaluate_folder.unfamiliar_share`."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crack_pipeline.vision.models.inference import views_of
from crack_pipeline.vision.settings import share_setting
from crack_pipeline.vision.transfer.familiarity import reference_distances, unfamiliar_share

logger = logging.getLogger(__name__)


def unfamiliar_from(evaluate_folder: dict[str, Any]) -> float | None:
    """The share of unfamiliar tiles from which a folder is warned of (None: never)."""
    share = evaluate_folder.get("unfamiliar_share")
    return (
        None
        if share is None
        else share_setting(share, "evaluate_folder.unfamiliar_share", "a share of the folder's tiles")
    )


def familiarity_reference(checkpoint: dict[str, Any], own_views: int) -> dict[str, Any] | None:
    """The model's feature reference when it can judge this run's features; None, logged why, when not."""
    reference, views = checkpoint.get("feature_reference"), views_of(checkpoint)
    # A reference holds for the view count its features were averaged over (references_by_views); one
    # without a count is of a model that kept it for its own count only.
    held_for = None if reference is None else reference.get("views", own_views)
    if held_for == views:
        return reference
    if reference is not None:
        logger.info(
            "evaluate_folder: familiarity not judged (the reference holds for %d views, not %d)",
            held_for,
            views,
        )
    elif views != own_views:
        logger.info(
            "evaluate_folder: familiarity not judged (the model keeps no reference for %d views: it was "
            "trained before references were kept for every count)",
            views,
        )
    else:
        logger.info("evaluate_folder: familiarity not judged (the model records no feature reference)")
    return None


def familiarity(
    reference: dict[str, Any] | None,
    features: np.ndarray,
    tile_distances: list[np.ndarray],
    warn_from: float | None,
) -> dict | None:
    """How many of the folder's tiles (an image within one tile, by its N x D `features`; a photo cut into
    tiles, by each of its `tile_distances`) lie farther from the model's validation images, in its features,
    than all but 1 % of those; logged, and a warning from a share of `warn_from`
    (`evaluate_folder.unfamiliar_share`). `reference`: `familiarity_reference`'s. None without one or
    without an image."""
    if reference is None:
        return None
    parts = [reference_distances(reference, features)] if len(features) else []
    parts += tile_distances
    if not parts:
        logger.info("evaluate_folder: familiarity not judged (no image)")
        return None
    distances = np.concatenate(parts)
    found = {**unfamiliar_share(reference, distances), "warn_from": warn_from}
    domains = ", ".join(reference.get("domains", {}))
    logger.info(
        "evaluate_folder: unfamiliar=%.3f of %d tiles lie farther from the model's validation images (in its "
        "features) than %.0f %% of those%s (an image within one tile is one)",
        found["share"],
        found["n"],
        100 * (1 - found["expected"]),
        f", domain by domain ({domains}): beyond each one's limit" if domains else "",
    )
    if warn_from is not None and found["share"] >= warn_from:
        logger.warning(
            "evaluate_folder: this folder is unlike the images the model was chosen on (%.0f %% unfamiliar, "
            "against %.0f %% of its own validation images): its threshold may not hold here. Label some "
            "(label_these_next.csv) and recalibrate (evaluate_folder.recalibrate: true), or fine-tune on "
            "them (init_from: champion)",
            100 * found["share"],
            100 * found["expected"],
        )
    return found
