"""explain and surveys on the default run's champion: new photos in any layout, whole photos tiled and boxed,
a survey in shards."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError
from PIL import Image

from crack_pipeline.pipelines.explain import images as explain_images
from crack_pipeline.pipelines.explain.images import domain_scales, images_to_explain
from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.errors import InputError
from tests.conftest import (
    image_bytes,
    line_fields,
    versions,
    write,
)


def test_new_photos_in_any_layout_are_explained_once_each(
    default_run, run_again, tmp_path, capfd, monkeypatch
):
    photos = tmp_path / "site_photos"
    write(photos, "bridge_7/IMG_0001.jpg", image_bytes((60, 48), fmt="JPEG", seed=3))  # within one tile
    write(photos, "bridge_7/deck/IMG_0002.png", image_bytes(seed=4))
    write(photos, "bridge_7/deck/IMG_0002_copy.png", image_bytes(seed=4))  # byte-identical, unlabelled
    write(photos, "Positive/IMG_0002_labelled.png", image_bytes(seed=4))  # the same bytes, labelled
    write(photos, "notes.txt", b"inspection notes")
    monkeypatch.setattr(explain_images, "MANY_IMAGES", 1)  # as if thousands
    lines = run_again({"explain": {"input_dir": str(photos)}}, "explain")
    assert "explain input: scanned 5 files, kept 4 (crack 1, no_crack 0, unlabelled 3), skipped 1" in lines
    assert any(line.startswith("explain: 2 images: every file made stays in memory") for line in lines)
    assert "explain: 100%" in capfd.readouterr().err, "a progress bar through the images"
    assert any(
        "tiles of 64 px, p(crack) averaged over 2 test-time views, threshold" in line for line in lines
    )
    assert any(
        line.startswith("  kept, exact duplicates (each explained once, as the file it copies): 2")
        for line in lines
    )
    fields = line_fields(lines, "explain: method=layercam n=")
    assert fields["n"] == "2" and "deletion_auc" in fields, "no masks: deletion and insertion curves"
    newest = (
        sorted((default_run.project / "data/07_model_output/explanations").iterdir())[-1] / "explanations"
    )
    assert 'loading="lazy"' in (newest / "index.html").read_text(), "thousands of cards load as seen"
    heatmaps = sorted((newest / "layercam").glob("*_heatmap.npy"))
    assert [np.load(h).shape for h in heatmaps] == [(64, 64), (48, 60)], "each at its own resolution, once"
    predictions = pd.read_csv(
        versions(default_run.project, "data/07_model_output/explain_predictions.csv")[-1]
    )
    assert predictions.file.tolist() == ["Positive/IMG_0002_labelled.png", "bridge_7/IMG_0001.jpg"]
    assert predictions.true_label.tolist()[0] == "crack", "the labelled copy is the one explained"
    quality = json.loads(
        versions(default_run.project, "data/08_reporting/explain_quality.json")[-1].read_text()
    )
    assert list(quality["skipped"]) == ["notes.txt"], "what validation left out is reported, not only logged"
    mode = stat.S_IMODE(os.stat(newest).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask, f"explanations/ is {oct(mode)}: it follows the umask like every output"


@pytest.mark.parametrize("setting", ["input_dir", "masks_dir"])
def test_a_folder_that_does_not_exist_is_an_error_naming_the_setting(run_again, tmp_path, setting):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(DatasetError, match=rf"explain\.{setting}: image folder '{missing}' does not exist"):
        run_again({"explain": {setting: str(missing)}}, "explain")


def test_a_folder_without_a_usable_image_is_an_error_not_an_empty_gallery(run_again, tmp_path):
    write(tmp_path / "photos", "empty.jpg", b"")
    write(tmp_path / "photos", "notes.jpg", b"a text file named .jpg")
    with pytest.raises(InputError, match=rf"explain: no usable image in the folder {tmp_path / 'photos'}"):
        run_again({"explain": {"input_dir": str(tmp_path / "photos")}}, "explain")


def test_a_whole_photo_is_tiled_scored_and_boxed_with_the_models_threshold(default_run, run_again, tmp_path):
    wall = render_photo(SynthConfig(image_size=64, seed=2, difficulty=0.0), 150, 200, cracks=1)
    write(tmp_path / "wall", "wall.png", png_bytes(wall.image))
    write(tmp_path / "wall_masks", "wall.png", png_bytes(wall.mask.astype(np.uint8) * 255))
    settings = {"input_dir": str(tmp_path / "wall"), "masks_dir": str(tmp_path / "wall_masks")}
    lines = run_again({"explain": settings}, "explain")
    fields = line_fields(lines, "explain: method=layercam scope=photo n=")
    project = default_run.project
    (row,) = pd.read_csv(versions(project, "data/07_model_output/explain_predictions.csv")[-1]).itertuples()
    threshold = json.loads(versions(project, "data/08_reporting/explain_quality.json")[-1].read_text())[
        "threshold"
    ]["value"]
    assert fields["n"] == "1" and float(fields["detection_rate"]) == float(row.crack_probability >= threshold)
    assert fields["pointing_game"] in ("0.000", "1.000")
    assert float(fields["mask_share"]) == pytest.approx(wall.mask.mean(), abs=5e-4)
    newest = sorted((project / "data/07_model_output/explanations").iterdir())[-1] / "explanations"
    (heatmap,) = (newest / "layercam").glob("*_heatmap.npy")
    (tiles,) = (newest / "layercam").glob("*_tiles.npy")
    assert np.load(heatmap).shape == (150, 200) and np.load(tiles).shape == (3, 4), "64-px tiles, 1/4 overlap"
    (mask,) = (newest / "layercam").glob("*_mask.png")
    assert np.asarray(Image.open(mask)).shape == (150, 200), "the crack mask at the photo's resolution"
    cracks = pd.read_csv(versions(project, "data/07_model_output/crack_measurements.csv")[-1])
    assert list(cracks.columns[:5]) == ["file", "method", "crack", "length_px", "mean_width_px"]
    assert len(cracks) == row.cracks_count, "one row per crack of the mask"
    boxes = pd.read_csv(versions(project, "data/07_model_output/explain_boxes.csv")[-1])
    assert list(boxes.columns[:7]) == ["file", "method", "box", "x0", "y0", "x1", "y1"]
    assert len(boxes) == row.crack_regions
    assert (boxes.probability >= threshold).all(), "a region is where the tiles reach the decision threshold"


def test_a_split_image_replaced_since_ingest_is_left_out_of_the_explanation(default_run, run_again):
    project = default_run.project
    manifest = pd.read_csv(versions(project, "data/03_primary/split_manifest.csv")[-1])
    test = manifest[manifest.split == "test"].sort_values("path")
    replaced = Path(test.root.iloc[0]) / test.path.iloc[0]
    before = replaced.read_bytes()
    try:
        replaced.write_bytes(png_bytes(np.zeros((64, 64, 3), np.uint8)))  # re-made with other settings
        lines = run_again({"explain": {"max_images": None}}, "explain")
        run_again({"explain": {"max_images": 2}}, "explain")  # sampled among the unchanged ones
        sampled = pd.read_csv(versions(project, "data/07_model_output/explain_predictions.csv")[-1])
    finally:
        replaced.write_bytes(before)
    assert (
        f"explain: skipped {replaced} (changed since ingest validated it: run ingest (or the pipeline) again)"
        in (lines)
    )
    explained = pd.read_csv(versions(project, "data/07_model_output/explain_predictions.csv")[-2])
    assert sorted(explained.file) == sorted(test.path.iloc[1:]), "the others, and only them"
    quality = json.loads(versions(project, "data/08_reporting/explain_quality.json")[-2].read_text())
    assert list(quality["skipped"]) == [str(replaced)]
    assert sorted(sampled.file) == sorted(test.path.iloc[[1, -1]]), "the first and last unchanged"


def test_a_survey_in_two_shards_merges_into_one_gallery(run_again, tmp_path, caplog):
    settings = SynthConfig(image_size=64, seed=4, difficulty=0.0)
    for index in range(4):
        photo = render_photo(settings, 120, 150, cracks=index % 2, index=index)
        write(tmp_path / "site", f"span_{index // 2}/IMG_{index}.png", png_bytes(photo.image))
    survey = {"input_dir": str(tmp_path / "site"), "survey": "bridge"}
    folder = Path("data/07_model_output/surveys/bridge")  # run_again works in the project
    # What each Airflow task runs: one shard's node, then the merge.
    for shard in ("0/2", "1/2"):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="kedro.io.data_catalog"):
            lines = run_again({"explain": {**survey, "shard": shard}}, "survey")
        assert any(
            re.search(rf"survey .*bridge, shard {shard}: \d photos, 0 done before", line) for line in lines
        )
        # Each photo's save is counted by the progress bar, not said (a line a photo broke the bar).
        saves = [line for line in caplog.messages if line.startswith("Saving data to survey_photos")]
        assert saves == ["Saving data to survey_photos (GrowingFolderDataset)..."] * (shard == "0/2"), saves
    assert len(list((folder / "records").iterdir())) == 4
    # The pipeline merges after each shard here (the DAG once, after all): the newest gallery has them all.
    gallery = sorted((folder / "gallery").glob("*/gallery/index.html"))[-1]
    predictions = pd.read_csv(versions(Path.cwd(), f"{folder}/predictions.csv")[-1])
    assert len(predictions) == 4 and (predictions.tiles == 9).all(), "3 x 3 tiles of 64 px, 1/4 overlap"
    cards = json.loads(re.search(r"const items = (.*);\n", gallery.read_text()).group(1))
    assert all((gallery.parent / card["overlay"]).resolve().is_file() for card in cards)
    strips = re.findall(r'href="([^"]*cam_progress/[^"]*)"', gallery.read_text())
    assert strips and all((gallery.parent / strip).resolve().is_file() for strip in strips), (
        "the champion's heatmaps through training, linked from the gallery"
    )
    assert len(list((folder / "gallery").iterdir())) == 2, "one gallery per merge, none overwritten"


def test_split_images_are_called_and_tiled_as_their_domain_s_and_others_as_the_pooled_ones(tmp_path):
    # Two data sets may both hold a Positive/1.png: split images of several domains are named by domain.
    manifest = pd.DataFrame(
        {
            "path": ["Positive/1.png"] * 3,
            "domain": ["a", "b", "c"],
            "root": [str(tmp_path / d) for d in "abc"],
            "split": "test",
            "label": "crack",
            "sha256": ["1", "2", "3"],
        }
    )
    items, _, domains, *_ = images_to_explain(manifest, None, {"split": "test"}, {})
    assert [item.name for item in items] == ["a/Positive/1.png", "b/Positive/1.png", "c/Positive/1.png"]
    threshold = {"value": 0.5, "per_domain": {"a": {"value": 0.9}, "b": {"value": 0.1}}}
    model = {"patch_side": 64, "patch_sides": {"a": 64, "b": 256}}  # c: no training image
    thresholds, sizes = domain_scales(model, threshold, {"tile_size": None}, items, domains)
    assert thresholds == {"a/Positive/1.png": 0.9, "b/Positive/1.png": 0.1}
    assert sizes == {"a/Positive/1.png": 64, "b/Positive/1.png": 256}, "each patch at its domain's scale"
    assert domain_scales(model, threshold, {"tile_size": 100}, items, domains)[1] == {}, "a size set wins"
    assert domain_scales({}, {"value": 0.5}, {}, items, domains) == ({}, {}), "a model of one domain"
    assert domain_scales(model, threshold, {}, items, [None] * 3) == ({}, {}), "a folder's: domains unknown"
    single = {"patch_side": 64, "patch_sides": {"a": 64}}
    assert domain_scales(single, {"value": 0.5}, {}, items, domains) == ({}, {}), "one domain's model"
    # explain.domain: only that domain's images of the split, named by path as a split of one domain's.
    (b,), _, (of_b,), *_ = images_to_explain(manifest, None, {"split": "test", "domain": "b"}, {})
    assert (b.name, b.file, of_b) == ("Positive/1.png", tmp_path / "b" / "Positive/1.png", "b")
    assert images_to_explain(manifest, None, {"split": "test", "domain": "d"}, {})[0] == []


def test_split_images_of_one_domain_are_still_called_and_tiled_as_their_domain_s(tmp_path):
    # A split of one domain, or a sample of one (explain.max_images, retrain's explain_sample), is decided
    # as evaluation decides it: at the domain's own threshold, each patch at its domain's side.
    manifest = pd.DataFrame(
        {
            "path": ["Positive/1.png", "Positive/2.png"],
            "domain": ["cfd_tiles", "sdnet_walls"],
            "root": [str(tmp_path / "cfd"), str(tmp_path / "sdnet")],
            "split": "test",
            "label": "crack",
            "sha256": ["1", "2"],
        }
    )
    threshold = {
        "value": 0.096,
        "per_domain": {"cfd_tiles": {"value": 0.016}, "sdnet_walls": {"value": 0.22}},
    }
    model = {"patch_side": 227, "patch_sides": {"cfd_tiles": 96, "sdnet_walls": 256}}
    items, _, domains, *_ = images_to_explain(manifest, None, {"split": "test"}, {})
    sample = domain_scales(model, threshold, {}, items[:1], domains[:1])  # explain.max_images: 1
    assert sample == ({"cfd_tiles/Positive/1.png": 0.016}, {"cfd_tiles/Positive/1.png": 96})
    one, _, alone, *_ = images_to_explain(manifest[:1], None, {"split": "test"}, {})  # a split of one domain
    assert domain_scales(model, threshold, {}, one, alone) == (
        {"Positive/1.png": 0.016},
        {"Positive/1.png": 96},
    )
    scoped = {**model, "patch_side": 96, "domain": "cfd_tiles"}  # explain.domain: its scale already
    assert domain_scales(scoped, {"value": 0.016}, {}, one, alone) == ({}, {})


def test_a_survey_of_a_folder_given_with_dots_continues_however_the_setting_is_given(
    default_run, run_again, tmp_path
):
    """`--params=explain.input_dir=<...>/..` reached the catalog as it was typed and the survey was named
    `..`; the same setting in a parameter file, normalised, named it by its folder: begun one way, the
    survey was refused the other ("explain.input_dir (its folder's name): .. then, site now")."""
    import yaml

    for index in range(2):
        photo = render_photo(
            SynthConfig(image_size=64, seed=6, difficulty=0.0), 80, 90, cracks=1, index=index
        )
        write(tmp_path / "site", f"IMG_{index}.png", png_bytes(photo.image))
    (tmp_path / "site" / "sub").mkdir()
    survey = {
        "input_dir": os.path.relpath(tmp_path / "site" / "sub", default_run.project) + "/..",
        "survey": "dots",
    }
    manifest = default_run.project / "data/07_model_output/surveys/dots/survey.json"
    run_again({"explain": survey}, "survey")
    assert json.loads(manifest.read_text())["input"] == "site"
    in_file = default_run.project / "conf/local/parameters_dots.yml"
    in_file.write_text(yaml.safe_dump({"explain": survey}))
    try:
        lines = run_again({}, "survey")
    finally:
        in_file.unlink()
    assert any(line.endswith("2 photos, 2 done before, 0 to explain") for line in lines), lines
    # A survey begun when such a folder was named `..` goes on as it began, given with `..` again; a folder
    # given without (any folder, as far as its name tells) is refused, as before: it took any folder in.
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "input": ".."}))
    assert any(line.endswith(", 0 to explain") for line in run_again({"explain": survey}, "survey"))
    elsewhere = {**survey, "input_dir": str(tmp_path / "site")}
    with pytest.raises(InputError, match=r"explain\.input_dir \(its folder's name\): \.\. then, site now"):
        run_again({"explain": elsewhere}, "survey")
