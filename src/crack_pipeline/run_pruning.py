"""The explanation grids of old pipeline runs in the MLflow store (`kedro prune --models`).

An explain, retrain or default run logs the grids of its explanation sample into its MLflow run: in a
28-night audit of the nightly retrain, most of what still grew (about 0.7 MB a training night). Of the
project's runs (its kedro-mlflow experiment) that hold some, the newest `keep` keep theirs; older runs lose
their `explanations/` artefacts only, and keep their parameters, metrics and comparison table: the record
of each night's decision. The versioned explanations under `data/` are pruned with the other outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.entities import Run

from crack_pipeline.pruning import folder_size
from crack_pipeline.registry_pruning import artifacts_of
from crack_pipeline.store_check import local_path
from crack_pipeline.tracking import every_page

EXPLANATIONS = "explanations"  # where tracking.log_explanations puts them in a run


@dataclass(frozen=True)
class OldGrids:
    run_id: str
    run_name: str
    started: str  # UTC, to the minute
    artifact_uri: str
    size: int  # bytes on this machine's disk (0 for a store elsewhere)


def started_minute(run: Run) -> str:
    """When `run` started, UTC, to the minute: how prune lists it."""
    return datetime.fromtimestamp(run.info.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def old_grids(client: MlflowClient, keep: int, experiment: str) -> list[OldGrids]:
    """The explanation grids of all but the newest `keep` runs of `experiment` (the project's kedro-mlflow
    experiment) that hold some, oldest first. Other experiments of the store (a notebook's, another
    project's on a shared server) are not this project's to prune, nor do they count among the newest."""
    if (found := client.get_experiment_by_name(experiment)) is None:
        return []
    runs = every_page(client.search_runs, [found.experiment_id], order_by=["attributes.start_time DESC"])
    holding = [run for run in runs if client.list_artifacts(run.info.run_id, EXPLANATIONS)]
    old = []
    for run in reversed(holding[keep:]):
        folder = local_path(run.info.artifact_uri)
        started = started_minute(run)
        size = folder_size(folder / EXPLANATIONS) if folder is not None else 0
        old.append(OldGrids(run.info.run_id, run.info.run_name, started, run.info.artifact_uri, size))
    return old


def remove_grids(client: MlflowClient, old: OldGrids) -> None:
    artifacts_of(client, old.artifact_uri).delete_artifacts(EXPLANATIONS)
