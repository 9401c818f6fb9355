"""Kedro session runs of the training stage: checkpoints, one MLflow run per variant, namespaces."""

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.vision.checkpoint import model_from_checkpoint
from crack_pipeline.vision.rendering import png_bytes as png
from crack_pipeline.vision.synthetic import SynthConfig, render_photo
from tests.conftest import image_bytes, use_tiny_training, write

TINY = {"synth": {"count_per_class": 16, "image_size": 64, "workers": 2, "difficulty": 0.0}}


@pytest.fixture
def project(kedro_project: Path) -> Path:
    use_tiny_training(kedro_project, variants=("small_cnn", "squeezenet1_1"))
    return kedro_project


def run(project: Path, params: dict | None = None, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params={**TINY, **(params or {})}) as session:
        session.run(**kwargs)


def versions(project: Path, variant: str) -> list[Path]:
    folder = project / "data/06_models" / variant / "checkpoint.pt"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_each_variant_is_trained_checkpointed_and_tracked(project, capsys):
    run(project)
    for variant, architecture in (("small_cnn", "small_cnn"), ("squeezenet1_1", "squeezenet1_1")):
        (version,) = versions(project, variant)
        checkpoint = TorchCheckpointDataset(filepath=str(version / "checkpoint.pt")).load()
        assert checkpoint["variant"] == variant and checkpoint["architecture"] == architecture
        assert checkpoint["input_size"] == 64 and len(checkpoint["data_fingerprint"]) == 64
        assert checkpoint["patch_side"] == 64, "the training images' side on disk, for tiling photos"
        assert checkpoint["train_config"]["epochs"] == 2 and checkpoint["best_epoch"] in (1, 2)
        assert "test_accuracy" in checkpoint["test_metrics"]
        model_from_checkpoint(checkpoint)
        history = project / "data/08_reporting" / variant / "training_history.json"
        assert len(list(history.rglob("*.json"))) == 1
    assert versions(project, "resnet18") == versions(project, "efficientnet_lite0") == [], "only the selected"
    assert not any((project / "data/06_models/in_progress").glob("*.pt")), "resume files are cleaned up"

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("crack_pipeline")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    parent = runs["__default__"]
    for variant in ("small_cnn", "squeezenet1_1"):
        child = runs[variant]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params["architecture"] == variant and child.data.params["epochs"] == "2"
        assert {"test_accuracy", "best_val_loss", "train_images_per_second"} <= set(child.data.metrics)
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")]
        assert steps == [1, 2][: len(steps)] and len(steps) >= 1
        assert "training_curves.png" in {a.path for a in client.list_artifacts(child.info.run_id)}
    registered = client.search_model_versions("name='crack-classifier'")
    assert sorted(client.get_run(v.run_id).info.run_name for v in registered) == [
        "small_cnn",
        "squeezenet1_1",
    ]

    # Evaluation: metrics, predictions, plots per variant; the comparison; the first champion.
    for variant in ("small_cnn", "squeezenet1_1"):
        (metrics_file,) = (project / "data/08_reporting" / variant / "evaluation_metrics.json").rglob(
            "*.json"
        )
        metrics = json.loads(metrics_file.read_text())
        assert metrics["at_half"]["n"] == metrics["at_target_recall"]["n"] > 0
        assert metrics["at_target_recall"]["threshold"] == metrics["threshold_at_target_recall"]
        (predictions,) = (project / "data/07_model_output" / variant / "predictions.csv").rglob("*.csv")
        table = pd.read_csv(predictions)
        assert list(table.columns[:5]) == [
            "file",
            "true_label",
            "crack_probability",
            "predicted_label",
            "correct",
        ]
        (submission,) = (project / "data/07_model_output" / variant / "submission.csv").rglob("*.csv")
        assert list(pd.read_csv(submission).columns) == ["filename", "class"]
        plots = {p.name for p in (project / "data/08_reporting" / variant / "evaluation").rglob("*.png")}
        assert {"roc_pr.png", "reliability.png", "confusion_matrix.png", "confident_mistakes.png"} <= plots
        assert "test.at_half.roc_auc" in client.get_run(runs[variant].info.run_id).data.metrics
    (decision_file,) = (project / "data/08_reporting/champion_decision.json").rglob("*.json")
    decision = json.loads(decision_file.read_text())
    assert decision["promote"] and decision["current"] is None
    champion = client.get_model_version_by_alias("crack-classifier", "champion")
    assert champion.tags["variant"] == decision["candidate"]
    comparison = next((project / "data/08_reporting/variant_comparison.csv").rglob("*.csv"))
    assert set(pd.read_csv(comparison).variant) == {"small_cnn", "squeezenet1_1"}

    # One variant alone, by namespace, from the `train` pipeline that holds every defined variant:
    # only its checkpoint gets a new version, and the stored tensor cache is reused.
    run(project, pipeline_names=["train"], namespaces=["squeezenet1_1"])
    assert len(versions(project, "squeezenet1_1")) == 2
    assert len(versions(project, "small_cnn")) == 1

    # Evaluating again: the champion is re-measured on the same test split and keeps the alias
    # unless a variant is strictly better; the old version stays in the registry either way.
    run(project, pipeline_names=["evaluate"])
    decisions = sorted((project / "data/08_reporting/champion_decision.json").rglob("*.json"))
    second = json.loads(decisions[-1].read_text())
    assert second["current"] == decision["candidate"] and second["current_value"] is not None
    assert second["promote"] == (second["candidate_value"] > second["current_value"])
    now = client.get_model_version_by_alias("crack-classifier", "champion")
    assert (now.version != champion.version) == second["promote"]
    assert len(client.search_model_versions("name='crack-classifier'")) == 3

    # Any labelled folder, without retraining: the champion, then a named variant.
    folder = project.parent / "inspection"
    for i in range(4):
        write(folder, f"cracked/c{i}.jpg", image_bytes(fmt="JPEG", seed=i))
        write(folder, f"uncracked/u{i}.png", image_bytes(seed=50 + i))
    write(folder, "cracked/broken.jpg", b"not a jpeg")
    write(folder, "cracked/whole_wall.jpg", image_bytes((300, 200), fmt="JPEG", seed=9))  # larger than a tile
    run(
        project,
        pipeline_names=["evaluate_folder"],
        params={"evaluate_folder": {"path": str(folder)}, "tiling": {"tile_size": 128}},
    )
    out = capsys.readouterr().out
    assert "ingest: scanned 10 files, kept 9 (crack 5, no_crack 4), skipped 1" in out
    assert re.search(
        r"^evaluate_folder: n=9 accuracy=[0-9.]+ recall=[0-9.]+ precision=[0-9.]+ f1=[0-9.]+ "
        r"roc_auc=[0-9.]+ tiled=1$",
        out,
        re.MULTILINE,
    )
    (result,) = (project / "data/08_reporting/evaluate_folder/metrics.json").rglob("*.json")
    assert json.loads(result.read_text())["model_version"] == now.version
    (predictions,) = (
        p for p in (project / "data/07_model_output/evaluate_folder").rglob("*.csv") if p.is_file()
    )
    tiles = pd.read_csv(predictions).set_index("file").tiles
    assert tiles["cracked/whole_wall.jpg"] == 6 and tiles.drop("cracked/whole_wall.jpg").eq(1).all(), (
        "3x2 tiles"
    )
    run(
        project,
        pipeline_names=["evaluate_folder"],
        params={"evaluate_folder": {"path": str(folder), "model": "small_cnn"}},
    )
    latest_result = sorted((project / "data/08_reporting/evaluate_folder/metrics.json").rglob("*.json"))[-1]
    assert json.loads(latest_result.read_text())["variant"] == "small_cnn"
    # Explanations of the champion on the test split, measured against the synthetic crack masks.
    run(project, pipeline_names=["explain"], params={"explain": {"methods": ["gradcam", "eigencam"]}})
    out = capsys.readouterr().out
    for method in ("gradcam", "eigencam"):
        assert re.search(
            rf"^explain: method={method} n=\d+ pointing_game=[0-9.]+ energy_in_mask=[0-9.]+ "
            r"baseline_center=[0-9.]+ baseline_sobel=[0-9.]+ sanity_rank_correlation=-?[0-9.]+$",
            out,
            re.MULTILINE,
        ), out
    explained = sorted((project / "data/07_model_output/explanations").iterdir())[
        -1
    ]  # the default run made one too
    folder_files = {p.relative_to(explained / "explanations").as_posix() for p in explained.rglob("*.*")}
    assert {"index.html", "gradcam/grid_9.png", "gradcam/grid_16.png", "eigencam/grid_9.png"} <= folder_files
    heatmaps = sorted((explained / "explanations" / "gradcam").glob("*_heatmap.npy"))
    test_images = json.loads(
        next((project / "data/08_reporting/small_cnn/evaluation_metrics.json").rglob("*.json")).read_text()
    )["at_half"]["n"]
    assert len(heatmaps) == test_images
    heatmap = np.load(heatmaps[0])
    assert heatmap.shape == (64, 64) and heatmap.min() >= 0 and heatmap.max() <= 1
    assert len(list((explained / "explanations" / "gradcam").glob("*_panel.png"))) == test_images
    quality_file = sorted((project / "data/08_reporting/explain_quality.json").rglob("*.json"))[-1]
    quality = json.loads(quality_file.read_text())
    assert set(quality["methods"]) == {"gradcam", "eigencam"} and quality["model"] == now.tags["variant"]
    assert {"baseline_random_pointing", "baseline_sobel_energy", "iou_top5"} <= set(
        quality["methods"]["gradcam"]
    )

    # New photos, labelled or not, in any folder layout: explained without a split.
    photos = project.parent / "site_photos"
    write(photos, "bridge_7/IMG_0001.jpg", image_bytes((60, 48), fmt="JPEG", seed=3))  # within one 64-px tile
    write(photos, "bridge_7/deck/IMG_0002.png", image_bytes(seed=4))
    write(photos, "notes.txt", b"inspection notes")
    run(project, pipeline_names=["explain"], params={"explain": {"input_dir": str(photos)}})
    out = capsys.readouterr().out
    assert "explain input: scanned 3 files, kept 2" in out
    assert re.search(
        r"^explain: method=layercam n=2 deletion_auc=[0-9.]+ insertion_auc=[0-9.]+ ", out, re.MULTILINE
    ), "LayerCAM by default"
    registry_layer = r"^explain: model \w+, CAM layer features(\.6)?, tiles of 64 px$"
    assert re.search(registry_layer, out, re.MULTILINE), "the registry's layer"
    newest = sorted((project / "data/07_model_output/explanations").iterdir())[-1] / "explanations"
    heatmaps = sorted((newest / "layercam").glob("*_heatmap.npy"))
    assert [np.load(h).shape for h in heatmaps] == [(48, 60), (64, 64)], "each at its own image's resolution"
    assert "unlabelled" in (newest / "index.html").read_text()

    # A whole photo, larger than a tile, with its crack mask: tiled, scored with scope=photo, boxes saved.
    wall = render_photo(SynthConfig(image_size=64, seed=2, difficulty=0.0), 150, 200, cracks=1)
    write(project.parent / "wall", "wall.png", png(wall.image))
    write(project.parent / "wall_masks", "wall.png", png(wall.mask.astype(np.uint8) * 255))
    settings = {"input_dir": str(project.parent / "wall"), "masks_dir": str(project.parent / "wall_masks")}
    run(
        project, pipeline_names=["explain"], params={"explain": settings}
    )  # tiles: the training patches' 64 px
    out = capsys.readouterr().out
    assert re.search(
        r"^explain: method=layercam scope=photo n=1 detection_rate=[01]\.000 pointing_game=[01]\.000 "
        r"energy_in_mask=[0-9.]+ baseline_center=[0-9.]+/[0-9.]+ baseline_sobel=[0-9.]+/[0-9.]+ "
        r"mask_share=[0-9.]+$",
        out,
        re.MULTILINE,
    ), out
    newest = sorted((project / "data/07_model_output/explanations").iterdir())[-1] / "explanations"
    (heatmap,) = (newest / "layercam").glob("*_heatmap.npy")
    (tiles,) = (newest / "layercam").glob("*_tiles.npy")
    assert np.load(heatmap).shape == (150, 200) and np.load(tiles).shape == (3, 4), "64-px tiles, 1/4 overlap"
    boxes = sorted(
        p for p in (project / "data/07_model_output/explain_boxes.csv").rglob("*.csv") if p.is_file()
    )
    assert list(pd.read_csv(boxes[-1]).columns[:7]) == ["file", "method", "box", "x0", "y0", "x1", "y1"]
    quality = json.loads(
        sorted((project / "data/08_reporting/explain_quality.json").rglob("*.json"))[-1].read_text()
    )
    assert quality["methods"]["layercam"]["photo"]["n"] == 1 and quality["tiling"]["tile_size"] == 64

    write(folder, "mystery/x.jpg", image_bytes(fmt="JPEG"))
    with pytest.raises(Exception, match="mystery"):
        run(project, pipeline_names=["evaluate_folder"], params={"evaluate_folder": {"path": str(folder)}})


def test_evaluate_folder_without_a_champion_says_to_train_first(project, tmp_path):
    write(tmp_path / "photos", "Positive/a.png", image_bytes())
    with pytest.raises(Exception, match="train and evaluate first"):
        run(
            project,
            pipeline_names=["evaluate_folder"],
            params={"evaluate_folder": {"path": str(tmp_path / "photos")}},
        )


def test_a_broken_tracking_store_fails_before_training(project):
    mlflow_conf = yaml.safe_load((project / "conf/base/mlflow.yml").read_text())
    blocker = project / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    mlflow_conf["server"]["mlflow_tracking_uri"] = f"sqlite:///{blocker}/mlflow.db"
    (project / "conf/local/mlflow.yml").write_text(yaml.safe_dump(mlflow_conf))
    with pytest.raises(Exception):  # noqa: B017 - whatever MLflow raises, it must be raised early
        run(project)
    assert not (project / "data/01_raw/synthetic").exists(), "nothing ran"
    assert versions(project, "small_cnn") == []
