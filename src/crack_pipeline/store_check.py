"""The MLflow store's artefact folders: checked before a run (a project moved or renamed keeps, in its
`mlflow.db`, the absolute folder it had: MLflow records the experiment's artefact location whole), and named
where a registered model's files are gone."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.tracking.fluent import _get_experiment_id

from crack_pipeline.vision.settings import ConfigError


def local_path(location: str | None) -> Path | None:
    """The folder of an artefact location on this machine's disk; None for one elsewhere (S3, …)."""
    url = urlparse(location or "")
    return Path(unquote(url.path)) if location and url.scheme in ("", "file") else None


def require_artefact_folder(project: Path) -> None:
    """Stops the run when the artefact folder of the run's experiment is on this disk but its folder's
    folder is gone (the project moved from there): MLflow made it anew outside the project and wrote the
    run's files there, and the champion's checkpoint read as `Failed to download artifacts`."""
    if problem := moved_store_problem(project, MlflowClient(), None):
        raise ConfigError(problem)


def moved_store_problem(project: Path, client: MlflowClient, experiment_name: str | None) -> str | None:
    """What is wrong where the artefact folder of experiment `experiment_name` (None: the active one) is gone
    with the folder it was in; None where it is not."""
    if experiment_name is None:
        experiment = client.get_experiment(_get_experiment_id())
    else:
        experiment = client.get_experiment_by_name(experiment_name)
    folder = local_path(experiment.artifact_location) if experiment is not None else None
    if folder is None or folder.exists() or folder.is_relative_to(project.resolve()):
        return None
    # The project it was in: the folder above its mlruns/ (MLflow's layout), else the folder above it.
    was_in = folder.parents[folder.parts[::-1].index("mlruns")] if "mlruns" in folder.parts else folder.parent
    if was_in.exists():  # that folder is there: the artefact folder is merely not made yet
        return None
    return (
        f"the MLflow store {client.tracking_uri} keeps the files of experiment '{experiment.name}' "
        f"(checkpoints, registered models) in {folder}, which does not exist: was the project moved from "
        f"{was_in}? Move it back, or link that folder to this project (ln -s {project} {was_in})"
    )


def missing_files_note(client: MlflowClient, run_id: str) -> str:
    """Where a registered version's run kept its files, and the ways on, when that folder is on this disk and
    gone (mlruns/ deleted or moved): MLflow says only `Failed to download artifacts`. '' otherwise."""
    try:
        folder = local_path(client.get_run(run_id).info.artifact_uri)
    except MlflowException:
        return ""
    if folder is None or folder.exists():
        return ""
    return (
        f" (its run's files were in {folder}, which does not exist: mlruns/ deleted or moved?). Restore "
        f"them, or make a version whose files are there the champion (kedro run --pipelines=set_champion "
        f"--params=champion.version=<N>); with none, remove the 'champion' alias in `mlflow ui` (Models) "
        f"and train anew"
    )
