"""evaluate_folder on the default run's champion: large images tiled, the model's threshold, labelled images
scored and unlabelled ones ranked for labelling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crack_pipeline.vision.data import listed_images
from crack_pipeline.vision.models.checkpoint import threshold_text
from tests.conftest import (
    client_of,
    image_bytes,
    line_fields,
    versions,
    write,
)


def test_evaluate_folder_tiles_large_images_and_uses_the_models_threshold(
    default_run, run_again, tmp_path, monkeypatch
):
    monkeypatch.setattr(listed_images, "PART", 4)  # the folder read in three parts, its scores joined
    folder = tmp_path / "inspection"
    for i in range(4):
        write(folder, f"cracked/c{i}.jpg", image_bytes(fmt="JPEG", seed=i))
        write(folder, f"uncracked/u{i}.png", image_bytes(seed=50 + i))
    write(folder, "cracked/broken.jpg", b"not a jpeg")
    write(folder, "cracked/whole_wall.jpg", image_bytes((300, 200), fmt="JPEG", seed=9))  # larger than a tile
    lines = run_again({"evaluate_folder": {"path": str(folder)}}, "evaluate_folder")
    assert "evaluate_folder: scanned 10 files, kept 9 (crack 5, no_crack 4), skipped 1" in lines
    fields = line_fields(lines, "evaluate_folder: n=")
    assert (fields["n"], fields["tiled"]) == ("9", "1")
    champion = client_of(default_run.project).get_model_version_by_alias("crack-classifier", "champion")
    threshold = float(champion.tags["decision_threshold"])
    used = (
        f"64 px, larger images in tiles of 64 px, p(crack) averaged over 2 test-time views, threshold "
        f"{threshold_text(threshold)}, the model's"
    )
    assert any(f"{used} (recall 0.99 on validation)" in line for line in lines)
    project = default_run.project
    metrics = json.loads(versions(project, "data/08_reporting/evaluate_folder/metrics.json")[-1].read_text())
    assert metrics["at_threshold"]["threshold"] == threshold and metrics["at_half"]["threshold"] == 0.5
    unfamiliar = metrics["unfamiliar"]
    assert unfamiliar["n"] == 8 + 6 * 4 and unfamiliar["warn_from"] == 0.1, "8 images of one tile, 24 tiles"
    assert unfamiliar["share"] in {i / 32 for i in range(33)}
    assert f"evaluate_folder: unfamiliar={unfamiliar['share']:.3f} of 32 tiles lie farther" in " ".join(lines)
    predictions = pd.read_csv(versions(project, "data/07_model_output/evaluate_folder/predictions.csv")[-1])
    crack = predictions.crack_probability >= threshold
    assert (predictions.predicted_label == np.where(crack, "crack", "no_crack")).all()
    tiles = predictions.set_index("file").tiles
    assert tiles["cracked/whole_wall.jpg"] == 6 * 4 and (tiles.drop("cracked/whole_wall.jpg") == 1).all(), (
        "tiles of the 64 px the model was trained on, 1/4 overlap"
    )
    assert float(fields["recall"]) == pytest.approx(crack[predictions.true_label == "crack"].mean(), abs=1e-4)

    lines = run_again({"evaluate_folder": {"path": str(folder), "threshold": 0.9}}, "evaluate_folder")
    assert any("threshold 0.9000, evaluate_folder.threshold" in line for line in lines)
    only_cracks = tmp_path / "only_cracks"
    for i in range(3):
        write(only_cracks, f"Positive/c{i}.jpg", image_bytes(fmt="JPEG", seed=i))
    lines = run_again({"evaluate_folder": {"path": str(only_cracks)}}, "evaluate_folder")
    assert line_fields(lines, "evaluate_folder: n=")["roc_auc"] == "undefined"
    assert any("roc_auc=undefined (one class)" in line for line in lines)
    metrics = json.loads(versions(project, "data/08_reporting/evaluate_folder/metrics.json")[-1].read_text())
    assert metrics["at_threshold"]["roc_auc"] is None


def test_evaluate_folder_scores_the_labelled_and_ranks_the_unlabelled_for_labelling(
    default_run, run_again, tmp_path
):
    folder = tmp_path / "new_site"
    for i in range(3):
        write(folder, f"Positive/c{i}.png", image_bytes(seed=i))
    for i in range(8):
        write(folder, f"unsorted/u{i}.png", image_bytes(seed=20 + i))
    # Uncertain first whether or not these noise images are unfamiliar to the model (auto's choice).
    settings = {"path": str(folder), "label_next": 4, "recalibrate": True, "label_next_order": "uncertain"}
    lines = run_again({"evaluate_folder": settings}, "evaluate_folder")
    summary = "evaluate_folder: scanned 11 files, kept 11 (crack 3, no_crack 0, unlabelled 8), skipped 0"
    assert summary in lines
    project = default_run.project
    metrics = json.loads(versions(project, "data/08_reporting/evaluate_folder/metrics.json")[-1].read_text())
    assert (metrics["labelled_images"], metrics["unlabelled_images"]) == (3, 8)
    assert metrics["label_next_order"] == "uncertain"
    assert metrics["at_threshold"]["n"] == 3, "only the labelled images are scored"
    predictions = pd.read_csv(versions(project, "data/07_model_output/evaluate_folder/predictions.csv")[-1])
    assert sorted(predictions.file) == ["Positive/c0.png", "Positive/c1.png", "Positive/c2.png"]
    site = metrics["recalibrated_threshold"]
    assert site["value"] == pytest.approx(predictions.crack_probability.min(), rel=1e-12), "all 3 cracks"
    assert site["chosen_on"] == "3 labelled images of this folder" and site["cross_fitted"]["n"] == 3
    ranked = pd.read_csv(versions(project, "data/07_model_output/evaluate_folder/label_these_next.csv")[-1])
    assert ranked["rank"].tolist() == list(range(1, 9))
    assert sorted(ranked.file) == [f"unsorted/u{i}.png" for i in range(8)]
    assert ranked.uncertainty.iloc[0] == ranked.uncertainty.max(), "the most uncertain first"
    threshold = metrics["threshold"]["value"]
    span = np.where(ranked.crack_probability >= threshold, 1 - threshold, threshold)
    distance = (ranked.crack_probability - threshold).abs()
    np.testing.assert_allclose(ranked.uncertainty, 1 - distance / np.maximum(span, 1e-12))
    sheet = versions(project, "data/08_reporting/evaluate_folder/plots")[-1] / "label_these_next.png"
    assert sheet.stat().st_size > 0
    # Where they went, relative to the project (the run said nothing of it).
    table = versions(project, "data/07_model_output/evaluate_folder/label_these_next.csv")[-1]
    assert f"evaluate_folder: label_these_next.csv in {table.relative_to(project)}" in lines
    plots = [line for line in lines if line.startswith("evaluate_folder: plots in ")]
    assert plots and plots[0].startswith(f"evaluate_folder: plots in {sheet.parent.relative_to(project)}/ (")
    assert "label_these_next.png" in plots[0]
    assert any(
        line.startswith(
            "evaluate_folder: 8 unlabelled images ranked for labelling (label_these_next.csv), "
            "uncertain first"
        )
        for line in lines
    )


def test_evaluate_folder_and_explain_warn_of_the_images_the_model_learned_from(
    default_run, run_again, tmp_path
):
    split = pd.read_csv(versions(default_run.project, "data/03_primary/split_manifest.csv")[0])  # the run's
    folder = tmp_path / "mixed"
    for row in split[split.split == "train"].head(2).itertuples():  # two the champion learned from
        write(
            folder,
            f"Positive/train_{Path(row.path).name}",
            (default_run.project / row.root / row.path).read_bytes(),
        )
    for i in range(3):
        write(folder, f"Negative/new{i}.png", image_bytes(seed=70 + i))
    lines = run_again({"evaluate_folder": {"path": str(folder)}}, "evaluate_folder")
    assert any("evaluate_folder: 2 of the 5 images of the folder are images model" in line for line in lines)
    metrics = json.loads(
        versions(default_run.project, "data/08_reporting/evaluate_folder/metrics.json")[-1].read_text()
    )
    assert metrics["learned_images"] == 2
    lines = run_again({"explain": {"input_dir": str(folder)}}, "explain")
    assert any("explain: 2 of the 5 images of the folder are images model" in line for line in lines)
    quality = json.loads(
        versions(default_run.project, "data/08_reporting/explain_quality.json")[-1].read_text()
    )
    assert quality["learned_images"] == 2


def test_evaluate_folder_scores_and_ranks_a_byte_identical_copy_once(default_run, run_again, tmp_path):
    """A photo copied into a second folder was scored twice (n and every metric) and ranked twice for
    labelling; explain explains it once."""
    folder = tmp_path / "copied"
    write(folder, "Positive/c0.png", image_bytes(seed=1))
    write(folder, "Positive/again/c0_copy.png", image_bytes(seed=1))
    write(folder, "Negative/u0.png", image_bytes(seed=2))
    write(folder, "unsorted/n0.png", image_bytes(seed=3))
    write(folder, "unsorted/day2/n0_copy.png", image_bytes(seed=3))
    write(folder, "unsorted/n1.png", image_bytes(seed=4))
    lines = run_again({"evaluate_folder": {"path": str(folder)}}, "evaluate_folder")
    assert line_fields(lines, "evaluate_folder: n=")["n"] == "2", "c0 once, u0"
    project = default_run.project
    metrics = json.loads(versions(project, "data/08_reporting/evaluate_folder/metrics.json")[-1].read_text())
    counts = ("labelled_images", "unlabelled_images", "copies_scored_once")
    assert [metrics[count] for count in counts] == [2, 2, 2]
    predictions = pd.read_csv(versions(project, "data/07_model_output/evaluate_folder/predictions.csv")[-1])
    assert (
        len(predictions) == 2
        and len({*predictions.file} & {"Positive/c0.png", "Positive/again/c0_copy.png"}) == 1
    )
    ranked = pd.read_csv(versions(project, "data/07_model_output/evaluate_folder/label_these_next.csv")[-1])
    assert len(ranked) == 2 and len({*ranked.file} & {"unsorted/n0.png", "unsorted/day2/n0_copy.png"}) == 1
    assert any(
        line.startswith("  kept, exact duplicates (each scored once, as the file it copies): 2")
        for line in lines
    )
