"""explain holds all it makes until the run ends: a folder of many patches or of hundreds of large photos
is warned of before the work, with the survey that writes image by image."""

from pathlib import Path

from crack_pipeline.pipelines.explain.images import images_to_explain, memory_warning
from crack_pipeline.vision.data.folder import Folder, ImageRef
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from tests.conftest import image_bytes, write


def photos(count: int, width: int, height: int) -> list[ImageRef]:
    return [ImageRef(f"{i}.jpg", Path(f"{i}.jpg"), None, width * height) for i in range(count)]


def test_hundreds_of_large_photos_are_warned_of_as_thousands_of_patches_are():
    assert memory_warning(photos(30, 4032, 3024)) is None, "30 photos of 12 MP: about 1.9 GB"
    warning = memory_warning(photos(70, 4032, 3024))
    assert warning is not None and warning.startswith("explain: 70 images: every file made stays in memory")
    assert "(about 4.5 GB here" in warning and "--pipelines=survey" in warning
    assert memory_warning(photos(2000, 227, 227)) is None
    assert memory_warning(photos(2001, 227, 227)) is not None, "thousands of patches, as before"
    assert memory_warning([ImageRef("a.jpg", Path("a.jpg"))] * 2001) is not None, "sizes unknown: by count"


def test_a_folder_s_images_carry_the_pixels_the_scan_read(tmp_path):
    write(tmp_path, "deck/IMG_1.png", image_bytes((60, 48), seed=1))
    write(tmp_path, "deck/IMG_2.jpg", image_bytes((80, 40), fmt="JPEG", seed=2))
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 32, "max_pixels": 10**7, "workers": 1}
    items, *_ = images_to_explain(None, Folder.scan(tmp_path), {"split": "test"}, ingest)
    assert {item.name: item.pixels for item in items} == {
        "deck/IMG_1.png": 60 * 48,
        "deck/IMG_2.jpg": 80 * 40,
    }
