"""Safe decoding of untrusted image files into 8-bit RGB arrays.

Every way a file can be unusable maps to one short, stable reason code, so that an ingest
of 40,000 files reports and skips the bad ones instead of crashing halfway through.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import Image, ImageFile, UnidentifiedImageError, features

# Reason codes (also the values of the index's `status` column for skipped files).
EMPTY = "empty_file"
NOT_IMAGE = "not_an_image"
CORRUPT = "corrupt_or_truncated"
TOO_SMALL = "too_small"
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"
# The reason a NOT_IMAGE file is skipped with, wherever it is found (beside the class folders or in one).
UNRECOGNISED_FORMAT = "not a recognised image format"
# Why a listed file is left out of training, evaluation and explanation: its label may no longer hold.

_ORIENTATION = 0x0112  # EXIF tag
_TRANSPOSING = {5, 6, 7, 8}  # orientations that swap width and height
# How to turn each EXIF orientation upright (ImageOps.exif_transpose's table; it also rewrites the EXIF block,
# which fails on a malformed tag that reads fine).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# A larger file is read whole only once its header says it is an image: a video dropped among the photos is
# rejected without its gigabytes passing through memory.
IDENTIFY_ABOVE = 32 << 20  # bytes
# Formats Pillow recognises but cannot decode (its "identify-only" formats): an MPEG video among the photos.
_IDENTIFIED_ONLY = frozenset({"BUFR", "GRIB", "HDF5", "MPEG"})

Convert = Callable[[Image.Image], Image.Image]  # an upright image as stored, to what a decode gives

# Truncated files must fail loudly, never decode as half-grey images.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejected(ValueError):
    """The file cannot be used as an image; `reason` is one of the codes above."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on accepted images: the smaller side at least `min_side` pixels, at most `max_pixels` in all."""

    min_side: int = 32
    max_pixels: int = 64_000_000

    @classmethod
    def of(cls, settings: dict[str, Any]) -> ImageLimits:
        """The limits among a section of settings (`ingest`'s): its `min_side` and `max_pixels`."""
        return cls(min_side=settings["min_side"], max_pixels=settings["max_pixels"])


# How a file that a check already kept (ingest's, or the scan of a folder to explain or score) is decoded
# again: that check applied the limits set (`ingest.min_side`, `max_pixels`); the defaults here would skip a
# 24-px patch or an 80-MP photo that settings let in, as "no longer read as ingest validated".
VALIDATED = ImageLimits(min_side=1, max_pixels=1 << 62)  # no limit


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # mode RGB (or what decode_image's `convert` makes), upright (EXIF applied)
    size: tuple[int, int]  # full upright (width, height), even when `image` was decoded reduced
    source_mode: str  # PIL mode of the file before normalisation, e.g. "CMYK", "I;16", "P"
    source_format: str  # e.g. "JPEG", "PNG"

    @property
    def pixels(self) -> np.ndarray:
        """HxWx3 uint8."""
        return np.asarray(self.image, dtype=np.uint8)

    def histogram(self, step: int = 4) -> np.ndarray:
        """3x256 counts per RGB channel of every `step`-th pixel along each axis.

        A nearest-neighbour subsample is an unbiased sample of the pixel values (an averaging
        reduction would shrink their spread) and makes the histogram ~10x cheaper than decoding.
        """
        width, height = self.image.size
        sample = self.image.resize((max(1, width // step), max(1, height // step)), Image.Resampling.NEAREST)
        return np.asarray(sample.histogram(), dtype=np.int64).reshape(3, 256)


def read_image_file(path: Path, limits: ImageLimits = ImageLimits()) -> bytes:
    """The bytes of the file at `path`; for a file over `IDENTIFY_ABOVE` bytes, `ImageRejected` without
    reading it whole when its header is no image format's (NOT_IMAGE) or says more pixels than `limits`
    allow (TOO_LARGE)."""
    size = path.stat().st_size
    if size > IDENTIFY_ABOVE:
        try:
            with _pixel_limit(limits):
                header = Image.open(path)
        except UnidentifiedImageError:
            raise ImageRejected(NOT_IMAGE, f"{UNRECOGNISED_FORMAT} ({size:,} bytes)") from None
        except Image.DecompressionBombError as error:
            raise ImageRejected(TOO_LARGE, str(error)) from None
        except Exception:  # a damaged header: decoding the bytes says what is wrong
            return path.read_bytes()
        with header:
            _check_header(header, limits)
    return path.read_bytes()


def decode_file(
    path: Path,
    limits: ImageLimits = ImageLimits(),
    convert: Convert | None = None,
) -> DecodedImage:
    """`decode_image` of the file at `path`, read by `read_image_file`: `ImageRejected` for a file that
    is no usable image, OSError for one that cannot be read."""
    return decode_image(read_image_file(path, limits), limits, convert=convert)


def _check_header(image: Image.Image, limits: ImageLimits) -> None:
    """NOT_IMAGE for a format Pillow only identifies, TOO_LARGE for more pixels than `limits` allow:
    checked on the header, before any pixel is decoded, so a decompression bomb never expands."""
    if image.format in _IDENTIFIED_ONLY:
        raise ImageRejected(NOT_IMAGE, f"{image.format} data, not an image Pillow can decode")
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageRejected(
            TOO_LARGE,
            f"{width}x{height} is {width * height:,} pixels, over the limit of {limits.max_pixels:,}",
        )


def decode_image(
    data: bytes,
    limits: ImageLimits = ImageLimits(),
    reduced: bool = False,
    convert: Convert | None = None,
    within: int | None = None,
) -> DecodedImage:
    """Decode `data` into an upright 8-bit RGB image, or raise `ImageRejected` saying why not.

    `reduced` decodes JPEGs at 1/8 scale through libjpeg's DCT scaling, for validation: every
    byte is still entropy-decoded, so truncation and corruption surface exactly as in a full
    decode, at two thirds of the cost. `within` decodes a JPEG at the smallest DCT scale (1/2 .. 1/8)
    that still covers its thumbnail in a `within`-pixel square (a sheet's picture of a 12-MP photo: 2x
    faster). `size` is the full size either way. `convert` turns the upright image as stored into `image`
    instead (a mask reads its own values: masks.read_mask).
    """
    if not data:
        raise ImageRejected(EMPTY, "the file has 0 bytes")
    with _pixel_limit(limits):
        return _decoded(data, limits, reduced, convert or to_rgb8, within)


_PILLOWS_LIMIT = threading.Lock()  # held while Pillow's global pixel limit is raised


@contextmanager
def _pixel_limit(limits: ImageLimits) -> Iterator[None]:
    """Pillow's decompression-bomb limit raised to `max_pixels`, its warning silenced: Pillow refuses twice
    its MAX_IMAGE_PIXELS (179 M pixels: a 200-MP orthophoto) when a file is opened or a TIFF loaded,
    whatever `max_pixels` is set to. Ours decides, from the header (`_check_header`), before any pixel is
    decoded. One decode at a time per process holds it: decoding is spread over processes, not threads."""
    with _PILLOWS_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        pillows = Image.MAX_IMAGE_PIXELS
        if pillows is not None:
            Image.MAX_IMAGE_PIXELS = max(pillows, limits.max_pixels)
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = pillows


def _decoded(
    data: bytes, limits: ImageLimits, reduced: bool, convert: Convert, within: int | None
) -> DecodedImage:
    """`decode_image` of non-empty `data`, within `_pixel_limit`."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected(NOT_IMAGE, UNRECOGNISED_FORMAT) from None
    except Image.DecompressionBombError as error:
        raise ImageRejected(TOO_LARGE, str(error)) from None
    except Exception as error:  # a damaged header raises what its parser meets (ValueError, struct.error...)
        raise ImageRejected(UNREADABLE, f"{type(error).__name__}: {error}") from None
    _check_header(image, limits)
    width, height = image.size
    if min(width, height) < limits.min_side:
        raise ImageRejected(TOO_SMALL, f"{width}x{height} has a side under {limits.min_side} px")
    source_mode, source_format = image.mode, image.format or "unknown"
    try:
        if source_format == "JPEG" and (draft := _draft_size(width, height, reduced, within)):
            image.draft(image.mode, draft)
        image.load()
        orientation = _orientation(image)  # after the pixels: a PNG's EXIF may follow them
        if orientation in _UPRIGHT:
            image = image.transpose(_UPRIGHT[orientation])
        rgb = convert(image)
    except ImageRejected:  # `convert`'s own word on the pixels (masks.crack_pixels)
        raise
    except Exception as error:  # truncated or corrupt pixels raise what their decoder meets
        raise ImageRejected(CORRUPT, str(error) or type(error).__name__) from None
    upright = (height, width) if orientation in _TRANSPOSING else (width, height)
    return DecodedImage(image=rgb, size=upright, source_mode=source_mode, source_format=source_format)


def _draft_size(width: int, height: int, reduced: bool, within: int | None) -> tuple[int, int] | None:
    """The size libjpeg may decode a `width` x `height` JPEG down to: the smallest DCT scale that covers
    `decode_image`'s `reduced` or `within` (a square box holds a thumbnail alike however EXIF turns it)."""
    if reduced:
        return max(1, width // 8), max(1, height // 8)
    if within is None or 2 * within > (longest := max(width, height)):  # no smaller scale would cover it
        return None
    return math.ceil(width * within / longest), math.ceil(height * within / longest)


def _orientation(image: Image.Image) -> int:
    """EXIF orientation (1 = upright; also for an EXIF block too damaged to read: the image as stored). A
    JPEG without an EXIF block needs no parsing at all."""
    if image.format == "JPEG" and "exif" not in image.info:
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data"
            return int(image.getexif().get(_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block: the pixels may still be fine
        return 1


def to_rgb8(image: Image.Image) -> Image.Image:
    """Any PIL mode (1, L, LA, P, RGBA, CMYK, I;16, I, F, ...) to 8-bit RGB."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High bit-depth grey: scale by the format's range, not Pillow's clipping conversion to "L".
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        highest = finite.max(initial=0)
        if mode.startswith("I;16") or highest > 255:
            top = 65535.0
        else:  # float grey is 0-1 by convention; no-data (NaN) is black, +inf white
            top = 1.0 if mode == "F" and highest <= 1 else 255.0
        values = np.nan_to_num(values, nan=0.0, posinf=top, neginf=0.0)
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white rather than whatever colour hides beneath the alpha.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == "RGB" else image.convert("RGB")


def png_bytes(pixels: np.ndarray, compress_level: int = 6) -> bytes:
    """An HxW or HxWx3 uint8 array (or HxW bool, 1-bit) as PNG (lossless) bytes, zlib at `compress_level`."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def resize_square(image: Image.Image, size: int) -> np.ndarray:
    """An image as 3 x size x size uint8, resized with antialiasing (Pillow's reducing bicubic):
    how every image and every tile reaches the model."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


# Raised whenever decode_image or resize_square change the pixels they give for the same bytes.
_DECODE_RECIPE = 1


def decoder_fingerprint() -> str:
    """What an image's decoded pixels depend on besides its bytes and size: this code's recipe, Pillow and
    its JPEG library. Pixels decoded under another are decoded again, never copied (a tensor cache's)."""
    return f"recipe {_DECODE_RECIPE}, Pillow {PIL.__version__}, libjpeg {features.version('jpg')}"
