"""Pixel crack masks beside their photos: which mask file belongs to which image, and reading one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import numpy as np

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits, decode_image


def pair_masks(masks: Folder, names: Iterable[str]) -> dict[str, Path]:
    """The mask file of each image in `names` that has one: the mask at the same relative path (any
    extension), else the one with the same file stem."""
    by_path = {str(PurePosixPath(f).with_suffix("")): f for f in masks.files}
    by_stem = {PurePosixPath(f).stem: f for f in masks.files}
    found = {}
    for name in names:
        mask = by_path.get(str(PurePosixPath(name).with_suffix(""))) or by_stem.get(PurePosixPath(name).stem)
        if mask is not None:
            found[name] = masks.path_of(mask)
    return found


def read_mask(path: Path, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """A mask file as an HxW bool array: crack where any channel is above half (0/255 or 0/1-as-255 PNGs,
    grey or RGB). Raises `ImageRejected` for a file that is not a usable image."""
    return decode_image(path.read_bytes(), limits).pixels.max(axis=2) > 127
