"""The MLflow store's artefact folders: checked before a run (a project moved, renamed or copied keeps, in its
`mlflow.db`, the absolute folder it had: MLflow records the experiment's artefact location whole), named
where a registered model's files are gone, and warned of where the store holds no champion though the last
champion decision names one (a store deleted or replaced)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import yaml
from kedro.framework.project import PACKAGE_NAME
from kedro.utils import find_kedro_project
from mlflow import MlflowClient
from mlflow.entities import Experiment, ViewType
from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE
from mlflow.exceptions import MlflowException
from sqlalchemy.engine import make_url

from crack_pipeline.vision.settings import ConfigError


def local_path(location: str | None) -> Path | None:
    """The folder of an artefact location on this machine's disk; None for one elsewhere (S3, …)."""
    url = urlparse(location or "")
    return Path(unquote(url.path)) if location and url.scheme in ("", "file") else None


def experiment_name(mlflow_config: dict[str, Any]) -> str:
    """The experiment kedro-mlflow records a run in: mlflow.yml's `tracking.experiment.name`, else (as
    kedro-mlflow does) the package's name."""
    experiment = (mlflow_config.get("tracking") or {}).get("experiment") or {}
    return experiment.get("name") or PACKAGE_NAME or "crack_pipeline"


def require_usable_store(mlflow_config: dict[str, Any]) -> None:
    """Stops a run whose mlflow.yml names a file store (`mlruns`, `file:///...`) that MLflow 3 will refuse
    (unless MLFLOW_ALLOW_FILE_STORE=true): kedro-mlflow then failed in a page of traceback, MLflow's reason
    at its end."""
    server = mlflow_config.get("server") or {}
    for setting in ("mlflow_tracking_uri", "mlflow_registry_uri"):
        uri = server.get(setting)
        scheme = urlparse(str(uri)).scheme
        # A path (C:\ too: its drive reads as a scheme) or file:; not MLflow's names of Databricks' stores.
        named = str(uri) in ("databricks", "databricks-uc", "uc")
        file_store = uri is not None and not named and (scheme in ("", "file") or len(scheme) == 1)
        if file_store and not MLFLOW_ALLOW_FILE_STORE.get():
            raise ConfigError(
                f"mlflow.yml: server.{setting} {uri} is a file store, which MLflow {mlflow.__version__} "
                "opens only with MLFLOW_ALLOW_FILE_STORE=true in the environment: set it, or use a database "
                "(sqlite:///mlflow.db; `mlflow migrate-filestore` moves the runs of a folder there)"
            )


def require_artefact_folder(project: Path, experiment: str) -> None:
    """Stops the run when the artefact folder of the run's experiment (`experiment`, or that of an MLflow run
    of the user's own the run logs into) is on this disk but is gone with its folder's folder (the project
    moved from there): MLflow made it anew outside the project and wrote the run's files there, and the
    champion's checkpoint read as `Failed to download artifacts`; or is another project's (this one copied
    from it, with its store): the runs wrote their files into that project's mlruns/."""
    client = MlflowClient()
    if (run := mlflow.active_run()) is not None:
        experiment = client.get_experiment(run.info.experiment_id).name
    if problem := moved_store_problem(project, client, experiment):
        raise ConfigError(problem)


def moved_store_problem(project: Path, client: MlflowClient, experiment_name: str) -> str | None:
    """What is wrong where the artefact folder of experiment `experiment_name` is gone with the folder it was
    in, or lies in another project than this one, which holds the store; None where it is not."""
    experiment = client.get_experiment_by_name(experiment_name)
    folder = local_path(experiment.artifact_location) if experiment is not None else None
    project = project.resolve()
    if folder is None or folder.resolve().is_relative_to(project):
        return None
    where = f"the MLflow store {client.tracking_uri} keeps the files of experiment '{experiment.name}' "
    where += f"(checkpoints, registered models) in {folder}"
    # The project it was in: the folder above its mlruns/ (MLflow's layout), else the folder above it.
    was_in = folder.parents[folder.parts[::-1].index("mlruns")] if "mlruns" in folder.parts else folder.parent
    if folder.exists() or was_in.exists():  # there, or merely not made yet
        other, store = find_kedro_project(folder), _store_in(client.tracking_uri, project)
        if other is None or store is None or not _keeps_alike(other / store, experiment):
            return None  # a folder of its own, a store shared on purpose, or a root set on purpose there
        sqlite = client.tracking_uri.startswith("sqlite:")  # else a file store's folder
        uri = f"sqlite:///{other / store}" if sqlite else str(other / store)
        return (
            f"{where}, inside another project, {other}: was this project ({project}) copied from there with "
            f"its {store}? Its runs would write their files into that project's, and `kedro prune "
            f"--models` remove them there. Give this copy a store of its own (move its {store} away: the "
            f"next run makes a new one, with no champion), or share that project's store on purpose "
            f"(server.mlflow_tracking_uri: {uri} in mlflow.yml)"
        )
    if urlparse(client.tracking_uri).scheme in ("http", "https"):
        return (
            f"{where}, a folder on the tracking server's disk that this machine has not: MLflow would make "
            f"it here and write the runs' files on this machine. Have the server serve its artefacts "
            f"(mlflow server --artifacts-destination <folder>: its root is then mlflow-artifacts:/), or give "
            f"it an artefact root this machine reaches too; an experiment keeps the root it was made with"
        )
    if not _has_runs(client, experiment):  # a root set anew (mlflow.yml's artifact_location): made at a run
        return None
    if "mlruns" in folder.parts:  # a project's own (MLflow's layout): the project it was in moved
        return (
            f"{where}, which does not exist: was the project moved from {was_in}? Move it back, or link "
            f"that folder to this project (ln -s {project} {was_in})"
        )
    return (
        f"{where}, which does not exist, nor does {was_in}: is the disk it is on not mounted, or was it "
        f"moved or deleted? Mount it, or put the folder back (MLflow would make it anew on this machine's "
        f"disk and write the runs' files there)"
    )


def _has_runs(client: MlflowClient, experiment: Experiment) -> bool:
    """Whether `experiment` has a run, deleted or not: one with none wrote no file, so no folder of it is
    missing."""
    return bool(client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1))


def _store_in(tracking_uri: str, project: Path) -> Path | None:
    """The tracking store's SQLite file, or its folder (a file store, MLflow's `./mlruns`, which MLflow 3
    opens only with MLFLOW_ALLOW_FILE_STORE=true), from `project`, when it lies inside it; else None."""
    if tracking_uri.startswith("sqlite:"):
        store = Path(make_url(tracking_uri).database or "")
    else:
        store = local_path(tracking_uri)
    resolved = store.resolve() if store is not None else None
    return resolved.relative_to(project) if resolved and resolved.is_relative_to(project) else None


def _keeps_alike(store: Path, experiment: Experiment) -> bool:
    """Whether the other project's store `store` (an SQLite file, or a file store's folder) keeps `experiment`
    in the same folder: a copy's store is its original's. A project inside a Kedro project whose artefact
    root is set in there (a shared folder of the enclosing project's) has no such twin. Read-only, straight
    from MLflow's table or meta.yaml: an MLflow client would make its tables in a file not MLflow's."""
    if store.is_dir():  # a file store: each experiment's meta.yaml in a folder named by its id
        meta = store / experiment.experiment_id / "meta.yaml"
        try:
            found = yaml.safe_load(meta.read_text(encoding="utf-8")) if meta.is_file() else None
        except (OSError, yaml.YAMLError):
            return False
        return isinstance(found, dict) and found.get("artifact_location") == experiment.artifact_location
    if not store.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)) as database:
            query = "SELECT artifact_location FROM experiments WHERE name = ?"
            found = database.execute(query, (experiment.name,)).fetchone()
    except sqlite3.Error:  # not an MLflow store
        return False
    return found is not None and found[0] == experiment.artifact_location


def missing_files_note(client: MlflowClient, run_id: str) -> str:
    """Where a registered version's run kept its files, and the ways on, when that folder is on this disk and
    gone (mlruns/ deleted or moved, a disk not mounted, the run's folder deleted): MLflow says only `Failed to
    download artifacts`. '' otherwise."""
    try:
        folder = local_path(client.get_run(run_id).info.artifact_uri)
    except MlflowException:
        return ""
    if folder is None or folder.exists():
        return ""
    root = folder.parents[1]  # MLflow's layout: <experiment's artefact folder>/<run id>/artifacts
    if "mlruns" in folder.parts:  # a project's own (as moved_store_problem tells them apart)
        why, restore = ": mlruns/ deleted or moved?", "Restore them"
    elif root.exists():
        why, restore = ": was it deleted?", "Restore them"
    else:  # elsewhere, e.g. on a network disk
        why = f", nor does {root}: is the disk it is on not mounted, or was it moved or deleted?"
        restore = "Mount it or put the folder back"
    return (
        f" (its run's files were in {folder}, which does not exist{why}). {restore}, or make a version "
        f"whose files are there the champion (kedro run --pipelines=set_champion "
        f"--params=champion.version=<N>); with none, remove the 'champion' alias in `mlflow ui` (Models) "
        f"and train anew"
    )


def replaced_store_warning(last_decision: dict[str, Any] | None) -> str | None:
    """The warning for a registry found without a champion where the last champion decision (`last_decision`,
    champion_decision.json) says it had one: a store deleted or replaced (mlflow.db removed, mlflow.yml
    changed) read as a first run, and the run promoted its model uncompared without a word. None where the
    decision says there was none."""
    earlier = _champion_on_record(last_decision)
    if earlier is None:
        return None
    return (
        f"the MLflow registry has no champion, though the last champion decision (champion_decision.json) "
        f"{earlier}: was the MLflow store ({mlflow.get_tracking_uri()}) deleted or replaced? Restore it to "
        f"compare with that champion; this run promotes its best model uncompared"
    )


def _champion_on_record(last_decision: dict[str, Any] | None) -> str | None:
    """What the last champion decision says of the champion, for a registry found without one: the model
    version it found the champion (the one it compared with, or the one a person made the champion), after
    which the registry holds a champion whatever happened (a failed run gives the alias back to it); or the
    candidate it promoted where there was none, when the registry holds no version of it (a first run that
    failed after promoting gave the alias back to none, and its candidate stays registered). None: there was
    no champion, or no decision yet. Not the version a person replaced: the champion was then the one set by
    hand, and a first one set by hand replaced none."""
    # Here, not at the top: every kedro command imports this module's checks, and tracking imports torch.
    from crack_pipeline.tracking import model_version_of

    if last_decision is None:
        return None
    if version := last_decision.get("set_by_hand") or last_decision.get("current_version"):
        return f"found model version {version} the champion"
    promoted = last_decision.get("candidate_checkpoint_id") if last_decision.get("promote") else None
    if promoted and model_version_of(promoted) is None:
        return f"promoted {last_decision['candidate']} (checkpoint {promoted}), of which it holds no version"
    return None
