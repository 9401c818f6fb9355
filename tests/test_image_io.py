"""Every kind of bad or unusual image file the ingest promises to handle."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageOps

from crack_pipeline.vision.data.image_io import (
    CORRUPT,
    EMPTY,
    NOT_IMAGE,
    TOO_LARGE,
    TOO_SMALL,
    UNREADABLE,
    ImageLimits,
    ImageRejected,
    decode_image,
)
from tests.conftest import image_bytes


def rejection(data: bytes, limits=ImageLimits()) -> str:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, limits)
    return caught.value.reason


def test_plain_rgb_jpeg_decodes_to_uint8_rgb():
    decoded = decode_image(image_bytes((80, 60), fmt="JPEG"))
    assert decoded.pixels.shape == (60, 80, 3) and decoded.pixels.dtype == np.uint8
    assert (decoded.source_mode, decoded.source_format) == ("RGB", "JPEG")


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "CMYK"])
def test_other_modes_become_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "LA" else "PNG")
    decoded = decode_image(image_bytes((50, 40), mode=mode, fmt=fmt))
    assert decoded.pixels.shape == (40, 50, 3)
    assert decoded.source_mode == mode


def test_grayscale_keeps_its_values_in_all_three_channels():
    grey = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) % 256
    buffer = io.BytesIO()
    Image.fromarray(grey.astype(np.uint8)).save(buffer, format="PNG")
    pixels = decode_image(buffer.getvalue()).pixels
    for channel in range(3):
        np.testing.assert_array_equal(pixels[:, :, channel], grey)


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.full((40, 40), 65535, dtype=np.uint16)
    values[:20] = 32768
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    pixels = decode_image(buffer.getvalue()).pixels
    assert pixels[30, 0, 0] == 255
    assert pixels[0, 0, 0] == 128  # a clipping conversion would give 255 here


@pytest.mark.parametrize("top", [1.0, 255.0])
def test_float_grey_is_scaled_by_its_range_and_no_data_is_black(top):
    """A 0-1 float TIFF was decoded black; NaN (no data) warned and became whatever the cast gave."""
    values = np.full((40, 40), 0.5 * top, dtype=np.float32)
    values[0, :3] = [np.nan, np.inf, -np.inf]
    values[1, 0] = top
    buffer = io.BytesIO()
    Image.fromarray(values, mode="F").save(buffer, format="TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grey = decode_image(buffer.getvalue()).pixels[:, :, 0]
    assert grey[20, 20] == 128 and grey[1, 0] == 255
    assert list(grey[0, :3]) == [0, 255, 0]


def test_rgba_transparency_becomes_white():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # fully transparent black
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    assert (decode_image(buffer.getvalue()).pixels == 255).all()


def test_exif_orientation_is_applied():
    wide = Image.new("RGB", (80, 40), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).pixels.shape == (80, 40, 3)


def test_empty_file():
    assert rejection(b"") == EMPTY


def test_text_file_is_not_an_image():
    assert rejection(b"this is a README, not a photo\n") == NOT_IMAGE


def test_truncated_jpeg():
    data = image_bytes((128, 128), fmt="JPEG", quality=95)
    assert rejection(data[: len(data) // 2]) == CORRUPT


def test_corrupt_png_body():
    data = bytearray(image_bytes((64, 64), fmt="PNG"))
    data[60:200] = b"\x00" * 140  # header intact, compressed data destroyed
    assert rejection(bytes(data)) == CORRUPT


def test_too_small():
    assert rejection(image_bytes((20, 200))) == TOO_SMALL


def test_decompression_bomb_is_refused_from_the_header_alone():
    # A 6000x6000 greyscale PNG of zeros is a few dozen KB on disk but 36 MB of pixels.
    bomb = Image.new("L", (6000, 6000))
    buffer = io.BytesIO()
    bomb.save(buffer, format="PNG")
    assert rejection(buffer.getvalue(), ImageLimits(max_pixels=10_000_000)) == TOO_LARGE


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])  # a TIFF's size is checked again as it loads
def test_max_pixels_above_pillows_own_limit_lets_an_image_in(monkeypatch, fmt):
    # Pillow refuses twice its MAX_IMAGE_PIXELS (179 M pixels) itself: ingest.max_pixels at 300 M let no
    # 200-MP orthophoto in ("could be decompression bomb DOS attack"). Pillow's limit lowered stands for it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    data = image_bytes((64, 64), fmt=fmt)
    assert decode_image(data, ImageLimits(max_pixels=10_000)).size == (64, 64)
    assert rejection(data, ImageLimits(max_pixels=4_000)) == TOO_LARGE  # ours still decides
    assert Image.MAX_IMAGE_PIXELS == 1_000, "Pillow's own limit as it was"


def test_reduced_decode_reports_the_full_upright_size():
    wide = Image.new("RGB", (400, 240), (120, 120, 120))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG", exif=exif)
    decoded = decode_image(buffer.getvalue(), reduced=True)
    assert decoded.size == (240, 400)
    assert decoded.pixels.shape == (50, 30, 3), "decoded at 1/8 scale, upright"


def test_a_sheets_picture_is_decoded_at_a_fraction_of_a_large_jpeg_upright():
    # A contact sheet shows a photo at most 512 px long: each 12-MP photo was decoded whole first.
    ramp = np.linspace(0, 255, 1600, dtype=np.uint8)
    photo = np.stack(
        [np.tile(ramp, (1200, 1)), np.tile(ramp[:1200, None], (1, 1600)), np.zeros((1200, 1600))], -1
    )
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(photo.astype(np.uint8)).save(buffer, format="JPEG", exif=exif)
    full = decode_image(buffer.getvalue())
    small = decode_image(buffer.getvalue(), within=256)
    assert small.size == full.size == (1200, 1600)
    assert small.pixels.shape == (400, 300, 3), "at 1/4 scale, the smallest that covers 256 px, upright"
    shrunk = np.asarray(full.image.resize((300, 400), Image.Resampling.BOX), dtype=np.int16)
    assert np.abs(small.pixels.astype(np.int16) - shrunk).mean() < 3, "the same picture, the same way up"
    assert decode_image(buffer.getvalue(), within=1000).pixels.shape == (1600, 1200, 3), "none would cover"


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_reduced_decode_still_detects_truncation(keep):
    data = image_bytes((227, 227), fmt="JPEG", quality=90, seed=5)
    with pytest.raises(ImageRejected) as caught:
        decode_image(data[: int(len(data) * keep)], reduced=True)
    assert caught.value.reason == CORRUPT


def jpeg_with_exif(exif: bytes) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (40, 80, 3), dtype=np.uint8)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright_as_pillow_does(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = jpeg_with_exif(exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    np.testing.assert_array_equal(decode_image(data).pixels, expected)


def test_a_malformed_exif_tag_does_not_stop_the_image_from_being_read():
    # Orientation 6 beside a tag whose value is of the wrong type: it reads, but rewriting the EXIF block
    # (ImageOps.exif_transpose) raised struct.error, which stopped ingest, survey and train.
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon"
    blob = exif.tobytes().replace((0x010F).to_bytes(2, "big"), (0x0129).to_bytes(2, "big"), 1)
    assert decode_image(jpeg_with_exif(blob)).pixels.shape == (80, 40, 3), "read, and upright"


def test_a_damaged_png_header_is_refused_not_raised():
    data = bytearray(image_bytes((64, 64), fmt="PNG"))
    data[8:12] = (4).to_bytes(4, "big")  # IHDR's length: Pillow raised ValueError("Truncated IHDR chunk")
    assert rejection(bytes(data)) == UNREADABLE
