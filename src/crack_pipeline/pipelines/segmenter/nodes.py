"""Nodes of the `segmenter` pipeline: the crack segmenter the crack masks use, trained on synthetic masks,
then adapted to a folder of photos when `segmenter_adaptation.folder` names one."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from crack_pipeline.pipelines.explain.nodes import crack_mask_config
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits, ImageRejected, decode_file
from crack_pipeline.vision.data.scanning import looks_like_image
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.crack_segmenter import FORMAT, SegmenterConfig, train_segmenter
from crack_pipeline.vision.explain.tiling import DEFAULT_TILE_SIZE
from crack_pipeline.vision.models.device import resolve_device
from crack_pipeline.vision.settings import settings_from
from crack_pipeline.vision.transfer.segmenter_adaptation import (
    AdaptationConfig,
    NoPhotoToLearn,
    adapted_segmenter,
)

logger = logging.getLogger(__name__)


def train_crack_segmenter(segmenter: dict[str, Any], device: str, previous: dict | None) -> dict:
    """The crack segmenter trained on synthetic data: the latest one again (or the one the latest was
    adapted from) when it was trained with these settings by this format of the code (its data are
    rendered from the settings), else a new one.

    Args:
        segmenter: `params:segmenter` — samples, steps, batch_size, crop, width, learning_rate, seed.
        device: `params:device` — where it trains.
        previous: the latest `crack_segmenter`, or None before the first.
    Returns:
        Its checkpoint (crack_segmenter.train_segmenter), which `adapt_crack_segmenter` takes.
    """
    config = settings_from(SegmenterConfig, segmenter, "segmenter")
    synthetic = previous.get("adapted_from", previous) if previous is not None else None
    if synthetic is not None and (synthetic["format"], synthetic.get("config")) == (FORMAT, asdict(config)):
        logger.info("segmenter: the latest crack segmenter has these settings; kept")
        return synthetic
    checkpoint = train_segmenter(config, resolve_device(device), _reporter("segmenter:", config.steps))
    logger.info("segmenter: trained on %d synthetic patches per class", config.samples)
    return checkpoint


def adapt_crack_segmenter(
    synthetic: dict,
    previous: dict | None,
    photos: Folder | None,
    adaptation: dict[str, Any],
    explain: dict[str, Any],
    tiling: dict[str, Any],
    ingest: dict[str, Any],
    device: str,
) -> dict:
    """The crack segmenter `explain` and `survey` use: `synthetic` self-trained on the photos of
    `segmenter_adaptation.folder` (segmenter_adaptation.adapted_segmenter; no mask needed), else
    `synthetic` itself. The latest one again when it was adapted from `synthetic` to the same files with
    the same settings.

    Args:
        synthetic: the segmenter trained on synthetic data (`train_crack_segmenter`).
        previous: the latest `crack_segmenter`, or None before the first.
        photos: the folder `segmenter_adaptation.folder` names, or None.
        adaptation: `params:segmenter_adaptation`.
        explain: `params:explain` — its crack_masks make the photos' pseudo-labels, as they make masks.
        tiling: `params:tiling` — tile_size (null: 227 px), the unit of crack_masks' lengths.
        ingest: `params:ingest` — the image limits a photo is decoded within.
        device: `params:device` — where it trains.
    Returns:
        Its checkpoint, saved as a new version of `crack_segmenter` either way; an adapted one records
        `adapted_to` (folder, files, settings, what its pseudo-labels held) and the one it was adapted from.
    """
    config = settings_from(AdaptationConfig, adaptation, "segmenter_adaptation", also=("folder",))
    if photos is None:
        if previous is not None and "adapted_to" in previous:
            logger.info(
                "segmenter: segmenter_adaptation.folder is null: the crack segmenter trained on synthetic "
                "data alone, not the latest one, adapted to %s",
                previous["adapted_to"]["folder"],
            )
        return synthetic
    masks = crack_mask_config(explain)
    tile_side = tiling.get("tile_size") or DEFAULT_TILE_SIZE
    files = [name for name in photos.files if looks_like_image(name)]
    wanted = {
        "folder": photos.shown,
        "files": _listing_digest(photos, files),
        "settings": asdict(config),
        "crack_masks": asdict(masks),
        "tile_side": tile_side,
    }
    if (
        previous is not None
        and previous.get("adapted_from", {}).get("segmenter_id") == synthetic["segmenter_id"]
        and {key: previous["adapted_to"].get(key) for key in wanted} == wanted
    ):
        logger.info(
            "segmenter: the latest crack segmenter was adapted from this one to these photos, so; kept"
        )
        return previous
    chosen = [
        files[index] for index in np.linspace(0, len(files) - 1, min(config.photos, len(files))).astype(int)
    ]
    side = int(synthetic["config"]["crop"])
    images = _photos_to_learn(photos, chosen, ImageLimits.of(ingest), side)
    try:
        adapted, learned = adapted_segmenter(
            synthetic,
            images,
            config,
            tile_side,
            masks,
            resolve_device(device),
            _reporter("segmenter: adapting,", config.steps),
        )
    except NoPhotoToLearn:
        raise InputError(
            f"segmenter_adaptation.folder {photos.shown!r}: none of its {len(chosen)} image files chosen "
            f"is a usable photo of at least {side} px both ways (the log above says why each was skipped)"
        ) from None
    logger.info(
        "segmenter: adapted to %d photos of %s (pseudo-labels: %.1f%% crack, %.1f%% left out as unsure)",
        learned["photos"],
        photos.shown,
        100 * learned["crack"],
        100 * learned["unknown"],
    )
    return {**adapted, "adapted_to": {**wanted, **learned}, "adapted_from": synthetic}


def _reporter(what: str, steps: int) -> Callable[[int, float], None]:
    """A progress callback logging `<what> step i/steps, loss L` ten times over the training."""
    every = max(1, steps // 10)

    def report(step: int, loss: float) -> None:
        if (step + 1) % every == 0:
            logger.info("%s step %d/%d, loss %.3f", what, step + 1, steps, loss)

    return report


def _listing_digest(photos: Folder, files: list[str]) -> str:
    """A digest of the image files' names, sizes and modification times: a photo added, removed or
    replaced makes another."""
    digest = hashlib.sha256()
    for name in files:
        status = photos.path_of(name).stat()
        digest.update(f"{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _photos_to_learn(
    photos: Folder, files: list[str], limits: ImageLimits, side: int
) -> Iterator[np.ndarray]:
    """The photos' pixels one at a time; a file that is no usable image, or is smaller than the
    segmenter's `side`-px crop, is skipped with a warning naming it."""
    for name in files:
        try:
            pixels = decode_file(photos.path_of(name), limits).pixels
        except (OSError, ImageRejected) as error:
            logger.warning("segmenter: skipped %s (%s)", photos.path_of(name), error)
            continue
        if min(pixels.shape[:2]) < side:
            logger.warning(
                "segmenter: skipped %s (%dx%d px: smaller than the %d-px crop the segmenter learns from)",
                photos.path_of(name),
                pixels.shape[1],
                pixels.shape[0],
                side,
            )
            continue
        yield pixels
