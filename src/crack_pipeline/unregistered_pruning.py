"""The files of model variants' runs whose model was never registered (`kedro prune --models`).

A variant's training logs its checkpoint and plots into its run, then its exported model, then registers it
(`tracking.log_variant_run`). A run killed or failed before the registration (SIGKILL inside MLflow's
`log_model`, a full disk) left those files, about 40 MB for efficientnet_lite0, that no registered version
names, so that the pruning of old versions never reached them. Of the project's runs (its kedro-mlflow
experiment), each variant's run that is over (or shown running only because its process was killed:
`live_runs`) and whose run and exported model no registered version names loses its files and its exported
model; it keeps its parameters, metrics and tags.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run, RunStatus

from crack_pipeline.live_runs import held_by_none
from crack_pipeline.pruning import folder_size
from crack_pipeline.registry_pruning import artifacts_of, logged_model_id
from crack_pipeline.run_pruning import started_minute
from crack_pipeline.store_check import local_path
from crack_pipeline.tracking import every_page


@dataclass(frozen=True)
class UnregisteredRun:
    run_id: str
    run_name: str
    started: str  # UTC, to the minute
    start_time: int  # milliseconds, to order them
    status: str
    artifact_uri: str
    models: tuple[tuple[str, str], ...]  # its exported models: (logged model id, where its files are)
    size: int  # bytes on this machine's disk (0 for a store elsewhere)


def unregistered_runs(client: MlflowClient, experiment: str, project: Path) -> list[UnregisteredRun]:
    """The variants' runs of `experiment` whose model no registered version names, no longer at work and
    holding files, oldest first."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    registered = _registered(client)
    unregistered = []
    for run in _variant_runs(client, found.experiment_id):
        if run.info.run_id in registered or _at_work(run, project):
            continue
        models = tuple(
            (model.model_id, model.artifact_location)
            for model in client.search_logged_models(
                [found.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
            )
            if model.model_id not in registered
        )
        folders = [local_path(location) for location in (run.info.artifact_uri, *dict(models).values())]
        size = sum(folder_size(folder) for folder in folders if folder is not None and folder.exists())
        if models or client.list_artifacts(run.info.run_id):
            unregistered.append(
                UnregisteredRun(
                    run.info.run_id,
                    run.info.run_name,
                    started_minute(run),
                    run.info.start_time,
                    run.info.status,
                    run.info.artifact_uri,
                    models,
                    size,
                )
            )
    return sorted(unregistered, key=lambda old: old.start_time)


def remove_unregistered(client: MlflowClient, old: UnregisteredRun) -> None:
    """Deletes the run's files and its exported models; the run stays, with its parameters and metrics."""
    for model_id, location in old.models:
        artifacts_of(client, location).delete_artifacts()
        client.delete_logged_model(model_id)
        folder = local_path(location)
        if folder is not None and folder.parent.name == model_id:  # its own folder, left empty
            with contextlib.suppress(OSError):  # not empty (something else put a file there): left
                folder.parent.rmdir()
    artifacts_of(client, old.artifact_uri).delete_artifacts()


def _registered(client: MlflowClient) -> set[str]:
    """The runs and exported models (logged model ids) that a registered version of any model names."""
    versions = every_page(client.search_model_versions)
    named = {found.run_id for found in versions} | {logged_model_id(found.source) for found in versions}
    return named - {None}


def _variant_runs(client: MlflowClient, experiment_id: str) -> list[Run]:
    """The runs a variant's training made (tagged with its checkpoint), every page."""
    runs = every_page(client.search_runs, [experiment_id], "tags.checkpoint_id != ''")
    return [run for run in runs if "variant" in run.data.tags]


def _at_work(run: Run, project: Path) -> bool:
    """Whether the run may still be registering its model: shown running, and not because the process of
    the run it is nested in (kedro-mlflow's) was killed."""
    if run.info.status != RunStatus.to_string(RunStatus.RUNNING):
        return False
    return not held_by_none(project, run.data.tags.get("mlflow.parentRunId", run.info.run_id))
