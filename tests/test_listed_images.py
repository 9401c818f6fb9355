"""A folder scored a part at a time: the scores of one pass over it all, in the memory of one part."""

import hashlib
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io.core import Version
from kedro_datasets.matplotlib import MatplotlibDataset

from crack_pipeline.pipelines.evaluate import checkpoint_scores, nodes
from crack_pipeline.provenance import split_fingerprint
from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.data.listed_images import ListedImages
from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_listed, decode_listed_in_parts
from crack_pipeline.vision.evaluation import evaluate, plots
from crack_pipeline.vision.evaluation.evaluate import (
    checkpoint_probabilities_and_features,
    crack_probabilities_and_features,
    evaluate_probabilities,
    listed_probabilities_and_features,
)
from tests.conftest import write


@pytest.fixture
def folder(tmp_path) -> pd.DataFrame:
    """11 synthetic 96-px patches listed as evaluate_folder lists a folder (rows by path); the 4th
    unreadable."""
    rows = []
    for i in range(11):
        sample = render_sample(SynthConfig(image_size=96, seed=3), i % 2 == 0, i)
        label = "crack" if sample.mask is not None else "no_crack"
        path = f"{label}/{i:02d}.png"
        write(tmp_path, path, png_bytes(sample.image)[: 50 if i == 3 else None])
        rows.append({"root": str(tmp_path), "path": path, "domain": "site", "label": label})
    return pd.DataFrame(rows).set_index("path", drop=False)


def test_scores_in_parts_are_those_of_one_pass_and_no_part_is_larger(trained_checkpoint, folder, monkeypatch):
    decoded_rows = []

    def counted(*args, **kwargs):
        for part in decode_listed_in_parts(*args, **kwargs):
            decoded_rows.append(len(part) + len(part.skipped))
            yield part

    monkeypatch.setattr(evaluate, "decode_listed_in_parts", counted)
    probability, features, listed = listed_probabilities_and_features(
        trained_checkpoint, folder, "fp32", part=4
    )
    assert decoded_rows == [4, 4, 3]
    whole = decode_listed(folder, 96, workers=1, names=folder.index.tolist())
    expected_probability, expected_features = checkpoint_probabilities_and_features(
        trained_checkpoint, whole, "fp32"
    )
    assert listed.paths == whole.paths and len(listed) == 10
    assert listed.skipped.keys() == {"no_crack/03.png"}
    assert listed.labels.tolist() == whole.labels.tolist()
    np.testing.assert_allclose(probability, expected_probability, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-6)


def test_a_part_of_unreadable_files_only_is_reported_and_the_rest_still_scored(trained_checkpoint, folder):
    probability, features, listed = listed_probabilities_and_features(
        trained_checkpoint, folder, "fp32", part=1
    )
    assert "no_crack/03.png" in listed.skipped and "no_crack/03.png" not in listed.paths
    assert len(probability) == len(features) == len(listed) == 10
    unreadable = folder.loc[["no_crack/03.png"]]
    probability, features, listed = listed_probabilities_and_features(trained_checkpoint, unreadable, "fp32")
    assert probability.shape == (0,) and features.shape[0] == 0 and len(listed) == 0
    assert list(listed.skipped) == ["no_crack/03.png"]


def test_figures_read_their_images_again_and_leave_out_one_changed_since(
    trained_checkpoint, folder, monkeypatch
):
    _, _, listed = listed_probabilities_and_features(trained_checkpoint, folder, "fp32", part=4)
    whole = decode_listed(folder, 96, workers=1, names=folder.index.tolist())
    shown, expected = listed.pictures(listed.paths), whole.pictures(whole.paths)
    assert shown.keys() == expected.keys() == set(listed.paths)
    assert all(
        shown[path].shape == (96, 96, 3) and np.array_equal(shown[path], expected[path]) for path in shown
    )

    drawn = []
    monkeypatch.setattr(plots, "plot_mistakes", lambda images, rows, title: drawn.append((images, rows)))
    (Path(folder.root.iloc[0]) / listed.paths[0]).write_bytes(b"not an image any more")
    every_call_wrong = 1.0 - listed.labels.numpy()
    evaluation = evaluate_probabilities("m", listed, every_call_wrong, 0.5)
    ((images, rows),) = drawn
    assert images.keys() == {row["file"] for row in rows} == set(listed.paths[1:])
    assert len(evaluation.predictions) == 10 and not evaluation.predictions.correct.any()


def test_a_strip_photo_is_shown_at_its_own_aspect_not_squashed_into_the_model_s_square(tmp_path):
    """A line-scan strip on a contact sheet ("label these next", the confident mistakes): read again at its
    own aspect, at most a sheet's two cells long; before, the model's 96-px square input was shown."""
    strip, small = (
        np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
        for shape in ((200, 3000, 3), (40, 90, 3))
    )
    rows = []
    for name, pixels in (("strip.png", strip), ("small.png", small)):
        write(tmp_path, name, png_bytes(pixels))
        rows.append({"root": str(tmp_path), "path": name, "domain": "site", "label": "crack"})
    table = pd.DataFrame(rows).set_index("path", drop=False)
    listed = ListedImages(table, 96, torch.ones(2, dtype=torch.int64), ["strip.png", "small.png"], {})
    shown = listed.pictures(listed.paths)
    assert shown["strip.png"].shape == (34, 512, 3), "3000 x 200 px at 2 x CELL on its longer side"
    assert np.array_equal(shown["small.png"], small), "a small one as it is"


def test_the_split_s_confident_mistakes_show_its_photos_at_their_own_aspect(tmp_path, monkeypatch):
    """`evaluate`'s sheet of a split's confident mistakes: its photos read again at their own aspect, as
    evaluate_folder's are, not the square tensor cache; one changed since ingest, or moved, from the cache
    (what was scored: left out, a sheet of such files read 'no mistakes')."""
    strip = np.random.default_rng(0).integers(0, 255, (200, 3000, 3), dtype=np.uint8)
    rows = []
    for name in ("strip.png", "changed.png"):
        data = png_bytes(strip)
        write(tmp_path, name, data if name == "strip.png" else b"another image since")
        sha256 = hashlib.sha256(data).hexdigest()
        rows.append(
            {"path": name, "label": "crack", "sha256": sha256, "split": "test", "root": str(tmp_path)}
        )
    manifest = pd.DataFrame(rows).assign(domain="site")
    test = ImageTensors(
        torch.zeros(2, 3, 96, 96, dtype=torch.uint8),
        torch.ones(2, dtype=torch.int64),
        ["site/strip.png", "site/changed.png"],
    )
    drawn = []
    monkeypatch.setattr(plots, "plot_mistakes", lambda images, rows, title: drawn.append(images))
    monkeypatch.setattr(checkpoint_scores, "checkpoint_probabilities", lambda *_, **__: np.array([0.1, 0.2]))
    checkpoint = {
        "variant": "m",
        "checkpoint_id": "c",
        "split_fingerprint": split_fingerprint(manifest),
        "threshold": {"value": 0.5, "target_recall": 0.99, "chosen_on": "val"},
        "architecture": "a",
        "train_config": {},
        "best_epoch": 1,
        "input_size": 96,
    }
    nodes.evaluate_variant(checkpoint, {"val": test, "test": test}, manifest, {"target_recall": 0.99}, "cpu")
    (shown,) = drawn
    assert shown.keys() == {"site/strip.png", "site/changed.png"}
    assert shown["site/strip.png"].shape == (34, 512, 3), "3000 x 200 px, not the cache's 96-px square"
    assert shown["site/changed.png"].shape == (96, 96, 3), "the cache's: what was scored"
    moved = manifest.assign(root=str(tmp_path / "moved"))
    nodes.evaluate_variant(
        {**checkpoint, "split_fingerprint": split_fingerprint(moved)},
        {"val": test, "test": test},
        moved,
        {"target_recall": 0.99},
        "cpu",
    )
    assert drawn[-1].keys() == {"site/strip.png", "site/changed.png"}, "the folder moved: both from the cache"


def test_the_decoders_end_when_scoring_fails(trained_checkpoint, folder, monkeypatch):
    calls = []

    def fails_on_the_second_part(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return crack_probabilities_and_features(*args, **kwargs)

    monkeypatch.setattr(evaluate, "crack_probabilities_and_features", fails_on_the_second_part)
    with pytest.raises(RuntimeError, match="out of memory") as failed:
        listed_probabilities_and_features(trained_checkpoint, folder, "fp32", part=4)
    # As a caller that logs the error would: the traceback is kept, and with it the frame of the decoders.
    assert failed.tb is not None and not multiprocessing.active_children(), "no decoder left waiting"


def test_evaluate_folder_names_a_file_changed_since_its_scan_that_it_left_out(
    trained_checkpoint, tmp_path, caplog
):
    """A file replaced between the scan and the scoring (a folder still syncing) was left out of every score
    and table, the scan having said it was kept: only metrics.json's skipped_files counted it."""
    from crack_pipeline.pipelines.evaluate_folder.nodes import evaluate_folder
    from crack_pipeline.pipelines.ingest.nodes import scan_folder_images
    from crack_pipeline.vision.data.folder import Folder

    for i in range(4):
        sample = render_sample(SynthConfig(image_size=96, seed=3), i % 2 == 0, i)
        write(tmp_path, f"{'Positive' if i % 2 == 0 else 'Negative'}/{i}.png", png_bytes(sample.image))
    ingest = {"label_aliases": {"crack": ["Positive"], "no_crack": ["Negative"]}, "min_side": 32}
    index, _ = scan_folder_images(Folder.scan(tmp_path), {**ingest, "max_pixels": 10**8, "workers": 1})
    changed = render_sample(SynthConfig(image_size=96, seed=4), True, 9)
    write(tmp_path, "Positive/2.png", png_bytes(changed.image))  # replaced after the scan
    metrics, predictions, _, _ = evaluate_folder(index, trained_checkpoint, {}, {}, "cpu")
    assert metrics["skipped_files"] == 1 and "Positive/2.png" not in set(predictions.file)
    assert "evaluate_folder: skipped Positive/2.png (changed since" in caplog.text


def test_label_next_0_ranks_every_unlabelled_image_and_draws_no_contact_sheet(trained_checkpoint, tmp_path):
    """`label_next: 0` drew 48 images (`or 48`), and a negative number dropped the last ones."""
    from crack_pipeline.pipelines.evaluate_folder.nodes import evaluate_folder
    from crack_pipeline.pipelines.ingest.nodes import scan_folder_images
    from crack_pipeline.vision.data.folder import Folder
    from crack_pipeline.vision.settings import ConfigError

    for i in range(3):
        write(
            tmp_path,
            f"new/{i}.png",
            png_bytes(render_sample(SynthConfig(image_size=96, seed=5), i == 0, i).image),
        )
    ingest = {"label_aliases": {"crack": ["Positive"], "no_crack": ["Negative"]}, "min_side": 32}
    index, _ = scan_folder_images(Folder.scan(tmp_path), {**ingest, "max_pixels": 10**8, "workers": 1})
    with pytest.raises(
        ConfigError, match=r"evaluate_folder\.label_next: a number of images, 0 or more, not -1"
    ):
        evaluate_folder(index, trained_checkpoint, {"label_next": -1}, {}, "cpu")
    _, _, ranked, figures = evaluate_folder(index, trained_checkpoint, {"label_next": 0}, {}, "cpu")
    assert len(ranked) == 3 and "label_these_next.png" not in figures
    # Still a plots version of this run, saying why it holds no plot: Kedro wrote none for no figures (the
    # newest plots folder was an earlier run's; with none, the save failed).
    plots = MatplotlibDataset(filepath=str(tmp_path / "plots"), version=Version(None, "this-run"))
    plots.save(figures)
    assert [p.name for p in (tmp_path / "plots" / "this-run" / "plots").iterdir()] == ["no_plots.png"]


def test_evaluate_folder_s_scores_count_the_tiled_photos_among_those_scored(
    trained_checkpoint, tmp_path, caplog
):
    """`n=2 ... tiled=2` for two labelled images, one of them tiled: the unlabelled photo was counted."""
    import logging

    from crack_pipeline.pipelines.evaluate_folder.nodes import evaluate_folder
    from crack_pipeline.pipelines.ingest.nodes import scan_folder_images
    from crack_pipeline.vision.data.folder import Folder

    for i, (name, crack, side) in enumerate(
        (("Positive/0.png", True, 300), ("Negative/1.png", False, 96), ("new/2.png", True, 300))
    ):
        write(tmp_path, name, png_bytes(render_sample(SynthConfig(image_size=side, seed=6), crack, i).image))
    ingest = {"label_aliases": {"crack": ["Positive"], "no_crack": ["Negative"]}, "min_side": 32}
    index, _ = scan_folder_images(Folder.scan(tmp_path), {**ingest, "max_pixels": 10**8, "workers": 1})
    with caplog.at_level(logging.INFO):
        metrics, _, _, _ = evaluate_folder(index, trained_checkpoint, {}, {}, "cpu")
    assert (metrics["tiled_images"], metrics["labelled_images"]) == (2, 2), "the folder's: both photos"
    assert "evaluate_folder: n=2 " in caplog.text and " tiled=1" in caplog.text


def test_the_contact_sheet_names_each_photo_with_its_folder_as_the_csv_does(
    trained_checkpoint, tmp_path, monkeypatch
):
    """Captioned by file name alone (`#1 IMG_0001.png`), card_a/'s and card_b/'s IMG_0001 read the same on
    "label these next", and the rank ran into a numbered name (`#1 7069-47.jpg` read #17069-47.jpg)."""
    from crack_pipeline.pipelines.evaluate_folder import site_labels
    from crack_pipeline.pipelines.evaluate_folder.nodes import evaluate_folder
    from crack_pipeline.pipelines.ingest.nodes import scan_folder_images
    from crack_pipeline.vision.data.folder import Folder

    for i, card in enumerate(("card_a", "card_b")):
        sample = render_sample(SynthConfig(image_size=96, seed=6), i == 0, i)
        write(tmp_path, f"{card}/IMG_0001.png", png_bytes(sample.image))
    captions = []
    monkeypatch.setattr(site_labels, "grid", lambda pictures, shown, title: captions.extend(shown))
    ingest = {"label_aliases": {"crack": ["Positive"], "no_crack": ["Negative"]}, "min_side": 32}
    index, _ = scan_folder_images(Folder.scan(tmp_path), {**ingest, "max_pixels": 10**8, "workers": 1})
    _, _, ranked, _ = evaluate_folder(index, trained_checkpoint, {}, {}, "cpu")
    assert [caption.split("\n")[0] for caption in captions] == [
        f"#{r.rank}: {r.file}" for r in ranked.itertuples()
    ]
    assert sorted(ranked.file) == ["card_a/IMG_0001.png", "card_b/IMG_0001.png"]


def test_a_confident_mistake_is_captioned_with_its_folder_as_the_tables_name_it(monkeypatch):
    """By file name alone day1/IMG_0001.jpg and day2/IMG_0001.jpg read the same on the mistakes sheet."""
    from crack_pipeline.vision.evaluation import plots

    drawn = []
    monkeypatch.setattr(plots, "grid", lambda pictures, captions, title, columns: drawn.append(captions))
    rows = [{"file": "day2/IMG_0001.jpg", "true_label": "crack", "crack_probability": 0.1}]
    plots.plot_mistakes({"day2/IMG_0001.jpg": np.zeros((4, 4, 3), np.uint8)}, rows, "m")
    assert drawn == [["day2/IMG_0001.jpg\ntrue crack, p(crack) 0.100"]]
