"""Masks: what `as_crack_mask` accepts of an array and how it refuses the rest; mask files, read and paired
with their images."""

import io
import unicodedata

import numpy as np
import pytest
from PIL import Image

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.masks import as_crack_mask, pair_masks, read_masks_of, warn_if_none_matched
from crack_pipeline.vision.errors import InputError
from tests.conftest import write


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_a_zero_one_array_of_any_type_reads_as_bool(dtype):
    array = np.eye(3, 4).astype(dtype)
    mask = as_crack_mask(array)
    assert mask.dtype == bool and mask.tolist() == np.eye(3, 4, dtype=bool).tolist()


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4, 3), dtype=bool), "truth must be a 2-D HxW array"),
        (np.zeros(4, dtype=bool), "truth must be a 2-D HxW array"),
        (np.full((4, 4), 0.5), "truth must hold only 0/1 .* threshold a probability map first"),
        (np.full((4, 4), 255, dtype=np.uint8), "truth must hold only 0/1"),
    ],
)
def test_anything_else_is_refused_naming_the_array(array, message):
    with pytest.raises(InputError, match=message):
        as_crack_mask(array, "truth")


def test_a_padded_box_stays_inside_the_image():
    from crack_pipeline.vision.data.masks import padded_box

    mask = np.zeros((50, 80), dtype=bool)
    assert padded_box(mask, 3) is None
    mask[10:12, 75:78] = True
    assert padded_box(mask, 3) == (slice(7, 15), slice(72, 80))
    mask[0, 1] = True
    assert padded_box(mask, 3) == (slice(0, 15), slice(0, 80))


def mask_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_masks_of_0_1_or_0_255_read_alike_and_a_broken_or_missing_one_is_left_out_named(tmp_path, caplog):
    crack = np.zeros((40, 40), dtype=np.uint8)
    crack[10:30, 20] = 1
    write(tmp_path / "masks", "a.png", mask_png(crack))  # a label map saved as it is: 0 and 1
    write(tmp_path / "masks", "b.png", mask_png(crack * 255))
    write(tmp_path / "masks", "c.png", b"not a png")
    (tmp_path / "masks/d.png").symlink_to(tmp_path / "deleted.png")  # a link to nothing
    read = read_masks_of(Folder.scan(tmp_path / "masks"), ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    assert sorted(read) == ["a.jpg", "b.jpg"] and "c.png (of c.jpg) left out" in caplog.text
    assert "d.png (of d.jpg) left out: [Errno 2] No such file" in caplog.text
    np.testing.assert_array_equal(read["a.jpg"], crack.astype(bool))
    np.testing.assert_array_equal(read["b.jpg"], crack.astype(bool))


def test_masks_painted_on_a_transparent_layer_or_saved_in_16_bits_read_their_cracks(tmp_path):
    crack = np.zeros((40, 50), dtype=bool)
    crack[20:22, 5:45] = True
    strokes = np.zeros((40, 50, 4), dtype=np.uint8)
    strokes[crack] = (255, 0, 0, 255)  # red on a transparent layer: read as a photo, crack everywhere
    black_strokes = np.zeros((40, 50, 4), dtype=np.uint8)
    black_strokes[crack, 3] = 255
    opaque = np.dstack([np.repeat(crack[..., None] * 255, 3, axis=2), np.full((40, 50), 255)])
    opaque_edged = opaque.copy()
    opaque_edged[0, :, 3] = 0  # an opaque black background with a few transparent pixels
    grey_alpha = np.dstack([crack * 255, crack * 255])
    files = {
        "strokes.png": Image.fromarray(strokes),
        "black_strokes.png": Image.fromarray(black_strokes),
        "opaque.png": Image.fromarray(opaque.astype(np.uint8)),  # RGBA without transparency: its colour
        "opaque_edged.png": Image.fromarray(opaque_edged.astype(np.uint8)),
        "grey_alpha.png": Image.fromarray(grey_alpha.astype(np.uint8), "LA"),
        "labels16.png": Image.fromarray(crack.astype(np.uint16)),  # a 0/1 label map in 16 bits: read empty
        "full16.png": Image.fromarray(crack.astype(np.uint16) * 65535),
    }
    for name, image in files.items():
        image.save(tmp_path / name)
    read = read_masks_of(Folder.scan(tmp_path), [name.replace(".png", ".jpg") for name in files])
    for name, mask in read.items():
        np.testing.assert_array_equal(mask, crack, err_msg=name)
    assert len(read) == len(files)


def test_a_mask_goes_by_file_stem_only_to_the_one_image_of_that_stem(tmp_path):
    for name in ("x1.png", "Positive/y2.png"):
        write(tmp_path, name, b"")
    masks = Folder.scan(tmp_path)
    paired = pair_masks(masks, ["Positive/x1.jpg", "Negative/x1.jpg", "Positive/y2.jpg", "Negative/z3.jpg"])
    assert paired == {"Positive/y2.jpg": tmp_path / "Positive/y2.png"}, "x1 is two images' stem: neither"
    assert pair_masks(masks, ["site/x1.jpg"]) == {"site/x1.jpg": tmp_path / "x1.png"}


def test_names_that_differ_only_by_extension_pair_nothing_and_a_non_image_is_no_mask(tmp_path, caplog):
    for name in ("x1.png", "y2.png", "y2.bmp", "z3.png", "z3.txt"):
        write(tmp_path, name, b"")
    paired = pair_masks(Folder.scan(tmp_path), ["x1.jpg", "x1.png", "y2.jpg", "z3.jpg"])
    # Two photos cannot both fit x1.png, nor can y2.jpg tell which of two masks is its own; z3.txt is a note.
    assert paired == {"z3.jpg": tmp_path / "z3.png"}
    assert "x1.jpg and x1.png" in caplog.text and "y2.bmp and y2.png" in caplog.text


def test_a_mask_folder_none_of_whose_masks_matches_an_image_is_warned_of(tmp_path, caplog):
    write(tmp_path, "001_mask.png", b"")  # as some data sets name them: no image's path or stem
    masks, names = Folder.scan(tmp_path), ["001.jpg", "002.jpg"]
    warn_if_none_matched(masks, names, read_masks_of(masks, names), "explain.masks_dir")
    assert "explain.masks_dir: none of its 1 files (e.g. 001_mask.png)" in caplog.text
    caplog.clear()
    matched = {"001_mask.jpg": np.ones((2, 2), bool)}
    warn_if_none_matched(masks, ["001_mask.jpg"], matched, "explain.masks_dir")
    assert not caplog.text


def test_a_mask_of_several_classes_or_dark_crack_is_left_out_named_not_read_as_no_crack(tmp_path, caplog):
    classes = np.zeros((40, 40), dtype=np.uint8)
    classes[10:30, 20], classes[5:8, 5:30] = 1, 2  # crack and, say, spalling
    write(tmp_path / "masks", "a.png", mask_png(classes))
    write(tmp_path / "masks", "b.png", mask_png((classes == 1).astype(np.uint8) * 100))  # crack saved grey
    write(tmp_path / "masks", "c.png", mask_png(classes * 0))  # a clean photo's mask: no crack, read
    read = read_masks_of(Folder.scan(tmp_path / "masks"), ["a.jpg", "b.jpg", "c.jpg"])
    assert list(read) == ["c.jpg"] and not read["c.jpg"].any()
    assert "a.png (of a.jpg) left out: unclear_mask: its brightest value is 2" in caplog.text
    assert "b.png (of b.jpg) left out: unclear_mask: its brightest value is 100" in caplog.text


def test_a_mask_whose_stem_differs_only_by_case_goes_to_the_one_image_of_that_stem(tmp_path):
    """`IMG_1.JPG` and `img_1.png` (a camera's names, a labelling tool's) counted as a photo with no mask."""
    for name in ("img_1.png", "img_2.png", "img_4.png", "Img_4.png"):
        write(tmp_path, name, b"")
    paired = pair_masks(Folder.scan(tmp_path), ["site/IMG_1.JPG", "IMG_2.JPG", "img_2.jpeg", "IMG_4.JPG"])
    # The case set aside, img_2 is two images' stem and img_4 two masks': neither is paired so.
    assert paired == {"site/IMG_1.JPG": tmp_path / "img_1.png", "img_2.jpeg": tmp_path / "img_2.png"}


def test_a_mask_drawn_black_on_white_is_left_out_named_not_read_as_crack_everywhere(tmp_path, caplog):
    """Read white as crack, an inverted mask made the photo's surface its crack: scores against it meant
    nothing (CFD's masks inverted: mask share 0.978, width error 109 px), and nothing said so."""
    crack = np.zeros((40, 40), dtype=np.uint8)
    crack[10:30, 20] = 255
    write(tmp_path / "masks", "a.png", mask_png(255 - crack))  # black crack on white
    write(tmp_path / "masks", "b.png", mask_png(crack))
    read = read_masks_of(Folder.scan(tmp_path / "masks"), ["a.jpg", "b.jpg"])
    assert list(read) == ["b.jpg"]
    assert "a.png (of a.jpg) left out: unclear_mask: 99% of its pixels are crack (white)" in caplog.text


def test_masks_that_match_their_images_but_are_left_out_are_not_said_to_match_none(tmp_path, caplog):
    """Masks drawn black on white, all left out, were said to match no image ("a mask needs the image's
    relative path or file stem"), though each was named as its image is."""
    crack = np.zeros((40, 40), dtype=np.uint8)
    crack[10:30, 20] = 255
    write(tmp_path / "masks", "a.png", mask_png(255 - crack))
    masks = Folder.scan(tmp_path / "masks")
    assert read_masks_of(masks, ["a.jpg"], "explain.masks_dir") == {}
    assert "a.png (of a.jpg) left out: unclear_mask" in caplog.text
    assert "none of its" not in caplog.text
    read_masks_of(masks, ["b.jpg"], "explain.masks_dir")
    assert "explain.masks_dir: none of its 1 files (e.g. a.png) is the mask of an image (e.g. b.jpg)" in (
        caplog.text
    )


@pytest.mark.parametrize("form_of_masks, form_of_photos", [("NFD", "NFC"), ("NFC", "NFD")])
def test_a_mask_named_in_the_other_unicode_form_goes_to_its_photo(tmp_path, form_of_masks, form_of_photos):
    """A folder copied from a Mac spells `ü` as `u` and a combining mark: `Brücke Süd 03.png` so named was
    no mask of `Brücke Süd 03.jpg`, not a word said where the folder's other masks matched."""

    def spelt(form: str, name: str) -> str:
        return unicodedata.normalize(form, name)

    for name in ("Brücke Süd 03.png", "Pfeiler/Süd.png", "pier.png"):
        write(tmp_path, spelt(form_of_masks, name), b"")
    photos = [spelt(form_of_photos, name) for name in ("Brücke Süd 03.jpg", "Pfeiler/SÜD.JPG", "pier.jpg")]
    paired = pair_masks(Folder.scan(tmp_path), photos)
    # By relative path, by stem (the folder aside) and by stem in another case alike.
    assert paired == {
        photos[0]: tmp_path / spelt(form_of_masks, "Brücke Süd 03.png"),
        photos[1]: tmp_path / spelt(form_of_masks, "Pfeiler/Süd.png"),
        photos[2]: tmp_path / "pier.png",
    }
