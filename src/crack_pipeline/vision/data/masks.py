"""Pixel crack masks beside their photos: which mask file belongs to which image, reading one, and checking
a mask handed in as an array."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from crack_pipeline.vision.data.folder import Folder, composed
from crack_pipeline.vision.data.image_io import ImageLimits, ImageRejected, decode_file, to_rgb8
from crack_pipeline.vision.data.scanning import looks_like_image
from crack_pipeline.vision.errors import InputError

logger = logging.getLogger(__name__)


def pair_masks(masks: Folder, names: Iterable[str]) -> dict[str, Path]:
    """The mask file of each image in `names` that has one: the mask at the same relative path (any
    extension), else the one with the same file stem, where neither the stem of the image nor that of the
    mask is shared (`Positive/x1.jpg` and `Negative/x1.jpg` do not both take `x1.png`). Only image files are
    masks (a `x1.json` beside `x1.png` is not), and a path two images or two masks share but for the
    extension pairs none of them (`x1.jpg` and `x1.png` are two photos one mask cannot fit), warned of. Last,
    a stem that differs only by case (`IMG_1.JPG` and `img_1.png`), where it too is shared by none. Names
    are compared composed (`composed`), whatever Unicode form their file systems gave them."""
    names = list(names)
    mask_files = [f for f in masks.files if looks_like_image(f)]
    by_path = _unique_by(mask_files, _without_suffix, "crack masks")
    shared_paths = set(names) - set(_unique_by(names, _without_suffix, "images").values())
    # Then by file stem, then by stem with case set aside (IMG_1.JPG and its img_1.png): by one no other image
    # and no other mask has.
    by_stems = [(_unique_by(names, key), _unique_by(mask_files, key), key) for key in (_stem, _folded_stem)]
    found = {}
    for name in names:
        mask = by_path.get(_without_suffix(name)) if name not in shared_paths else None
        for images_by, masks_by, key in by_stems:
            if mask is None and key(name) in images_by:
                mask = masks_by.get(key(name))
        if mask is not None:
            found[name] = masks.path_of(mask)
    return found


def check_masks_apart(images: Folder, masks: Folder, settings: str) -> None:
    """An `InputError` when the masks are looked for in the images' own folder (`settings` names the two):
    each image would be paired with itself, read as crack wherever it is bright, and the masks taken for
    images (a `x.jpg` and `x_mask.png` side by side, as some data sets come)."""
    if images.root.resolve() == masks.root.resolve():
        raise InputError(
            f"{settings} are one folder, {images.shown}: each image would be its own mask; put the masks in "
            "a folder of their own, at the images' relative paths or with their file stems"
        )


# Names compared composed (NFC): a mask folder copied from a Mac (`u` and a combining mark for `ü`) paired
# none of its masks of accented photos, without a word where others matched.
def _stem(name: str) -> str:
    return composed(PurePosixPath(name).stem)


def _folded_stem(name: str) -> str:
    return _stem(name).casefold()


def _without_suffix(name: str) -> str:
    return composed(str(PurePosixPath(name).with_suffix("")))


def _unique_by(files: list[str], key: Callable[[str], str], kind: str | None = None) -> dict[str, str]:
    """{key: file} of the files whose key no other file has; with `kind` (the key a path without its
    extension), the others named in one warning (the order of a folder's listing would otherwise pick one of
    them silently)."""
    groups: dict[str, list[str]] = {}
    for file in files:
        groups.setdefault(key(file), []).append(file)
    shared = [group for group in groups.values() if len(group) > 1]
    if shared and kind is not None:
        logger.warning(
            "%s that differ only by extension are left unpaired (rename all but one): %s",
            kind,
            "; ".join(" and ".join(group) for group in shared[:5]) + (" ..." if len(shared) > 5 else ""),
        )
    return {name: group[0] for name, group in groups.items() if len(group) == 1}


_HIGH_BIT_DEPTH = ("I;16", "I;16B", "I;16L", "I", "F")
UNCLEAR_MASK = "unclear_mask"  # a mask whose values say no pixel is crack, nor that none is
# A mask with more crack than this share of its pixels is read inverted (CFD's masks cover 0.35-6.3 % of
# their photos, the synthetic ones 0.7-4.2 %).
MOST_CRACK = 0.5


def crack_pixels(image: Image.Image) -> Image.Image:
    """A mask image's crack pixels (mode "1"): where any channel is above half (0/255 PNGs, grey or RGB),
    or, in a mask whose values are only 0 and 1 (a label map saved as it is, 8 or 16 bits), where it is 1;
    in a mask with transparent pixels (strokes painted on a transparent layer), the bright opaque ones, or
    every opaque one where none is bright (black strokes). Read as a photo, the transparent background
    turned white (crack everywhere) and a 16-bit 0/1 map black. `ImageRejected` for a mask of other values
    only up to 127 (0, 1 and 2: a map of several classes), which would read as no crack at all, and for one
    that is mostly crack: a mask drawn black on white, read the other way round, scored its photo's surface
    as the crack (CFD's masks inverted: mask share 0.978, width error 109 px) without a word."""
    crack = _crack_of(image)
    if (share := crack.mean()) > MOST_CRACK:
        raise ImageRejected(
            UNCLEAR_MASK,
            f"{share:.0%} of its pixels are crack (white): crack is white on black; a mask drawn black on "
            "white reads the other way round (invert it)",
        )
    return Image.fromarray(crack)


def _crack_of(image: Image.Image) -> np.ndarray:
    """`crack_pixels`' pixels as a bool array, before the share of crack is judged."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        if rgba[..., 3].min() < 255:
            opaque = rgba[..., 3] > 127
            bright = opaque & (rgba[..., :3].max(axis=2) > 127)
            return bright if bright.any() else opaque
    if image.mode in _HIGH_BIT_DEPTH:
        values = np.asarray(image)
        if ((values == 0) | (values == 1)).all():
            return values == 1
    values = np.asarray(to_rgb8(image)).max(axis=2)
    if 1 < values.max() <= 127:  # a map of several classes, or crack saved dark: read as no crack at all
        raise ImageRejected(
            UNCLEAR_MASK,
            f"its brightest value is {values.max()}: crack is white (above 127), or 1 in a 0/1 mask",
        )
    return values > (0 if values.max() <= 1 else 127)


def read_mask(path: Path, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """A mask file as an HxW bool array, upright as its photo (`crack_pixels`). Raises `ImageRejected` for a
    file that is not a usable image, OSError for one that cannot be read."""
    return np.asarray(decode_file(path, limits, crack_pixels).image, dtype=bool)


def read_masks_of(
    masks: Folder | None, names: Iterable[str], setting: str | None = None
) -> dict[str, np.ndarray]:
    """The crack mask of each image in `names` that has one in `masks` (see `pair_masks`), read; a mask
    file that cannot be read is left out, with a warning naming it. With `setting` (the folder's), a warning
    where no mask is any image's (`warn_if_none_matched`), judged by name: masks all left out as unreadable
    (drawn black on white) were said to match no image, "a mask needs the image's relative path"."""
    if masks is None:
        return {}
    names = list(names)
    paired = pair_masks(masks, names)
    if setting is not None:
        warn_if_none_matched(masks, names, paired, setting)
    read = {}
    for name, path in paired.items():
        try:
            read[name] = read_mask(path)
        except (ImageRejected, OSError) as error:
            logger.warning("crack mask %s (of %s) left out: %s", path, name, error)
    return read


def warn_if_none_matched(masks: Folder, names: list[str], matched: dict, setting: str) -> None:
    """A warning when `setting`'s mask folder holds masks but none matched any of the images `names`
    (`x_mask.png` for `x.jpg`): else nothing was scored against them without a word."""
    if names and masks.files and not matched:
        logger.warning(
            "%s: none of its %d files (e.g. %s) is the mask of an image (e.g. %s): a mask needs the image's "
            "relative path or file stem, any extension; nothing is scored against masks",
            setting,
            len(masks.files),
            masks.files[0],
            names[0],
        )


def as_crack_mask(array: np.ndarray, name: str = "mask") -> np.ndarray:
    """An HxW bool array from a bool or 0/1 array; `InputError` naming `name` for any other shape or
    values (a probability map has to be thresholded first)."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise InputError(f"{name} must be a 2-D HxW array, got shape {array.shape}")
    if array.dtype != bool and not ((array == 0) | (array == 1)).all():
        raise InputError(f"{name} must hold only 0/1 or True/False; threshold a probability map first")
    return array.astype(bool, copy=False)


def padded_box(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The box of the HxW bool `mask`'s True pixels grown by `margin` on each side (within the image), as
    slices; None when it has none. Work on a 12-MP photo's few cracks stays inside it."""
    mask = np.asarray(mask, dtype=bool)
    rows, columns = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    height, width = mask.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)),
        slice(max(0, int(columns[0]) - margin), min(width, int(columns[-1]) + 1 + margin)),
    )
