"""Whole photos: tiles classified and explained at the training scale, CAMs weighted and blended into one
map, crack regions boxed, and all of it in the files, the tables and the gallery."""

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from crack_pipeline.pipelines.explain.nodes import explain_split
from crack_pipeline.pipelines.retrain.nodes import explain_sample
from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.data.labels import CLASS_NAMES, CRACK, NO_CRACK
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo, render_sample
from crack_pipeline.vision.data.tile_grid import tile_grid
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.segmentation import tolerant_scores
from crack_pipeline.vision.explain import artefacts
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.photo_explainer import PhotoExplainer
from crack_pipeline.vision.explain.photos import PhotoExplanation, TiledPhoto, explain_photo
from crack_pipeline.vision.explain.quality import quality_lines
from crack_pipeline.vision.explain.rendering import BOX_COLOUR, OUTLINE_COLOUR, draw_boxes, scale_boxes
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.settings import ConfigError, settings_from
from tests.conftest import SHARED_DATA

TILING = TilingConfig(tile_size=96, overlap=0.25, cam_min_probability=0.05)


def test_a_photos_map_is_its_tiles_cams_weighted_by_their_crack_probability():
    grid = tile_grid(100, 200, 100, 0.0)  # two tiles side by side
    cam = np.zeros((50, 50), dtype=np.float32)  # CAMs come at the model's input size
    cam[20:30, 20:30] = 1.0
    explanation = explain_photo(grid, np.array([0.9, 0.02]), {0: cam}, TILING, 0.5)  # tile 1: no CAM, skipped
    assert explanation.heatmap.shape == (100, 200) and explanation.probability == pytest.approx(0.9)
    assert explanation.heatmap[50, 50] == pytest.approx(0.9, abs=0.01), "CAM x p(crack), at full resolution"
    assert explanation.heatmap[:, 100:].max() == 0, "a tile without a CAM adds no evidence"
    assert explanation.tile_probabilities.shape == (1, 2)
    np.testing.assert_allclose(explanation.probability_map[:, :100], 0.9, rtol=1e-6)
    (box,) = explanation.boxes
    assert (box["x0"], box["y0"], box["x1"], box["y1"]) == (40, 40, 60, 60), "tightened to the evidence"
    assert box["probability"] == pytest.approx(0.9)
    # The rule is configurable; the map is not affected by it.
    top = explain_photo(
        grid, np.array([0.9, 0.02]), {0: cam}, TilingConfig(aggregate="top_k_mean", top_k=2), 0.5
    )
    assert top.probability == pytest.approx(0.46) and top.boxes, "a tile saying crack is boxed"
    quiet = explain_photo(grid, np.array([0.3, 0.1]), {0: cam, 1: cam}, TILING, 0.5)
    assert quiet.boxes == [] and quiet.heatmap.max() == pytest.approx(0.3, abs=0.01)
    # The model's decision threshold decides what is boxed, not a constant 0.5.
    (low,) = explain_photo(grid, np.array([0.3, 0.1]), {0: cam, 1: cam}, TILING, 0.25).boxes
    assert (low["x0"], low["x1"]) == (40, 60)


def test_a_patch_keeps_its_own_cam():
    grid = tile_grid(60, 60, 227, 0.25)
    cam = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    explanation = explain_photo(grid, np.array([0.2]), {0: cam}, TILING, 0.5)
    assert explanation.heatmap.shape == (60, 60) and explanation.heatmap.max() > 0.95, "not scaled by p"
    assert explanation.boxes == [], "no crack predicted, no box"


def test_tiles_are_the_models_training_patches_unless_set():
    assert TilingConfig().at_scale_of({"patch_side": 100}).tile_size == 100
    assert TilingConfig().at_scale_of({}).tile_size == 227, "older checkpoints: Özgenel's patch side"
    assert TilingConfig(tile_size=64).at_scale_of({"patch_side": 100}).tile_size == 64
    with pytest.raises(ValueError, match="at_scale_of"):
        TilingConfig().grid(500, 500)


def test_tiling_settings_are_checked():
    assert settings_from(TilingConfig, {"tile_size": 128}, "tiling").tile_size == 128
    with pytest.raises(ConfigError, match=r"tiling\.tile: unknown setting"):
        settings_from(TilingConfig, {"tile": 128}, "tiling")
    with pytest.raises(ConfigError, match=r"tiling\.aggregate: .*'max', 'noisy_or' or 'top_k_mean'"):
        settings_from(TilingConfig, {"aggregate": "mean"}, "tiling")
    # Named as a setting (`tiling.overlap`), so that the run can say where it was set; it named `tiling`.
    with pytest.raises(ConfigError, match=r"tiling\.overlap: .*0\.75 \(got 1\.5\)"):
        settings_from(TilingConfig, {"overlap": 1.5}, "tiling")
    with pytest.raises(ConfigError, match=r"tiling\.overlap: .*0\.75 \(got 0\.99\)"):  # 2.7 M tiles of 12 MP
        settings_from(TilingConfig, {"overlap": 0.99}, "tiling")
    # Why the bound (pydantic's own message said only "less than or equal to 0.75").
    with pytest.raises(
        ConfigError, match=r"\(got 0\.9\): a photo's tiles grow as 1 / \(1 - overlap\)\^2, and 0\.75"
    ):
        settings_from(TilingConfig, {"overlap": 0.9}, "tiling")
    with pytest.raises(ConfigError, match=r"tiling\.cam_max_tiles: .*1 \(got 0\)"):
        settings_from(TilingConfig, {"cam_max_tiles": 0}, "tiling")


def test_boxes_are_drawn_on_the_picture_and_follow_it_into_thumbnails():
    picture = np.zeros((500, 500, 3), dtype=np.uint8)
    boxed = draw_boxes(picture, [{"x0": 100, "y0": 50, "x1": 300, "y1": 150}])
    assert tuple(boxed[50, 200]) == BOX_COLOUR and tuple(boxed[149, 200]) == BOX_COLOUR
    assert tuple(boxed[100, 100]) == BOX_COLOUR and tuple(boxed[100, 200]) == (0, 0, 0), "an outline"
    assert picture.max() == 0, "the input is not drawn on"
    (small,) = scale_boxes([{"x0": 100, "y0": 50, "x1": 300, "y1": 150, "probability": 0.9}], 0.1)
    assert (small["x0"], small["y0"], small["x1"], small["y1"], small["probability"]) == (10, 5, 30, 15, 0.9)


def test_a_whole_photo_and_a_patch_explained_together(trained_checkpoint, tmp_path):
    settings = SynthConfig(image_size=96, seed=3, difficulty=0.0)
    photo = render_photo(settings, 240, 330, cracks=1)
    patch = render_sample(settings, True, 1)
    (tmp_path / "site").mkdir()
    Image.fromarray(photo.image).save(tmp_path / "site" / "deck.png")
    Image.fromarray(patch.image).save(tmp_path / "patch.png")
    result = explain_images(
        trained_checkpoint,
        [
            ImageRef("site/deck.png", tmp_path / "site/deck.png"),
            ImageRef("patch.png", tmp_path / "patch.png", "crack"),
        ],
        ["layercam"],
        0.5,
        masks={"site/deck.png": photo.mask, "patch.png": patch.mask},
        tiling=TILING,
        sanity_images=4,
    )
    grid = tile_grid(240, 330, 96, 0.25)
    rows = result.predictions.set_index("file")
    assert rows.loc["site/deck.png", "tiles"] == len(grid) == 15 and rows.loc["patch.png", "tiles"] == 1
    heatmap = np.load(io.BytesIO(result.files["layercam/00000_deck_heatmap.npy"]))
    assert heatmap.shape == (240, 330), "the photo at full resolution"
    assert np.load(io.BytesIO(result.files["layercam/00001_patch_heatmap.npy"])).shape == (96, 96)
    tiles = np.load(io.BytesIO(result.files["layercam/00000_deck_tiles.npy"]))
    assert tiles.shape == grid.shape
    # The model sees the crack at the scale it learned: the tiles on the crack are the confident ones.
    on_crack = np.array([photo.mask[y : y + 96, x : x + 96].any() for y, x in grid.origins()]).reshape(
        grid.shape
    )
    assert tiles[on_crack].max() > 0.5 > tiles[~on_crack].mean(), tiles
    assert rows.loc["site/deck.png", "crack_probability"] == pytest.approx(tiles.max(), abs=1e-3)
    boxes = result.boxes[result.boxes.file == "site/deck.png"]
    assert len(boxes) == rows.loc["site/deck.png", "crack_regions"] >= 1
    best = boxes.iloc[0]
    assert photo.mask[best.y0 : best.y1, best.x0 : best.x1].any(), "the best box holds crack pixels"
    # The gallery lists the photo's boxes, and its overlay shows them.
    page = result.files["index.html"].decode()
    items = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    deck = next(item for item in items if item["file"] == "site/deck.png")
    assert (
        len(deck["boxes"]) == len(boxes) and deck["probability_map"] == "layercam/00000_deck_probability.jpg"
    )
    overlay = np.asarray(Image.open(io.BytesIO(result.files[deck["overlay"]])))
    assert tuple(overlay[best.y0, (best.x0 + best.x1 - 1) // 2]) == BOX_COLOUR
    assert "layercam/00000_deck_probability.jpg" in result.files
    # Its crack pixels: a mask at full resolution on the drawn crack, outlined on the overlay, measured.
    mask = np.asarray(Image.open(io.BytesIO(result.files[deck["mask"]]))) > 0
    assert mask.shape == (240, 330)
    assert tolerant_scores(mask, photo.mask, tolerance=2)["f1"] > 0.8
    edge = mask & ~ndimage.binary_erosion(mask)
    drawn = (overlay[edge] == OUTLINE_COLOUR).all(axis=1) | (overlay[edge] == BOX_COLOUR).all(axis=1)
    assert drawn.all(), "the crack's outline on the overlay (under the boxes' lines)"
    cracks = result.measurements[result.measurements.file == "site/deck.png"]
    assert len(cracks) == rows.loc["site/deck.png", "cracks_count"] == deck["cracks_count"]
    # Whole photos are scored apart from patches, with scope=photo in the printed line.
    quality = result.quality["layercam"]
    assert quality["n"] == 1 and quality["photo"]["n"] == 1 and quality["photo"]["detection_rate"] == 1.0
    lines = quality_lines(result.quality)
    assert any(
        line.startswith("explain: method=layercam scope=photo n=1 detection_rate=1.000") for line in lines
    )
    assert quality["perturbation_images"] == 4
    # The crack masks scored against the true ones, beside the model-free baselines.
    segment = quality["segment"]
    assert segment["n"] == 2 and segment["tolerance"] == 2
    assert segment["f1"] > max(segment["baseline_threshold_f1"], segment["baseline_sobel_f1"])
    assert any(line.startswith(f"segment: method=layercam n=2 f1={segment['f1']:.3f}") for line in lines)


def test_a_mask_of_another_size_than_its_image_is_named_and_left_out_of_the_scores(
    trained_checkpoint, tmp_path, caplog
):
    settings = SynthConfig(image_size=96, seed=3, difficulty=0.0)
    samples = [render_sample(settings, True, index) for index in (1, 2)]
    for index, sample in enumerate(samples):
        Image.fromarray(sample.image).save(tmp_path / f"{index}.png")
    result = explain_images(
        trained_checkpoint,
        [ImageRef(f"{index}.png", tmp_path / f"{index}.png", "crack") for index in (0, 1)],
        ["layercam"],
        0.5,
        masks={"0.png": samples[0].mask, "1.png": samples[1].mask[:48]},  # half of it: another size
        tiling=TILING,
        sanity_images=0,
    )
    assert result.quality["layercam"]["n"] == 1 and result.quality["layercam"]["segment"]["n"] == 1
    assert "the mask of 1.png is 96x48, the image 96x96: left out of the scores" in caplog.text


CFD = SHARED_DATA / "cfd"


@pytest.mark.skipif(not CFD.is_dir(), reason="../shared/data/cfd is not present")
def test_real_pavement_photos_are_tiled_scored_and_boxed_in_their_own_pixels(trained_checkpoint):
    names = sorted(p.name for p in (CFD / "images").iterdir())[:3]
    masks = {
        name: np.asarray(Image.open(CFD / "masks" / f"{Path(name).stem}.png").convert("L")) > 127
        for name in names
    }
    result = explain_images(
        trained_checkpoint,
        [ImageRef(name, CFD / "images" / name) for name in names],
        ["layercam"],
        0.5,
        masks=masks,
        tiling=TILING,
        sanity_images=2,
    )
    assert result.skipped == {}
    for number, name in enumerate(names):
        shape = masks[name].shape
        heatmap = np.load(io.BytesIO(result.files[f"layercam/{number:05d}_{Path(name).stem}_heatmap.npy"]))
        assert heatmap.shape == shape and heatmap.min() >= 0 and heatmap.max() <= 1
    assert (result.predictions.tiles == len(tile_grid(*shape, 96, 0.25))).all()
    inside = (
        (result.boxes.x0 >= 0)
        & (result.boxes.y0 >= 0)
        & (result.boxes.x1 <= shape[1])
        & (result.boxes.y1 <= shape[0])
    )
    assert inside.all() and (result.boxes.x1 > result.boxes.x0).all()
    assert result.quality["layercam"]["photo"]["n"] == 3


def masked_photo(
    mask: np.ndarray, name: str = "a.png", tile: int = 96
) -> tuple[TiledPhoto, PhotoExplanation]:
    """A grey photo called cracked, its crack mask `mask` (tiles of `tile` px), as explain hands it on."""
    height, width = mask.shape
    image = np.full((height, width, 3), 150, dtype=np.uint8)
    grid = tile_grid(height, width, tile, 0.25)
    photo = TiledPhoto(
        0, ImageRef(name, Path("unused.png"), "crack"), image, grid, np.zeros((1, 3, 8, 8), np.uint8)
    )
    explanation = PhotoExplanation(
        probability=0.9,
        tile_probabilities=np.array([[0.9]]),
        heatmap=mask.astype(np.float32),
        probability_map=np.full((height, width), 0.9),
        boxes=[],
        crack_mask=mask,
        crack_score=mask.astype(np.float32),
        called_by="classifier",
    )
    return photo, explanation


def test_a_whole_photos_panel_counts_its_tiles_and_crack_regions_in_words(monkeypatch):
    """A panel titled '1 crack regions' (an inspector reads the title above the photo)."""
    titles = []

    def panel(small, explanation, title, height):
        titles.append(title)
        return b""

    monkeypatch.setattr(artefacts, "_panel_png", panel)
    mask = np.zeros((200, 300), dtype=bool)
    mask[100:102, 20:280] = True
    for boxes in (1, 2):
        photo, explanation = masked_photo(mask, f"wall_{boxes}.png")
        box = {"x0": 20, "y0": 90, "x1": 280, "y1": 110, "area": 5200, "probability": 0.9, "evidence": 0.8}
        box |= {"found_by": "classifier"}  # as photos.explain_photo hands its boxes on
        explanation.boxes = [box] * boxes
        writer = ArtefactWriter(0.5)
        writer.add("layercam", photo, explanation)
    tiles = len(photo.grid)
    assert [title.rsplit("| ", 1)[1] for title in titles] == [
        f"{tiles} tiles, 1 crack region",
        f"{tiles} tiles, 2 crack regions",
    ]


def test_a_whole_photos_panel_outlines_its_cracks_as_its_overlay_does_with_no_blank_band():
    """A 300 x 200 photo's panel had no crack outline on its overlay (its own overlay file has one), and its
    pictures sat in square cells: 85 px of white under each."""
    from crack_pipeline.vision.explain.rendering import mask_thumbnail
    from crack_pipeline.vision.figures import CELL, GAP

    mask = np.zeros((200, 300), dtype=bool)
    mask[100:104, 20:280] = True
    made = ArtefactWriter(0.5).artefacts("layercam", *masked_photo(mask, "wall.png"), "layercam/wall")
    outlined = {}
    for kind in ("overlay", "panel"):
        pixels = np.asarray(Image.open(io.BytesIO(made.files[f"layercam/wall_{kind}.png"])).convert("RGB"))
        red, green, blue = np.moveaxis(pixels.astype(int), -1, 0)  # yellow, blurred where the panel scales it
        outlined[kind] = int(((red > 180) & (green > 180) & (blue < 100)).sum())
        white_rows = (pixels == 255).all(axis=(1, 2))
        last_picture_row = np.flatnonzero(~white_rows)[-1]
        assert len(pixels) - 1 - last_picture_row <= GAP, f"the {kind} ends with its picture"
    assert outlined["overlay"] > 500 and outlined["panel"] > 0.5 * outlined["overlay"] * (CELL / 300) ** 2
    # A crack a pixel wide on a large photo stays on the panel's thumbnail.
    wide = np.zeros((2000, 3000), dtype=bool)
    wide[1000, 100:2900] = True
    assert mask_thumbnail(wide, (1024, 683)).sum() >= 0.9 * 2800 * 1024 / 3000


def test_crack_measurements_and_the_gallery_keep_any_file_name_intact():
    name = 'site, north/<b>deck</b> "7",\n1.png'
    mask = np.zeros((60, 80), dtype=bool)
    mask[30:32, 10:70] = True
    writer = ArtefactWriter(0.5, mm_per_pixel=0.5)
    writer.add("layercam", *masked_photo(mask, name))
    files, predictions, _, measurements = writer.finish("small_cnn")
    (crack,) = measurements.itertuples()
    assert crack.length_mm == pytest.approx(30, rel=0.05) and crack.severity == "fine", "60 px at 0.5 mm/px"
    buffer = io.StringIO()
    measurements.to_csv(buffer, index=False)
    assert pd.read_csv(io.StringIO(buffer.getvalue())).file.tolist() == [name], "quoted, not split"
    page = files["index.html"].decode()
    assert "<b>deck</b>" not in page
    # The default bands' names are the same in px: the page says which bounds its severities have.
    assert "widest width in mm at 0.5 mm/px: hairline up to 0.3 mm, fine up to 1 mm, medium" in page
    (item,) = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    assert item["file"] == name and item["cracks_count"] == 1 and item["mask"].endswith("_mask.png")
    written = Image.open(io.BytesIO(files[item["mask"]]))
    assert written.mode == "1", "a mask is stored one bit a pixel"
    np.testing.assert_array_equal(np.asarray(written), mask)


def test_every_crack_the_mask_keeps_is_measured_however_short():
    # crack_masks.min_pixels: 4 keeps a crack of 6 px in the mask (outlined on the overlay): it is a row too.
    mask = np.zeros((60, 80), dtype=bool)
    mask[30:32, 10:70] = True
    mask[10, 20:26] = True
    writer = ArtefactWriter(0.5)
    writer.add("layercam", *masked_photo(mask))
    _, predictions, _, measurements = writer.finish("small_cnn")
    assert measurements.length_px.tolist() == pytest.approx([60, 6], abs=1)
    assert predictions.cracks_count.tolist() == [2]


def test_a_crack_in_pieces_is_measured_and_counted_as_one():
    """On CFD the masks held 13.5 pieces a photo (median) where the hand-drawn ones hold 2 cracks: pieces at
    most crack_masks.join_gap tile sides apart are one crack (tiles of 100 px here: 20 px)."""
    mask = np.zeros((200, 300), dtype=bool)
    mask[100:103, 20:120] = True
    mask[100:103, 135:235] = True  # 15 px on: the same crack, traced in two pieces
    mask[20:23, 20:80] = True  # 77 px away: another
    photo, explanation = masked_photo(mask, tile=100)
    measured = {}
    for join_gap in (0.0, 0.2):
        writer = ArtefactWriter(0.5, join_gap=join_gap)
        writer.add("layercam", photo, explanation)
        _, predictions, _, measured[join_gap] = writer.finish("small_cnn")
    assert measured[0.0].length_px.tolist() == pytest.approx([100, 100, 60], abs=1), "each piece its own"
    joined = measured[0.2]
    assert joined.length_px.tolist() == pytest.approx([200, 60], abs=1), "the gap is not crack"
    assert joined[["x0", "x1", "area_px"]].iloc[0].tolist() == [20, 235, 600]
    assert predictions.cracks_count.tolist() == [2]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mm_per_pixel": -0.2}, "mm_per_pixel"),
        ({"severity_bands": {"fine": 2.0, "hairline": 1.0}}, "increasing"),
    ],
)
def test_bad_measurement_settings_stop_before_the_first_photo(settings, message):
    with pytest.raises(InputError, match=message):
        ArtefactWriter(0.5, **settings)


def test_a_photo_explains_at_most_cam_max_tiles_the_most_probable(trained_checkpoint, tmp_path):
    photo = render_photo(SynthConfig(image_size=96, seed=3, difficulty=0.0), 240, 330, cracks=1)
    Image.fromarray(photo.image).save(tmp_path / "deck.png")
    items = [ImageRef("deck.png", tmp_path / "deck.png")]
    every = TilingConfig(tile_size=96, overlap=0.25, cam_min_probability=0.0)
    capped = TilingConfig(tile_size=96, overlap=0.25, cam_min_probability=0.0, cam_max_tiles=2)
    results = [
        explain_images(trained_checkpoint, items, ["layercam"], 0.5, tiling=t, sanity_images=0)
        for t in (every, capped)
    ]
    (full,), (top,) = (r.predictions.itertuples() for r in results)
    assert full.explained_tiles == full.tiles == 15 and top.explained_tiles == 2
    assert top.crack_probability == full.crack_probability, "every tile is still classified"
    tiles = np.load(io.BytesIO(results[0].files["layercam/00000_deck_tiles.npy"])).ravel()
    heatmap = np.load(io.BytesIO(results[1].files["layercam/00000_deck_heatmap.npy"]))
    grid = tile_grid(240, 330, 96, 0.25)
    explained = np.zeros((240, 330), dtype=bool)
    for index in np.argsort(-tiles)[:2]:
        y, x = grid.origins()[index]
        explained[y : y + 96, x : x + 96] = True
    assert heatmap[~explained].max() == 0 and heatmap[explained].max() > 0, "the two most probable tiles"
    with pytest.raises(ValueError, match=r"cam_max_tiles\n.*greater than or equal to 1"):
        TilingConfig(cam_max_tiles=0)


def test_what_a_photo_shows_by_default_does_not_follow_the_cpus_bf16(
    trained_checkpoint, tmp_path, monkeypatch
):
    """`precision: auto` explains a photo the same on a CPU with native bf16 and on one without (bf16 moved
    a mosaic by up to 0.55 where it was chosen): heatmap, tile probabilities, mask and boxes."""
    from crack_pipeline.vision.models import precision

    # Fails the day `auto` picks bf16 for explaining on a native-bf16 CPU (AUTO_BF16_USES).
    for use in ("inference", "cam"):
        for native in (True, False):
            monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
            assert Precision.resolve("auto", use).name == "fp32", (use, native)
    photo = render_photo(SynthConfig(image_size=96, seed=5, difficulty=0.0), 240, 330, cracks=2)
    Image.fromarray(photo.image).save(tmp_path / "wall.png")
    items = [ImageRef("wall.png", tmp_path / "wall.png")]
    tiling = TilingConfig(tile_size=96, overlap=0.25, cam_min_probability=0.0)
    shown = {}
    for native in (True, False):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
        result = explain_images(trained_checkpoint, items, ["layercam"], 0.5, tiling=tiling, sanity_images=0)
        shown[native] = (result.files, result.boxes)
    for name in ("00000_wall_heatmap.npy", "00000_wall_tiles.npy"):
        with_bf16, without = (np.load(io.BytesIO(shown[n][0][f"layercam/{name}"])) for n in (True, False))
        np.testing.assert_array_equal(with_bf16, without, err_msg=name)
    assert shown[True][0]["layercam/00000_wall_mask.png"] == shown[False][0]["layercam/00000_wall_mask.png"]
    pd.testing.assert_frame_equal(shown[True][1], shown[False][1])


def test_an_image_with_a_threshold_of_its_own_is_called_and_explained_at_it(trained_checkpoint, tmp_path):
    # One clean patch under two names; the pooled threshold 1.0 calls it clean, its own 0.0 cracked.
    patch = render_sample(SynthConfig(image_size=96, seed=3), False, 1)
    items = [ImageRef(name, tmp_path / name) for name in ("own.png", "pooled.png")]
    for item in items:
        Image.fromarray(patch.image).save(item.file)
    explainer = PhotoExplainer(
        trained_checkpoint, ["gradcam"], 1.0, precision="fp32", image_thresholds={"own.png": 0.0}
    )
    (chunk,) = list(explainer.explain(items, {}))
    explainer.close()
    assert [CLASS_NAMES[c] for c in chunk.classes] == [CRACK, NO_CRACK], "each CAM explains the class called"
    assert [e["gradcam"].called_by for e in chunk.explanations] == ["classifier", None]
    result = explain_images(
        trained_checkpoint, items, ["gradcam"], 1.0, image_thresholds={"own.png": 0.0}, sanity_images=0
    )
    rows = result.predictions.set_index("file")
    assert rows.threshold.to_dict() == {"own.png": 0.0, "pooled.png": 1.0}
    assert rows.predicted_label.to_dict() == {"own.png": "crack", "pooled.png": "no_crack"}
    assert "at its domain's decision threshold on (0.0000, 1.0000" in result.files["index.html"].decode()


def test_an_image_with_a_tile_size_of_its_own_is_tiled_at_it(trained_checkpoint, tmp_path):
    # One 200-px photo under two names: tiled at the 96-px scale set, and whole at its own 200 px.
    photo = render_photo(SynthConfig(image_size=96, seed=3), 200, 200, cracks=1)
    items = [ImageRef(name, tmp_path / name) for name in ("own.png", "pooled.png")]
    for item in items:
        Image.fromarray(photo.image).save(item.file)
    tiling = TilingConfig(tile_size=96)
    result = explain_images(
        trained_checkpoint,
        items,
        ["gradcam"],
        0.5,
        tiling=tiling,
        image_tile_sizes={"own.png": 200},
        sanity_images=0,
    )
    tiles = result.predictions.set_index("file").tiles.to_dict()
    assert (
        tiles == {"own.png": 1, "pooled.png": len(tile_grid(200, 200, 96, tiling.overlap))}
        and tiles["pooled.png"] > 1
    )


def two_domain_split(folder: Path) -> pd.DataFrame:
    """A test split of one crack patch in domain a (64 px) and one in domain b (128 px)."""
    photo = render_photo(SynthConfig(image_size=64, seed=5), 128, 128, cracks=1).image
    rows = []
    for domain, side in (("a", 64), ("b", 128)):
        content = png_bytes(photo[:side, :side])
        (folder / domain / "Positive").mkdir(parents=True)
        (folder / domain / "Positive" / "1.png").write_bytes(content)
        rows.append((domain, str(folder / domain), hashlib.sha256(content).hexdigest()))
    domains, roots, sha256 = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "path": "Positive/1.png",
            "domain": domains,
            "root": roots,
            "split": "test",
            "label": "crack",
            "sha256": sha256,
        }
    )


def test_the_split_s_images_are_tiled_at_their_domain_s_side_and_the_record_says_so(
    trained_checkpoint, tmp_path
):
    # A 128-px patch of domain b is scored whole at b's side; at the pooled 64 px it would be cut into tiles.
    manifest = two_domain_split(tmp_path)
    model = {**trained_checkpoint, "patch_side": 64, "patch_sides": {"a": 64, "b": 128}}
    settings = {"split": "test", "methods": ["gradcam"], "segmenter": False}
    files, predictions, _, _, quality = explain_split(
        model, manifest, None, None, None, settings, {"tile_size": None}, {}, "cpu"
    )
    # One threshold for all: the gallery does not call it the model's (explain.threshold may have set it).
    assert (
        "the decision\nthreshold the run used: the model's, its domain's or one set"
        in files["index.html"].decode()
    )
    assert predictions.set_index("file").tiles.to_dict() == {"a/Positive/1.png": 1, "b/Positive/1.png": 1}
    assert quality["tiling"]["tile_size"] == 64
    assert quality["tiling"]["tile_size_by_domain"] == {"a": 64, "b": 128}, "the sides the images were cut at"
    # A night's sample spans every domain of the new test split, whatever explain.domain says.
    _, sampled, _, _, _ = explain_sample(
        model,
        manifest,
        None,
        None,
        {**settings, "domain": "b"},
        {"tile_size": None},
        {},
        {"explain_sample": 2},
        "cpu",
    )
    assert sorted(sampled.file) == ["a/Positive/1.png", "b/Positive/1.png"]


def test_images_the_limits_set_let_in_are_explained_not_skipped(tmp_path, trained_checkpoint):
    # A 24-px patch that a folder's scan kept under ingest.min_side 16 was skipped when explained, as
    # too small under the default 32 px.
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(tmp_path / "small.png")
    result = explain_images(
        trained_checkpoint,
        [ImageRef("small.png", tmp_path / "small.png")],
        ["layercam"],
        0.5,
        tiling=TILING,
        sanity_images=0,
    )
    assert result.skipped == {} and list(result.predictions.file) == ["small.png"]


def test_a_strip_thinner_than_a_tile_is_said_to_reach_the_model_stretched_once(tmp_path, caplog):
    """A line-scan strip 40 px high, tiles of 96: its 40 x 96 tiles were squashed into the square input
    (stretched 2.4 times across) without a word, where the README said a photo is never squashed."""
    import logging

    from crack_pipeline.vision.explain.photos import tiled_photos

    for name, (height, width) in {"a.png": (40, 400), "b.png": (40, 300), "c.png": (240, 330)}.items():
        Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(tmp_path / name)
    items = [ImageRef(name, tmp_path / name) for name in ("c.png", "a.png", "b.png")]
    with caplog.at_level(logging.WARNING, logger="crack_pipeline"):
        photos = list(tiled_photos(items, TILING, 64, {}))
    assert [(p.grid.tile_height, p.grid.tile_width) for p in photos] == [(96, 96), (40, 96), (40, 96)]
    assert caplog.text.count("has a side under a tile") == 1
    assert "a.png (400x40) and any photo like it has a side under a tile (96 px)" in caplog.text
