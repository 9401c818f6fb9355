"""Two runs of the training path with the same seed, fp32 and deterministic algorithms give the same split,
bit-identical weights and the same metrics; each run records where its model came from."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import torch

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.vision.models.precision import describe_cpu
from tests.conftest import TINY_SYNTH, run_session, use_tiny_training

TIMINGS = {"seconds", "train_seconds", "train_images_per_second"}


def run_training_path(project: Path) -> None:
    run_session(project, TINY_SYNTH, to_nodes=["compare_variants"])


def both_versions(project: Path, relative: str) -> list[Path]:
    versions = sorted((project / relative).iterdir())
    assert len(versions) == 2, relative
    return [version / Path(relative).name for version in versions]


def without(values, keys: set[str]):
    """`values` with the given keys removed at any depth (timings and run ids differ by nature)."""
    if isinstance(values, dict):
        return {k: without(v, keys) for k, v in values.items() if k not in keys}
    if isinstance(values, list):
        return [without(v, keys) for v in values]
    return values


def test_same_seed_same_split_same_weights_same_metrics(kedro_project):
    use_tiny_training(kedro_project, epochs=1, deterministic=True)
    run_training_path(kedro_project)
    run_training_path(kedro_project)

    manifests = both_versions(kedro_project, "data/03_primary/split_manifest.csv")
    assert manifests[0].read_bytes() == manifests[1].read_bytes(), "identical split manifests"

    checkpoints = [
        TorchCheckpointDataset(filepath=str(p)).load()
        for p in both_versions(kedro_project, "data/06_models/small_cnn/checkpoint.pt")
    ]
    weights = [c["state_dict"] for c in checkpoints]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0]), "bit-identical weights"
    assert checkpoints[0]["checkpoint_id"] != checkpoints[1]["checkpoint_id"], "two checkpoints, not one"

    metrics = [
        without(json.loads(p.read_text()), TIMINGS | {"checkpoint_id"})
        for p in both_versions(kedro_project, "data/08_reporting/small_cnn/evaluation_metrics.json")
    ]
    assert metrics[0] == metrics[1], "identical test metrics"
    histories = [
        without(json.loads(p.read_text()), TIMINGS)
        for p in both_versions(kedro_project, "data/08_reporting/small_cnn/training_history.json")
    ]
    assert histories[0] == histories[1], "identical per-epoch losses"

    # Where each model came from: in the checkpoint and on its MLflow run.
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    for checkpoint in checkpoints:
        assert len(checkpoint["data_fingerprint"]) == 64 and checkpoint["git_commit"]
        assert checkpoint["train_config"]["seed"] == 42 and checkpoint["train_config"]["deterministic"]
        (run,) = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"tags.checkpoint_id = '{checkpoint['checkpoint_id']}'",
            output_format="list",
        )
        assert run.data.tags["data_fingerprint"] == checkpoint["data_fingerprint"]
        assert run.data.tags["git_commit"] == checkpoint["git_commit"]
        assert run.data.params["seed"] == "42" and run.data.params["deterministic"] == "True"
        assert run.data.params["lr"] == str(checkpoint["train_config"]["lr"])
        # What tells two runs apart beside the training settings: the threshold's recall, the view count,
        # and what computed it (bit-identical only for the same CPU kernels, threads and torch).
        assert run.data.params["target_recall"] == str(checkpoint["train_config"]["target_recall"])
        assert run.data.params["test_time_views"] == str(checkpoint["test_time_views"])
        assert run.data.tags["compute.threads"] == str(torch.get_num_threads())
        assert (
            run.data.tags["compute.cpu"] == describe_cpu()
            and run.data.tags["compute.torch"] == torch.__version__
        )
        assert checkpoint["compute"]["device"] == "cpu" and checkpoint["compute"]["processes"] == 1
