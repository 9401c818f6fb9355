import numpy as np
import pytest
from kedro.io.core import DatasetError, Version

from crack_pipeline.datasets import ImageFolderDataset
from crack_pipeline.vision.data.image_io import png_bytes


def test_round_trip_and_replace(tmp_path):
    dataset = ImageFolderDataset(path=str(tmp_path / "images"))
    dataset.save({"Positive/a.jpg": b"1", "Negative/b.jpg": b"2"})
    folder = dataset.load()
    assert folder.files == ("Negative/b.jpg", "Positive/a.jpg")
    assert folder.path_of("Positive/a.jpg").read_bytes() == b"1"
    dataset.save({"Positive/c.jpg": b"3"})  # unversioned: the folder is replaced, no stale files
    assert dataset.load().files == ("Positive/c.jpg",)
    assert [p.name for p in tmp_path.iterdir()] == ["images"], "no staging folders left behind"


def test_a_folder_runs_read_by_path_is_made_again_alike_but_never_replaced_by_other_files(tmp_path):
    dataset = ImageFolderDataset(path=str(tmp_path / "tiles"), replace=False)
    tiles = {"Positive/a.png": b"1", "Negative/b.png": b"2"}
    dataset.save(tiles)
    made = (tmp_path / "tiles/Positive/a.png").stat().st_mtime_ns
    (tmp_path / "tiles/.DS_Store").write_bytes(b"Finder was here")
    (tmp_path / "tiles/Positive/@eaDir/a.png").mkdir(parents=True)  # a NAS indexed it
    (tmp_path / "tiles/Positive/@eaDir/a.png/SYNOPHOTO_THUMB_M.png").write_bytes(b"thumbnail")
    dataset.save(dict(tiles))  # made again from the same photos and settings: left as it is
    assert (tmp_path / "tiles/Positive/a.png").stat().st_mtime_ns == made
    for other in (
        {**tiles, "Positive/a.png": b"changed"},
        {"Positive/a.png": b"1"},
        {**tiles, "c.png": b"3"},
    ):
        with pytest.raises(DatasetError, match=r"tiles holds other files than this run made \(1 differ"):
            dataset.save(other)
    assert {name: dataset.load().path_of(name).read_bytes() for name in tiles} == tiles


def test_a_folder_refused_names_the_setting_that_names_it(tmp_path):
    """mask_tiles' refusal said "Save under another name", not which setting gives it."""
    ImageFolderDataset(path=str(tmp_path / "cfd"), replace=False).save({"Positive/a.png": b"1"})
    named = ImageFolderDataset(path=str(tmp_path / "cfd"), replace=False, named_by="mask_tiles.name")
    with pytest.raises(DatasetError) as refused:
        named.save({"Positive/a.png": b"2"})
    assert str(refused.value).endswith(
        "Give it another name (--params=mask_tiles.name=<new name>; mask_tiles.name is 'cfd' now), or delete "
        "the folder to make it again."
    )


def test_the_same_pixels_in_other_bytes_are_made_again_alike(tmp_path):
    """A Pillow upgrade (another zlib) writes the same tiles in other PNG bytes: not other tiles."""
    pixels = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    dataset = ImageFolderDataset(path=str(tmp_path / "tiles"), replace=False)
    dataset.save({"Positive/a.png": png_bytes(pixels)})
    other_encoding = png_bytes(pixels, compress_level=1)
    assert other_encoding != png_bytes(pixels)
    dataset.save({"Positive/a.png": other_encoding})
    assert (tmp_path / "tiles/Positive/a.png").read_bytes() == png_bytes(pixels), "the first bytes stay"
    changed = pixels.copy()
    changed[0, 0] += 1
    for other in (png_bytes(changed), png_bytes(np.dstack([pixels] * 3)), b"not an image"):
        with pytest.raises(DatasetError, match=r"tiles holds other files than this run made \(1 differ"):
            dataset.save({"Positive/a.png": other})


def test_versions_are_never_overwritten(tmp_path):
    first = ImageFolderDataset(path=str(tmp_path / "maps"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    first.save({"a.npy": b"old"})
    again = ImageFolderDataset(path=str(tmp_path / "maps"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    with pytest.raises(DatasetError):
        again.save({"a.npy": b"new"})
    later = ImageFolderDataset(path=str(tmp_path / "maps"), version=Version(None, "2026-01-02T00.00.00.000Z"))
    later.save({"b.npy": b"newer"})
    latest = ImageFolderDataset(path=str(tmp_path / "maps"), version=Version(None, None)).load()
    assert latest.files == ("b.npy",)
    assert (tmp_path / "maps" / "2026-01-01T00.00.00.000Z" / "maps" / "a.npy").read_bytes() == b"old"


@pytest.mark.parametrize("name", ["../escape.jpg", "/etc/passwd", "a/../../b.jpg", "a\\b.jpg", ""])
def test_names_that_leave_the_folder_are_refused(tmp_path, name):
    dataset = ImageFolderDataset(path=str(tmp_path / "out"))
    with pytest.raises(DatasetError, match="refusing"):
        dataset.save({"ok.jpg": b"1", name: b"2"})
    assert not (tmp_path / "out").exists(), "a failed save writes nothing"
    assert not (tmp_path / "escape.jpg").exists()


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        ImageFolderDataset(path=str(tmp_path / "missing")).load()
