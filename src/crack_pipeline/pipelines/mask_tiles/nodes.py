"""Nodes of the `mask_tiles` pipeline: a labelled patch set from photos with pixel crack masks."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import (
    UNREADABLE,
    ImageLimits,
    ImageRejected,
    decode_file,
    png_bytes,
)
from crack_pipeline.vision.data.mask_tiles import (
    TILE_GROUP_PATTERN,
    MaskTileConfig,
    cut_labelled_tiles,
    tile_stem,
)
from crack_pipeline.vision.data.masks import check_masks_apart, pair_masks, read_mask
from crack_pipeline.vision.data.scanning import looks_like_image
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import settings_from

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["photo", "status", "detail", "crack_tiles", "clean_tiles", "left_out_tiles"]


def mask_tile_config(mask_tiles: dict[str, Any]) -> MaskTileConfig:
    """`mask_tiles.tiling`, checked."""
    return settings_from(MaskTileConfig, mask_tiles.get("tiling"), "mask_tiles.tiling")


def tile_masked_photos(
    masked_photos: Folder, photo_masks: Folder, mask_tiles: dict[str, Any], ingest: dict[str, Any]
) -> tuple[dict[str, bytes], pd.DataFrame]:
    """Cut every photo that has a mask into labelled tiles (see `vision.data.mask_tiles`).

    Args:
        masked_photos: `mask_tiles.images_dir`; photos in any layout.
        photo_masks: `mask_tiles.masks_dir`; each photo's mask at the same relative path or with the same
            file stem (white = crack).
        mask_tiles: `params:mask_tiles` — tile_size, overlap, central_fraction, min_crack_pixels.
        ingest: `params:ingest`, for the image limits (min_side, max_pixels).
    Returns:
        The patch set as {relative path: PNG bytes} in ingest's layout, and one summary row per photo
        (a photo without a mask, unreadable, or of another size than its mask is reported and skipped).
    """
    config = mask_tile_config(mask_tiles)
    check_masks_apart(masked_photos, photo_masks, "mask_tiles.images_dir and mask_tiles.masks_dir")
    limits = ImageLimits.of(ingest)
    photos = [f for f in masked_photos.files if looks_like_image(f)]
    masks = pair_masks(photo_masks, photos)
    tiles: dict[str, bytes] = {}
    rows = []
    stems: dict[str, str] = {}  # tile stem, case-folded (as Mac and Windows disks compare names): its photo
    for photo in photos:
        row = dict.fromkeys(SUMMARY_COLUMNS, 0) | {"photo": photo, "status": "ok", "detail": ""}
        try:
            first = stems.setdefault(tile_stem(photo).casefold(), photo)
            if first != photo:  # its tiles would silently replace those of the first
                raise ImageRejected("name_clash", f"its tiles would have the names of {first}'s; rename it")
            if photo not in masks:
                raise ImageRejected("no_mask", f"no mask with its path or stem in {photo_masks.root}")
            image = decode_file(masked_photos.path_of(photo), limits).pixels
            cut, labels = cut_labelled_tiles(photo, image, read_mask(masks[photo], limits), config)
        except ImageRejected as rejection:
            row.update(status=rejection.reason, detail=rejection.detail)
        except OSError as error:  # a link to nothing, a file that vanished or may not be read
            row.update(status=UNREADABLE, detail=str(error))
        else:
            tiles.update((name, png_bytes(pixels)) for name, pixels in cut.items())
            kinds = [t.label for t in labels]
            row.update(
                crack_tiles=kinds.count("crack"),
                clean_tiles=kinds.count("no_crack"),
                left_out_tiles=kinds.count(None),
            )
        rows.append(row)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    skipped = summary[summary.status != "ok"]
    logger.info(
        "mask_tiles: %d photos, %d skipped; %d crack and %d clean tiles of %d px, %d left out (crack "
        "only near the border); use them as a source with group_pattern '%s'",
        len(summary),
        len(skipped),
        summary.crack_tiles.sum(),
        summary.clean_tiles.sum(),
        config.tile_size,
        summary.left_out_tiles.sum(),
        TILE_GROUP_PATTERN,
    )
    for row in skipped.head(5).itertuples():
        logger.warning("mask_tiles: skipped %s (%s: %s)", row.photo, row.status, row.detail)
    paired = set(masks.values())
    unpaired = [f for f in photo_masks.files if looks_like_image(f) and photo_masks.path_of(f) not in paired]
    if unpaired:  # reported photo by photo only from the photos' side: a mask named wrong went unseen
        logger.warning(
            "mask_tiles: %d mask(s) in %s belong to no photo (e.g. %s): a mask needs its photo's relative "
            "path or file stem, any extension",
            len(unpaired),
            photo_masks.root,
            unpaired[0],
        )
    if not tiles:
        raise InputError(
            f"mask_tiles: no tile could be cut from {masked_photos.root} with masks in {photo_masks.root}"
        )
    return tiles, summary
