"""Old registered models of the MLflow registry, and their removal (`kedro prune --models`).

Every trained variant registers a version of `crack-classifier`, stored twice apart from the registry
entry: its run's artefacts (the checkpoint, plots) and, in MLflow 3, its exported model, a logged model of
its own (`models:/m-…`), which neither deleting the version nor the run removes. Of each variant the newest
`keep` versions stay, and so does every version with an alias (the champion), every protected one (a
variant's `init_from`, in the configuration or a recorded run's `--params`; an earlier champion a roll-back
may return to; a survey's model) and
every one registered by hand (no variant tag). Removing a version deletes its logged model and its run
(unless a kept version shares them) with their artefacts, then its registry entry.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from crack_pipeline.pruning import folder_size
from crack_pipeline.store_check import local_path
from crack_pipeline.tracking import REGISTERED_MODEL, every_page, model_versions


@dataclass(frozen=True)
class OldModelVersion:
    version: str
    variant: str
    run_id: str | None  # None when a kept version shares it
    logged_model_id: str | None  # the same
    size: int  # bytes of its local artefacts (those in another store are not counted)
    run_location: str | None = None  # where its run's and its exported model's files are
    model_location: str | None = None


def old_model_versions(client: MlflowClient, keep: int, protected: set[str]) -> list[OldModelVersion]:
    """The registered versions to remove, oldest first (none when nothing is registered). Only versions
    a variant's training registered (tagged with its variant) are weighed: one registered by hand stays."""
    try:
        aliased = {str(version) for version in client.get_registered_model(REGISTERED_MODEL).aliases.values()}
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return []
        raise
    staying = aliased | protected
    by_variant: dict[str, list[ModelVersion]] = defaultdict(list)
    kept: list[ModelVersion] = []
    for found in model_versions(client):
        if "variant" in found.tags:
            by_variant[found.tags["variant"]].append(found)
        else:
            kept.append(found)
    old = []
    for versions in by_variant.values():
        versions.sort(key=lambda found: int(found.version), reverse=True)
        for rank, found in enumerate(versions):
            (kept if rank < keep or str(found.version) in staying else old).append(found)
    kept_runs = {found.run_id for found in kept}
    kept_models = {logged_model_id(found.source) for found in kept}
    removed = []
    for found in sorted(old, key=lambda found: int(found.version)):
        run_id = found.run_id if found.run_id and found.run_id not in kept_runs else None
        model_id = logged_model_id(found.source)
        model_id = model_id if model_id and model_id not in kept_models else None
        run_location = _run_location(client, run_id) if run_id else None
        run_id = run_id if run_location is not None else None  # gone already: nothing of it to delete
        model_location = _model_location(client, model_id) if model_id else None
        local = [path for path in map(local_path, (run_location, model_location)) if path is not None]
        size = sum(folder_size(path) for path in local)
        removed.append(
            OldModelVersion(
                str(found.version),
                found.tags["variant"],
                run_id,
                model_id,
                size,
                run_location,
                model_location,
            )
        )
    return removed


def protected_versions(
    parameters: dict[str, Any], decisions: Iterable[dict[str, Any]], surveys: Iterable[dict[str, Any]]
) -> set[str]:
    """The versions a run or a person may still need by number: those `train.models.<name>.init_from`
    names; the champions that champion decisions (`decisions`) record as kept or replaced, by a promotion
    or by hand (`set_champion`'s roll-back targets); and the models surveys (`surveys`, their survey.json)
    began with, which an unfinished one goes on with only."""
    models = parameters.get("train", {}).get("models", {})
    named = {str(model.get("init_from")).strip() for model in models.values() if isinstance(model, dict)}
    champions = {
        str(decision.get(key))
        for decision in decisions
        for key in ("current_version", "replaced_version", "set_by_hand")
    }
    surveyed = {str(survey.get("model_version")) for survey in surveys}
    return {version for version in named | champions | surveyed if version.isdigit()}


def started_from(client: MlflowClient, experiment: str) -> set[str]:
    """The versions the runs of `experiment` (the project's kedro-mlflow runs, which record the settings
    their nodes read, `--params` included) started a variant from by number: `train.models.<name>.init_from`.
    The configuration's files do not hold a number given on the command line (a cron line's
    `--params=train.models.small_cnn.init_from=3`), which a later run of that line starts from again."""
    if (found := client.get_experiment_by_name(experiment)) is None:
        return set()
    named = {
        str(value).strip()
        for run in every_page(client.search_runs, [found.experiment_id])
        for key, value in run.data.params.items()
        if key.startswith("train.models.") and key.endswith(".init_from")
    }
    return {version for version in named if version.isdigit()}


def recorded_in(files: Iterable[Path]) -> list[dict[str, Any]]:
    """The JSON records of `files` (champion decisions, survey.json); a `ValueError` naming one that cannot
    be read: it may name a version to keep."""
    records = []
    for path in files:
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise ValueError(
                f"{path} cannot be read ({error}): it may name a model version to keep"
            ) from None
    return records


def artifacts_of(client: MlflowClient, location: str) -> ArtifactRepository:
    """The artefacts at `location` in `client`'s store: a server's `mlflow-artifacts:` location is reached
    through that store's tracking URI, not the process's (which prune never sets)."""
    return get_artifact_repository(location, tracking_uri=client.tracking_uri)


def remove_model_version(client: MlflowClient, old: OldModelVersion) -> None:
    """Deletes the version's logged model and its run with their artefacts, then the version: the registry
    entry last, so that a removal cut short is found and finished by the next prune."""
    if old.logged_model_id and old.model_location:
        artifacts_of(client, old.model_location).delete_artifacts()
        client.delete_logged_model(old.logged_model_id)
    if old.run_id:
        artifacts_of(client, old.run_location).delete_artifacts()
        client.delete_run(old.run_id)
    client.delete_model_version(REGISTERED_MODEL, old.version)


def purge(uri: str, removed: Iterable[OldModelVersion]) -> str | None:
    """Deletes for good the runs and exported models that `remove_model_version` deleted (MLflow's delete
    only marks them: their parameters, metrics and tags stayed in the store, night after night), with
    `mlflow gc`, and the folders their files were in; what went wrong, or None. After the registry entries,
    so that a purge cut short leaves no version the next prune could not read (only rows marked deleted,
    as before)."""
    removed = list(removed)
    runs = sorted({old.run_id for old in removed if old.run_id})
    models = sorted({old.logged_model_id for old in removed if old.logged_model_id})
    if not runs and not models:
        return None
    arguments = ["--backend-store-uri", uri, "--tracking-uri", uri]
    arguments += [
        *(["--run-ids", ",".join(runs)] if runs else []),
        *(["--logged-model-ids", ",".join(models)] if models else []),
    ]
    # In this process (a new one spent 4 s importing MLflow again); gc sets the tracking URI: put back after.
    # Imported here: MLflow's command line takes 0.9 s to import, which every `kedro` command would pay.
    from mlflow.cli import gc as mlflow_gc

    previous = mlflow.get_tracking_uri()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # a line per run deleted
            mlflow_gc.main(arguments, standalone_mode=False)
    except (click.ClickException, MlflowException) as error:
        return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    finally:
        mlflow.set_tracking_uri(previous)
    for old in removed:
        _remove_empty_folders(old)
    return None


def _remove_empty_folders(old: OldModelVersion) -> None:
    """The folder named after the run (or exported model) that held its `artifacts` folder, once empty."""
    for name, location in ((old.run_id, old.run_location), (old.logged_model_id, old.model_location)):
        path = local_path(location)
        if name and path is not None and (folder := path.parent).name == name:
            with contextlib.suppress(OSError):  # not empty (something else put a file there): left
                folder.rmdir()


def logged_model_id(source: str | None) -> str | None:
    return (
        source.removeprefix("models:/").split("/", 1)[0] if source and source.startswith("models:/") else None
    )


def _run_location(client: MlflowClient, run_id: str) -> str | None:
    """Where a run's files are; None once it is gone for good (deleted in the MLflow UI, then `mlflow gc`):
    its version stays registered, and is removed without it, instead of stopping every prune."""
    try:
        return client.get_run(run_id).info.artifact_uri
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise


def _model_location(client: MlflowClient, model_id: str) -> str | None:
    """Where a logged model's files are; None once it is deleted (MLflow no longer finds it)."""
    try:
        return client.get_logged_model(model_id).artifact_location
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
