"""A labelled patch set from masked photos: each tile labelled by the crack pixels of its central area."""

import logging
import re

import numpy as np
import pytest

from crack_pipeline.pipelines.explain.nodes import explain_split
from crack_pipeline.pipelines.mask_tiles import nodes as mask_tile_nodes
from crack_pipeline.pipelines.mask_tiles.nodes import tile_masked_photos
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits, decode_image, png_bytes
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.mask_tiles import (
    TILE_GROUP_PATTERN,
    MaskTileConfig,
    cut_labelled_tiles,
    label_tiles,
)
from crack_pipeline.vision.data.scanning import group_of
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError, settings_from
from tests.conftest import image_bytes, write

CONFIG = MaskTileConfig(tile_size=20, overlap=0.0, central_fraction=0.5, min_crack_pixels=3)


def test_tiles_are_labelled_by_the_crack_pixels_of_their_centre():
    mask = np.zeros((40, 60), dtype=bool)  # 2 x 3 tiles of 20 px; the central square is 5..14
    mask[5:15, 10] = True  # tile (0, 0): a vertical crack through the centre
    mask[20:40, 21] = True  # tile (1, 1): a crack only 1 px from its left border
    mask[2, 42:45] = True  # tile (0, 2): 3 pixels, all in the border band
    mask[30, 48:50] = True  # tile (1, 2): 2 central pixels, under min_crack_pixels
    labels = {(t.y, t.x): t for t in label_tiles(mask, CONFIG)}
    assert [(t.label, t.crack_pixels, t.central_crack_pixels) for t in labels.values()] == [
        ("crack", 10, 10),
        ("no_crack", 0, 0),
        (None, 3, 0),
        ("no_crack", 0, 0),
        (None, 20, 0),
        (None, 2, 2),
    ]
    assert list(labels) == [(0, 0), (0, 20), (0, 40), (20, 0), (20, 20), (20, 40)]


def test_tiles_land_in_class_folders_named_after_their_photo():
    image = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    mask = np.zeros((40, 60), dtype=bool)
    mask[5:15, 10] = True
    tiles, labels = cut_labelled_tiles("site 1/wall.jpg", image, mask, CONFIG)
    assert sorted(tiles) == [
        "Negative/site_1__wall_y00000_x00020.png",
        "Negative/site_1__wall_y00000_x00040.png",
        "Negative/site_1__wall_y00020_x00000.png",
        "Negative/site_1__wall_y00020_x00020.png",
        "Negative/site_1__wall_y00020_x00040.png",
        "Positive/site_1__wall_y00000_x00000.png",
    ]
    assert (tiles["Negative/site_1__wall_y00020_x00040.png"] == image[20:40, 40:60]).all()
    pattern = re.compile(TILE_GROUP_PATTERN)
    assert {group_of(name, pattern) for name in tiles} == {"site_1__wall"}, "one group: the photo"
    with pytest.raises(ValueError, match="the mask is 60x30, the photo 60x40"):
        cut_labelled_tiles("wall.jpg", image, mask[:30], CONFIG)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match=r"mask_tiles\.tiling\.central_fraction"):
        settings_from(MaskTileConfig, {"central_fraction": 0}, "mask_tiles.tiling")


def test_an_overlap_that_would_cut_absurdly_many_tiles_is_refused_naming_the_setting():
    # 0.99 cut 86,625 tiles from one 480x320 CFD photo, every one held in memory.
    with pytest.raises(
        ConfigError, match=r"mask_tiles\.tiling\.overlap: .*0\.75 .*grow as 1 / \(1 - overlap\)"
    ):
        settings_from(MaskTileConfig, {"overlap": 0.99}, "mask_tiles.tiling")
    most = settings_from(MaskTileConfig, {"overlap": 0.75}, "mask_tiles.tiling")
    assert len(label_tiles(np.zeros((320, 480), dtype=bool), most)) == 187


@pytest.mark.parametrize(
    "tiling", [{"tile_size": 8, "central_fraction": 0.1}, {"tile_size": 96, "min_crack_pixels": 2305}]
)
def test_settings_under_which_no_tile_could_be_a_crack_are_refused(tiling):
    # 8 px at 0.1: a central square of 0 px; 96 px at 0.5: 48 x 48 = 2,304 px, never 2,305 crack pixels.
    with pytest.raises(ConfigError, match=r"mask_tiles\.tiling: no tile could be a crack"):
        settings_from(MaskTileConfig, tiling, "mask_tiles.tiling")
    assert settings_from(MaskTileConfig, tiling | {"central_fraction": 1.0}, "mask_tiles.tiling")


def test_the_node_cuts_every_masked_photo_and_reports_the_others(tmp_path):
    mask = np.zeros((40, 60), dtype=np.uint8)
    mask[5:15, 10] = 255
    write(tmp_path / "photos", "a.jpg", image_bytes((60, 40), fmt="JPEG", seed=1))
    write(tmp_path / "masks", "a.png", png_bytes(mask))
    write(tmp_path / "photos", "sub/b.png", image_bytes((60, 40), seed=2))  # no mask
    write(tmp_path / "photos", "c.jpg", b"not a jpeg")
    write(tmp_path / "masks", "c.png", png_bytes(mask))
    write(tmp_path / "photos", "d.png", image_bytes((50, 40), seed=3))
    write(tmp_path / "masks", "d.png", png_bytes(mask))  # 60x40: not the photo's size
    (tmp_path / "photos/e.png").symlink_to(tmp_path / "deleted.png")  # a link to nothing
    write(tmp_path / "masks", "e.png", png_bytes(mask))
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 8, "max_pixels": 10**7}
    settings = {"tiling": {"tile_size": 20, "min_crack_pixels": 3}}
    tiles, summary = tile_masked_photos(
        Folder.scan(tmp_path / "photos"), Folder.scan(tmp_path / "masks"), settings, ingest
    )
    assert summary.set_index("photo").status.to_dict() == {
        "a.jpg": "ok",
        "c.jpg": "not_an_image",
        "d.png": "size_mismatch",
        "e.png": "unreadable",
        "sub/b.png": "no_mask",
    }
    assert summary.loc[
        summary.photo == "a.jpg", ["crack_tiles", "clean_tiles", "left_out_tiles"]
    ].values.tolist() == [[1, 5, 0]]
    assert len(tiles) == 6 and decode_image(
        tiles["Positive/a_y00000_x00000.png"], ImageLimits(min_side=1)
    ).size == (20, 20)
    write(tmp_path / "other_masks", "zzz.png", png_bytes(mask))
    with pytest.raises(InputError, match="no tile could be cut"):
        tile_masked_photos(
            Folder.scan(tmp_path / "photos"), Folder.scan(tmp_path / "other_masks"), settings, ingest
        )


def test_a_photo_whose_tiles_would_take_another_photos_names_is_skipped_named(tmp_path):
    mask = np.zeros((40, 60), dtype=np.uint8)
    mask[5:15, 10] = 255
    for photo in ("a b.jpg", "a_b.png", "A_B.tif"):  # one tile stem, a_b (A_B where case is not told apart)
        write(tmp_path / "photos", photo, image_bytes((60, 40), seed=len(photo)))
        write(tmp_path / "masks", photo.rsplit(".", 1)[0] + ".png", png_bytes(mask))
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 8, "max_pixels": 10**7}
    tiles, summary = tile_masked_photos(
        Folder.scan(tmp_path / "photos"),
        Folder.scan(tmp_path / "masks"),
        {"tiling": {"tile_size": 20, "min_crack_pixels": 3}},
        ingest,
    )
    assert summary.set_index("photo").status.to_dict() == {
        "A_B.tif": "ok",
        "a b.jpg": "name_clash",
        "a_b.png": "name_clash",
    }
    assert "A_B.tif's" in summary.detail.iloc[1] and len(tiles) == 6, "the tiles of A_B.tif alone"


def test_masks_looked_for_in_the_photos_own_folder_are_refused(tmp_path):
    # x.jpg beside x_mask.png: x.jpg was its own mask (crack wherever bright), x_mask.png tiled as a photo.
    write(tmp_path, "x.jpg", image_bytes((60, 40), fmt="JPEG"))
    write(tmp_path, "x_mask.png", png_bytes(np.zeros((40, 60), dtype=np.uint8)))
    folder = Folder.scan(tmp_path)
    with pytest.raises(InputError, match=r"mask_tiles\.images_dir and mask_tiles\.masks_dir are one folder"):
        tile_masked_photos(folder, Folder.scan(tmp_path / "."), {}, {"min_side": 8, "max_pixels": 10**7})
    with pytest.raises(InputError, match=r"explain\.input_dir and explain\.masks_dir are one folder"):
        explain_split(None, None, folder, folder, None, {}, {}, {}, "cpu", None)


def test_masks_that_belong_to_no_photo_are_warned_of(tmp_path, caplog):
    """Photos without a mask were reported, masks without a photo (`a_mask.png`, `IMG_2.png` for img_2.jpg)
    never: named wrong, they went unseen."""
    mask = np.zeros((40, 60), dtype=np.uint8)
    mask[5:15, 10] = 255
    write(tmp_path / "photos", "a.jpg", image_bytes((60, 40), fmt="JPEG", seed=1))
    write(tmp_path / "masks", "a.png", png_bytes(mask))
    write(tmp_path / "masks", "b_mask.png", png_bytes(mask))
    write(tmp_path / "masks", "notes.txt", b"not a mask")
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 8, "max_pixels": 10**7}
    with caplog.at_level(logging.WARNING):
        tile_masked_photos(
            Folder.scan(tmp_path / "photos"),
            Folder.scan(tmp_path / "masks"),
            {"tiling": {"tile_size": 20}},
            ingest,
        )
    warned = [r.getMessage() for r in caplog.records if "belong to no photo" in r.getMessage()]
    assert warned == [
        f"mask_tiles: 1 mask(s) in {tmp_path / 'masks'} belong to no photo (e.g. b_mask.png): a mask needs "
        "its photo's relative path or file stem, any extension"
    ]


def test_an_error_other_than_a_size_mismatch_is_not_reported_as_one(tmp_path, monkeypatch):
    """Every ValueError of a photo was reported as `size_mismatch`, a bug hidden as the user's mistake."""
    write(tmp_path / "photos", "a.png", image_bytes((60, 40), seed=1))
    write(tmp_path / "masks", "a.png", png_bytes(np.zeros((40, 60), dtype=np.uint8)))

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(mask_tile_nodes, "cut_labelled_tiles", broken)
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 8, "max_pixels": 10**7}
    with pytest.raises(ValueError, match="a bug"):
        tile_masked_photos(
            Folder.scan(tmp_path / "photos"),
            Folder.scan(tmp_path / "masks"),
            {"tiling": {"tile_size": 20}},
            ingest,
        )


def test_a_photo_with_a_side_under_a_tile_is_skipped_not_cut_into_a_tile_of_its_own_shape(tmp_path):
    """A 60x40 photo with 48-px tiles gave one 40x60 tile, which ingest then squashed into a square: the
    cracks of one patch of the set at another scale and shape than the others'."""
    mask = np.zeros((40, 60), dtype=np.uint8)
    mask[5:35, 30] = 255
    write(tmp_path / "photos", "a.png", image_bytes((60, 40), seed=1))
    write(tmp_path / "masks", "a.png", png_bytes(mask))
    write(tmp_path / "photos", "b.png", image_bytes((60, 60), seed=2))
    write(tmp_path / "masks", "b.png", png_bytes(np.pad(mask, ((10, 10), (0, 0)))))
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 8, "max_pixels": 10**7}
    tiles, summary = tile_masked_photos(
        Folder.scan(tmp_path / "photos"),
        Folder.scan(tmp_path / "masks"),
        {"tiling": {"tile_size": 48}},
        ingest,
    )
    assert summary.set_index("photo").status.to_dict() == {"a.png": "too_small", "b.png": "ok"}
    assert "has a side under a tile's 48 px" in summary.detail[0]
    assert tiles and {decode_image(png, ImageLimits(min_side=1)).size for png in tiles.values()} == {(48, 48)}
