"""Training runs that change what the registry holds: a variant trained alone is compared like the others, a
champion is always scored at its own input size, and runs that cannot start say why before doing anything."""

import json
import logging
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import yaml
from kedro.io.core import DatasetError

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.pipelines.train import nodes as train_nodes
from tests.conftest import TINY_SYNTH, image_bytes, needs_gpu, run_session, use_tiny_training, write


def versions(project: Path, relative: str) -> list[Path]:
    folder = project / relative
    return [v / Path(relative).name for v in sorted(folder.iterdir())] if folder.exists() else []


def latest_json(project: Path, relative: str) -> dict:
    return json.loads(versions(project, relative)[-1].read_text())


def champion_version(project: Path) -> str:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    return str(mlflow.MlflowClient().get_model_version_by_alias("crack-classifier", "champion").version)


def test_a_variant_trained_alone_is_evaluated_and_compared_like_the_others(kedro_project, caplog):
    use_tiny_training(kedro_project, variants=("small_cnn",), epochs=1)
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    run_session(kedro_project, TINY_SYNTH, to_nodes=["promote_champion"])
    first = latest_json(kedro_project, "data/08_reporting/champion_decision.json")
    assert first["candidate"] == "small_cnn" and first["promote"]
    (best,) = [record.getMessage() for record in caplog.records if "best epoch" in record.getMessage()]
    precision = TorchCheckpointDataset(
        filepath=str(versions(kedro_project, "data/06_models/small_cnn/checkpoint.pt")[-1])
    ).load()["precision"]
    assert best.startswith(f"train: small_cnn best epoch 1 (trained in {precision} on cpu): val_loss="), best

    # small_cnn_b is defined but not selected: trained (and evaluated) alone, from the stored tensor cache,
    # starting from the champion's weights.
    init = {"train": {"models": {"small_cnn_b": {"init_from": "champion"}}}}
    run_session(kedro_project, {**TINY_SYNTH, **init}, pipeline_names=["train"], namespaces=["small_cnn_b"])
    (trained_alone,) = versions(kedro_project, "data/06_models/small_cnn_b/checkpoint.pt")
    origin = TorchCheckpointDataset(filepath=str(trained_alone)).load()["train_config"]["init_from"]
    assert origin["reference"] == "champion" and origin["model_version"] == "1"
    assert origin["checkpoint_id"] == first["candidate_checkpoint_id"]
    assert len(versions(kedro_project, "data/08_reporting/small_cnn_b/evaluation_metrics.json")) == 1
    assert len(versions(kedro_project, "data/06_models/small_cnn/checkpoint.pt")) == 1, "the other untouched"

    run_session(kedro_project, TINY_SYNTH, pipeline_names=["evaluate"])
    table = pd.read_csv(versions(kedro_project, "data/08_reporting/variant_comparison.csv")[-1])
    assert set(table.variant) == {"small_cnn", "small_cnn_b"}
    second = latest_json(kedro_project, "data/08_reporting/champion_decision.json")
    assert second["current"] == "small_cnn" and second["current_value"] == first["candidate_value"]
    assert second["promote"] == (second["candidate_value"] > second["current_value"])
    assert champion_version(kedro_project) == ("2" if second["promote"] else "1")


def test_the_champion_is_scored_at_its_own_input_size_after_the_size_changes(kedro_project):
    settings = {"evaluate": {"champion_metric": "at_threshold.brier", "champion_higher_is_better": False}}
    use_tiny_training(kedro_project, variants=("small_cnn",), epochs=1)
    run_session(kedro_project, {**TINY_SYNTH, **settings}, to_nodes=["promote_champion"])
    first = latest_json(kedro_project, "data/08_reporting/champion_decision.json")

    use_tiny_training(kedro_project, variants=("small_cnn_b",), epochs=1, image_size=48)
    run_session(kedro_project, {**TINY_SYNTH, **settings}, to_nodes=["promote_champion"])
    second = latest_json(kedro_project, "data/08_reporting/champion_decision.json")
    assert second["current"] == "small_cnn" and second["candidate"] in ("small_cnn", "small_cnn_b")
    # The Brier score is continuous: the same value means the same probabilities, i.e. the 64-px champion
    # saw its test images at 64 px again, not at the 48 px the new tensors hold.
    assert second["current_value"] == pytest.approx(first["candidate_value"], abs=1e-12)
    assert (
        latest_json(kedro_project, "data/08_reporting/small_cnn_b/evaluation_metrics.json")["training"][
            "input_size"
        ]
        == 48
    )


def test_evaluate_folder_without_a_champion_says_to_train_first(kedro_project, tmp_path):
    write(tmp_path / "photos", "Positive/a.png", image_bytes())
    with pytest.raises(DatasetError, match="train and evaluate first: kedro run .* --pipelines=from_folder"):
        run_session(
            kedro_project,
            {"evaluate_folder": {"path": str(tmp_path / "photos")}},
            pipeline_names=["evaluate_folder"],
        )
    # a variant never trained: the command that trains it alone (`kedro run` trains train.variants)
    with pytest.raises(
        DatasetError, match="train it first: kedro run --pipelines=train --namespaces=resnet18"
    ):
        run_session(
            kedro_project,
            {"evaluate_folder": {"path": str(tmp_path / "photos"), "model": "resnet18"}},
            pipeline_names=["evaluate_folder"],
        )


def test_a_broken_tracking_store_fails_before_training(kedro_project):
    use_tiny_training(kedro_project)
    mlflow_conf = yaml.safe_load((kedro_project / "conf/base/mlflow.yml").read_text())
    blocker = kedro_project / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    mlflow_conf["server"]["mlflow_tracking_uri"] = f"sqlite:///{blocker}/mlflow.db"
    (kedro_project / "conf/local/mlflow.yml").write_text(yaml.safe_dump(mlflow_conf))
    with pytest.raises(Exception, match="not-a-folder"):
        run_session(kedro_project, TINY_SYNTH)
    assert not (kedro_project / "data/01_raw/synthetic").exists(), "nothing ran"


def test_a_one_class_variant_is_fitted_on_clean_images_registered_evaluated_and_explained(kedro_project):
    use_tiny_training(kedro_project, variants=("small_cnn",))
    run_session(kedro_project, TINY_SYNTH, to_nodes=["build_split_tensors"])
    run_session(kedro_project, TINY_SYNTH, pipeline_names=["train"], namespaces=["patch_memory"])
    (path,) = versions(kedro_project, "data/06_models/patch_memory/checkpoint.pt")
    checkpoint = TorchCheckpointDataset(filepath=str(path)).load()
    assert checkpoint["architecture"] == "patch_memory_lite0" and len(checkpoint["state_dict"]["head.bank"])
    assert (
        checkpoint["threshold"]["false_alarm_rate"] == 0.02
        and checkpoint["threshold"]["target_recall"] is None
    )
    by_views = checkpoint["thresholds_by_views"]  # chosen the same way for every view count
    assert sorted(by_views) == [1, 2, 4, 8]
    assert all(threshold["false_alarm_rate"] == 0.02 for threshold in by_views.values())
    assert set(checkpoint["train_config"]["one_class"]) >= {"bank_patches", "false_alarm_rate"}
    assert "epochs" not in checkpoint["train_config"], "no training settings it never used"
    metrics = latest_json(kedro_project, "data/08_reporting/patch_memory/evaluation_metrics.json")
    assert 0 <= metrics["at_threshold"]["roc_auc"] <= 1

    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    (version,) = mlflow.MlflowClient().search_model_versions(
        "name='crack-classifier' and tag.variant='patch_memory'"
    )
    assert version.tags["decision_threshold_for"] == "false alarms 0.02 on clean validation images"
    registered = mlflow.pytorch.load_model(f"models:/crack-classifier/{version.version}")
    for count in (1, 3):  # its nearest-patch search exports with any batch size
        assert registered(torch.zeros(count, 3, 64, 64)).shape == (count, 2)

    # Two test images (explain.max_images) show all that is checked below, as the whole split would.
    explain_alone = {**TINY_SYNTH, "explain": {"model": "patch_memory", "max_images": 2}}
    with pytest.raises(
        Exception, match="no crack segmenter has been trained: run `kedro run --pipelines=segmenter`"
    ):
        run_session(kedro_project, explain_alone, pipeline_names=["explain"])
    run_session(kedro_project, TINY_SYNTH, pipeline_names=["segmenter"])
    run_session(kedro_project, explain_alone, pipeline_names=["explain"])
    quality = latest_json(kedro_project, "data/08_reporting/explain_quality.json")
    (segmenter,) = versions(kedro_project, "data/06_models/crack_segmenter/segmenter.pt")
    assert quality["crack_segmenter"] == torch.load(segmenter, weights_only=True)["segmenter_id"]
    assert list(quality["methods"]) == ["anomaly"], (
        "explained by its anomaly map, whatever explain.methods says"
    )
    explained = sorted((kedro_project / "data/07_model_output/explanations").iterdir())[-1] / "explanations"
    assert len(list((explained / "anomaly").glob("*_heatmap.npy"))) > 0

    # A variant's kind must be its architecture's.
    wrong = {"train": {"models": {"small_cnn_b": {"kind": "one_class"}}}}
    with pytest.raises(Exception, match=r"train.models.small_cnn_b.kind: 'one_class'.*patch_memory_lite0"):
        run_session(
            kedro_project, {**TINY_SYNTH, **wrong}, pipeline_names=["train"], namespaces=["small_cnn_b"]
        )


@needs_gpu
def test_a_variant_trained_on_a_gpu_is_tested_there(kedro_project, monkeypatch):
    """Its test metrics come from the GPU it trained on, in its precision, as the evaluate pipeline's do,
    not from the CPU that fit hands the model back on; its checkpoint's weights are on the CPU."""
    tested_on = []
    evaluate = train_nodes.evaluate

    def spied(model, data, spec, precision, criterion):
        tested_on.append((next(model.parameters()).device.type, precision.device.type))
        return evaluate(model, data, spec, precision, criterion)

    monkeypatch.setattr(train_nodes, "evaluate", spied)
    use_tiny_training(kedro_project, variants=("small_cnn",), epochs=1)
    run_session(kedro_project, {**TINY_SYNTH, "device": "cuda"}, to_nodes=["small_cnn.train_variant"])
    assert tested_on == [("cuda", "cuda")]
    (saved,) = versions(kedro_project, "data/06_models/small_cnn/checkpoint.pt")
    checkpoint = TorchCheckpointDataset(filepath=str(saved)).load()
    assert checkpoint["test_metrics"] and all(
        w.device.type == "cpu" for w in checkpoint["state_dict"].values()
    )
