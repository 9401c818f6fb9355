"""Kedro session runs of the training stage: checkpoints, one MLflow run per variant, namespaces."""

from pathlib import Path

import mlflow
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.vision.checkpoint import model_from_checkpoint

TINY = {"synth": {"count_per_class": 16, "image_size": 64, "workers": 2, "difficulty": 0.0}}
LOCAL_TRAIN = {
    "train": {
        "variants": ["small_cnn", "squeezenet1_1"],
        "image_size": 64,
        "defaults": {"batch_size": 8, "progress": False, "precision": "fp32"},
        # merged into conf/base's entries, which keep their other settings
        "models": {"small_cnn": {"training": {"epochs": 2}}, "squeezenet1_1": {"training": {"epochs": 2}}},
    }
}


@pytest.fixture
def project(kedro_project: Path) -> Path:
    (kedro_project / "conf" / "local" / "parameters_train.yml").write_text(yaml.safe_dump(LOCAL_TRAIN))
    return kedro_project


def run(project: Path, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run(**kwargs)


def versions(project: Path, variant: str) -> list[Path]:
    folder = project / "data/06_models" / variant / "checkpoint.pt"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_each_variant_is_trained_checkpointed_and_tracked(project):
    run(project)
    for variant, architecture in (("small_cnn", "small_cnn"), ("squeezenet1_1", "squeezenet1_1")):
        (version,) = versions(project, variant)
        checkpoint = TorchCheckpointDataset(filepath=str(version / "checkpoint.pt")).load()
        assert checkpoint["variant"] == variant and checkpoint["architecture"] == architecture
        assert checkpoint["input_size"] == 64 and len(checkpoint["data_fingerprint"]) == 64
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

    # One variant alone, by namespace, from the `train` pipeline that holds every defined variant:
    # only its checkpoint gets a new version, and the stored tensor cache is reused.
    run(project, pipeline_names=["train"], namespaces=["squeezenet1_1"])
    assert len(versions(project, "squeezenet1_1")) == 2
    assert len(versions(project, "small_cnn")) == 1


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
