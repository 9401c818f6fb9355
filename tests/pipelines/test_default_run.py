"""One tiny default run (`default_run`), and what a user then sees of it: checkpoints with their decision
threshold, one MLflow run and registered version per variant, evaluation at that threshold, the champion
promoted by a node, heatmaps scored against the masks (evaluate_folder and explain on new folders: their own
modules)."""

from __future__ import annotations

import codecs
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io.core import DatasetError

from crack_pipeline.datasets.registered_model import ModelRegistry
from crack_pipeline.vision.data.masks import read_mask
from crack_pipeline.vision.explain.localisation import energy_in_mask, pointing_game
from crack_pipeline.vision.explain.names import safe_name
from crack_pipeline.vision.models.checkpoint import model_from_checkpoint
from crack_pipeline.vision.models.inference import normalizer, predict_logits
from crack_pipeline.vision.models.precision import Precision
from tests.conftest import (
    checkpoint_of,
    checkpoint_of_latest,
    client_of,
    line_fields,
    logged_lines,
    run_session,
    versions,
)

VARIANTS = ("small_cnn", "small_cnn_b")


def test_each_variant_has_a_self_describing_checkpoint_with_its_decision_threshold(default_run):
    (manifest,) = versions(default_run.project, "data/03_primary/split_manifest.csv")
    validation = int((pd.read_csv(manifest).split == "val").sum())
    for variant in VARIANTS:
        checkpoint = checkpoint_of(default_run.project, variant)
        assert checkpoint["variant"] == variant and checkpoint["architecture"] == "small_cnn"
        assert checkpoint["input_size"] == 64 and checkpoint["patch_side"] == 64
        assert checkpoint["precision"] == "fp32" and checkpoint["train_config"]["epochs"] == 2
        assert len(checkpoint["data_fingerprint"]) == len(checkpoint["split_fingerprint"]) == 64
        assert checkpoint["test_time_views"] == 2, "the run's train.test_time_views"
        threshold = checkpoint["threshold"]
        assert 0 < threshold["value"] <= 1 and threshold["target_recall"] == 0.99
        assert threshold["chosen_on"] == "validation" and threshold["validation_recall"] >= 0.99
        reference = checkpoint["feature_reference"]  # the validation images' features, as unit vectors
        assert reference["vectors"].shape[0] == min(512, validation) and 0 < reference["limit"] <= 1
        assert torch.allclose(reference["vectors"].float().norm(dim=1), torch.tensor(1.0), atol=1e-2)
        model_from_checkpoint(checkpoint)
    assert not any((default_run.project / "data/06_models/in_progress").glob("*.pt")), "resume files removed"
    assert versions(default_run.project, "data/06_models/squeezenet1_1/checkpoint.pt") == [], "selected only"


def test_each_variant_is_a_nested_mlflow_run_and_a_registered_version_that_says_how_to_use_it(
    default_run, tmp_path
):
    client = client_of(default_run.project)
    experiment = client.get_experiment_by_name("crack_pipeline")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    for variant in VARIANTS:
        child, checkpoint = runs[variant], checkpoint_of(default_run.project, variant)
        assert child.data.tags["mlflow.parentRunId"] == runs["__default__"].info.run_id
        (saved,) = versions(default_run.project, f"data/06_models/{variant}/checkpoint.pt")
        assert child.data.tags["data_version"] == saved.parent.name, "the folder of its checkpoint"
        assert child.data.params["architecture"] == "small_cnn" and child.data.params["epochs"] == "2"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")]
        assert steps == [1, 2]
        assert "test.at_threshold.f1" in child.data.metrics
        # The very files the catalog saved, each figure drawn once (MLflow drew its own, at 100 dpi).
        (curves,) = versions(default_run.project, f"data/08_reporting/{variant}/training_curves.png")
        (plots,) = versions(default_run.project, f"data/08_reporting/{variant}/evaluation")
        logged = Path(client.download_artifacts(child.info.run_id, "", str(tmp_path / variant)))
        assert (logged / "training_curves.png").read_bytes() == curves.read_bytes()
        saved = {p.name: p.read_bytes() for p in plots.iterdir()}
        assert {p.name: p.read_bytes() for p in (logged / "evaluation").iterdir()} == saved and saved
        (version,) = client.search_model_versions(
            f"name='crack-classifier' and tag.checkpoint_id='{checkpoint['checkpoint_id']}'"
        )
        assert float(version.tags["decision_threshold"]) == pytest.approx(checkpoint["threshold"]["value"])
        assert version.tags["input_size"] == "64" and version.tags["test_time_views"] == "2"
        assert version.tags["normalisation"] == "mean [0.5, 0.5, 0.5] std [0.5, 0.5, 0.5]"
        # The registered model itself gives the logits its threshold was chosen for, a batch at a time.
        registered = mlflow.pytorch.load_model(f"models:/crack-classifier/{version.version}")
        images = torch.randint(
            0, 256, (3, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
        )
        model = model_from_checkpoint(checkpoint)
        expected = predict_logits(model, images, (0.5,) * 3, (0.5,) * 3, Precision("fp32"), views=2)
        with torch.no_grad():
            served = registered(normalizer((0.5,) * 3, (0.5,) * 3)(images.float() / 255))
            alone = registered(normalizer((0.5,) * 3, (0.5,) * 3)(images[:1].float() / 255))
        torch.testing.assert_close(served, expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(alone, expected[:1], rtol=1e-4, atol=1e-5)
        assert version.tags["model_output"] == "logits averaged over 2 test-time views"
    # The explanation's scores land in the run too, the crack masks' among them.
    first = versions(default_run.project, "data/08_reporting/explain_quality.json")[0]  # the default run's
    quality = json.loads(first.read_text())
    segment = quality["methods"]["layercam"]["segment"]
    logged = runs["__default__"].data.metrics
    assert logged["explain.layercam.segment.f1"] == pytest.approx(segment["f1"])
    assert logged["explain.layercam.segment.n"] == segment["n"] > 0


def test_heatmaps_through_training_reach_mlflow_the_evaluation_and_the_gallery(default_run):
    client = client_of(default_run.project)
    experiment = client.get_experiment_by_name("crack_pipeline")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    for variant in VARIANTS:
        record = checkpoint_of(default_run.project, variant)["cam_progress"]
        assert record["epochs"] == [1, 2] and record["heatmaps"].shape[:2] == (2, len(record["names"]))
        run_id = runs[variant].info.run_id
        history = client.get_metric_history(run_id, "cam_pointing_game")
        assert [(m.step, m.value) for m in history] == list(
            zip(record["epochs"], record["pointing_game"], strict=True)
        )
        logged = {a.path for a in client.list_artifacts(run_id, "cam_progress")}
        assert "cam_progress/overview.png" in logged and len(logged) > len(record["names"])
        assert "images" in {a.path for a in client.list_artifacts(run_id)}, (
            "stepped images for MLflow's slider"
        )
        (evaluation,) = versions(default_run.project, f"data/08_reporting/{variant}/evaluation")[:1]
        assert (evaluation / "cam_progress.png").is_file()
    (explained,) = sorted((default_run.project / "data/07_model_output/explanations").iterdir())[:1]
    strips = sorted((explained / "explanations/cam_progress").glob("*.png"))
    assert len(strips) == len(record["names"]) + 1
    assert "Where the model looked while it learned" in (explained / "explanations/index.html").read_text()


def test_the_registry_finds_a_model_by_champion_version_or_variant(default_run):
    client = client_of(default_run.project)
    champion = client.get_model_version_by_alias("crack-classifier", "champion")
    registry = ModelRegistry()
    assert registry.checkpoint("champion", "s")["model_version"] == str(champion.version)
    assert registry.checkpoint(" 2 ", "s")["model_version"] == "2"
    assert registry.checkpoint("small_cnn_b", "s")["variant"] == "small_cnn_b"
    for unknown in ("7", "no_such_variant"):
        with pytest.raises(DatasetError, match=f"train.models.x.init_from: '{unknown}' names no model"):
            registry.checkpoint(unknown, "train.models.x.init_from")


def test_each_variant_is_evaluated_at_its_own_decision_threshold(default_run):
    project = default_run.project
    for variant in VARIANTS:
        threshold = checkpoint_of(project, variant)["threshold"]["value"]
        (metrics_file,) = versions(project, f"data/08_reporting/{variant}/evaluation_metrics.json")
        metrics = json.loads(metrics_file.read_text())
        assert metrics["threshold"]["value"] == threshold == metrics["at_threshold"]["threshold"]
        assert metrics["at_half"]["threshold"] == 0.5 and metrics["at_threshold"]["n"] == 4
        trained = checkpoint_of(project, variant)["epochs_trained"]
        assert metrics["training"]["epochs"] == trained, "the epochs run, not those configured"
        (predictions_file,) = versions(project, f"data/07_model_output/{variant}/predictions.csv")
        predictions = pd.read_csv(predictions_file)
        assert predictions_file.read_bytes().startswith(codecs.BOM_UTF8), "as Excel reads names with ü"
        crack = predictions.crack_probability >= threshold
        assert (predictions.predicted_label == np.where(crack, "crack", "no_crack")).all()
        assert int(crack.sum()) == metrics["at_threshold"]["tp"] + metrics["at_threshold"]["fp"]
        (submission,) = versions(project, f"data/07_model_output/{variant}/submission.csv")
        assert pd.read_csv(submission)["class"].tolist() == crack.astype(int).tolist()
        plots = {p.name for p in (project / f"data/08_reporting/{variant}/evaluation").rglob("*.png")}
        assert {"roc_pr.png", "reliability.png", "confusion_matrix.png", "confident_mistakes.png"} <= plots
        assert metrics["at_threshold"]["ece"] is not None


def test_the_best_variant_is_promoted_by_a_node_and_recorded(default_run):
    project = default_run.project
    (decision_file,) = versions(project, "data/08_reporting/champion_decision.json")
    decision = json.loads(decision_file.read_text())
    (comparison,) = versions(project, "data/08_reporting/variant_comparison.csv")
    table = pd.read_csv(comparison)
    assert set(table.variant) == set(VARIANTS) and table.variant[0] == decision["candidate"]
    assert set(table.train_precision) == {"fp32"} and table.precision.between(0, 1).all(), (
        "the numeric precision trained in beside the precision of the crack calls"
    )
    assert decision["promote"] and decision["current"] is None and decision["metric"] == "at_threshold.f1"
    champion = client_of(project).get_model_version_by_alias("crack-classifier", "champion")
    assert champion.tags["checkpoint_id"] == decision["candidate_checkpoint_id"]
    quality_file = versions(project, "data/08_reporting/explain_quality.json")[0]  # the run's own
    quality = json.loads(quality_file.read_text())
    assert quality["champion"] == {
        "version": str(champion.version),
        "variant": decision["candidate"],
        "checkpoint_id": decision["candidate_checkpoint_id"],
        "data_fingerprint": decision["data_fingerprint"],
    }, "explained after the promotion, with the new champion"
    assert quality["split"] == "test" and quality["learned_images"] == 0, "none of its training images"


def test_the_champions_heatmaps_are_scored_against_the_crack_masks(default_run):
    fields = line_fields(default_run.lines, "explain: method=layercam n=")
    assert int(fields["n"]) == 2, "the two crack images of the test split, with their masks"
    for name in ("baseline_center", "baseline_sobel"):
        assert 0 <= float(fields[name]) <= 1, name
    assert -1 <= float(fields["sanity_rank_correlation"]) <= 1
    (explained,) = sorted((default_run.project / "data/07_model_output/explanations").iterdir())
    heatmaps = sorted((explained / "explanations/layercam").glob("*_heatmap.npy"))
    assert len(heatmaps) == 4 and np.load(heatmaps[0]).shape == (64, 64)
    assert "index.html" in {p.name for p in (explained / "explanations").iterdir()}
    # The logged scores are those of the saved heatmaps against the masks of the images they explain.
    (predictions,) = versions(default_run.project, "data/07_model_output/explain_predictions.csv")
    masks, scores = default_run.project / "data/01_raw/synthetic/masks", []
    for index, file in enumerate(pd.read_csv(predictions).file):
        mask_file = masks / Path(file).with_suffix(".png")
        if mask_file.is_file() and (mask := read_mask(mask_file)).any():
            heatmap = np.load(explained / "explanations/layercam" / f"{safe_name(index, file)}_heatmap.npy")
            scores.append((pointing_game(heatmap, mask), energy_in_mask(heatmap, mask)))
    assert len(scores) == 2
    pointing, energy = np.mean(scores, axis=0)
    assert float(fields["pointing_game"]) == pytest.approx(pointing, abs=5e-4)
    assert float(fields["energy_in_mask"]) == pytest.approx(energy, abs=5e-4)


def test_two_processes_train_a_variant_into_one_checkpoint_and_one_mlflow_run(
    default_run, monkeypatch, tmp_path
):
    """`train.processes: 2` (what `make train-distributed NPROC=2` sets): two gloo replicas on the CPU; the
    node's own process writes one checkpoint and logs one run, as a single process does."""
    # In a copy with a store of its own: a second small_cnn checkpoint and run in the shared project broke
    # the tests that read the default run's one, whenever this test ran before them on the same worker.
    ignored = shutil.ignore_patterns("mlflow.db", "mlruns")
    project = Path(shutil.copytree(default_run.project, tmp_path / "project", symlinks=True, ignore=ignored))
    monkeypatch.chdir(project)
    client = client_of(project)
    checkpoints = len(versions(project, "data/06_models/small_cnn/checkpoint.pt"))
    with logged_lines() as lines:
        run_session(project, {"train": {"processes": 2}}, pipeline_names=["train"], namespaces=["small_cnn"])
    assert "train: small_cnn on 2 replicas (cpu, gloo)" in lines
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == checkpoints + 1
    checkpoint = checkpoint_of_latest(project, "small_cnn")
    model = model_from_checkpoint(checkpoint)  # a single process loads what the replicas trained
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2)
    experiment = client.get_experiment_by_name("crack_pipeline")
    new = client.search_runs([experiment.experiment_id])  # the copy's own store: this run's alone
    assert sorted(r.info.run_name for r in new) == ["small_cnn", "train"], (
        "the session's run and the variant's"
    )
    (variant,) = (r for r in new if r.info.run_name == "small_cnn")
    assert [m.step for m in client.get_metric_history(variant.info.run_id, "val_loss")] == [1, 2]
