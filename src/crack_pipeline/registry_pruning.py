"""Old registered models of the MLflow registry, and their removal (`kedro prune --models`).

Every trained variant registers a version of `crack-classifier`, stored twice apart from the registry
entry: its run's artefacts (the checkpoint, plots) and, in MLflow 3, its exported model, a logged model of
its own (`models:/m-…`), which neither deleting the version nor the run removes. Of each variant the newest
`keep` versions stay, and so does every version with an alias (the champion) and every protected one (a
variant's `init_from`, an earlier champion a roll-back may return to). Removing a version deletes its
registry entry, its logged model and its run (unless a kept version shares them), and their artefacts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from crack_pipeline.pruning import folder_size
from crack_pipeline.tracking import REGISTERED_MODEL


@dataclass(frozen=True)
class OldModelVersion:
    version: str
    variant: str
    run_id: str | None  # None when a kept version shares it
    logged_model_id: str | None  # the same
    size: int  # bytes of its local artefacts (those in another store are not counted)


def old_model_versions(client: MlflowClient, keep: int, protected: Iterable[str]) -> list[OldModelVersion]:
    """The registered versions to remove, oldest first (none when nothing is registered)."""
    try:
        aliased = {str(version) for version in client.get_registered_model(REGISTERED_MODEL).aliases.values()}
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return []
        raise
    by_variant = defaultdict(list)
    for found in _all_versions(client):
        by_variant[found.tags.get("variant", "")].append(found)
    kept, old = [], []
    for versions in by_variant.values():
        versions.sort(key=lambda found: int(found.version), reverse=True)
        for rank, found in enumerate(versions):
            staying = rank < keep or str(found.version) in aliased | set(map(str, protected))
            (kept if staying else old).append(found)
    kept_runs = {found.run_id for found in kept}
    kept_models = {_logged_model_id(found.source) for found in kept}
    removed = []
    for found in sorted(old, key=lambda found: int(found.version)):
        run_id = found.run_id if found.run_id and found.run_id not in kept_runs else None
        model_id = _logged_model_id(found.source)
        model_id = model_id if model_id and model_id not in kept_models else None
        size = sum(folder_size(path) for path in _local_artefacts(client, run_id, model_id))
        removed.append(
            OldModelVersion(str(found.version), found.tags.get("variant", ""), run_id, model_id, size)
        )
    return removed


def protected_versions(parameters: dict[str, Any], decisions: Iterable[dict[str, Any]]) -> set[str]:
    """The versions a run or a person may still need by number: those `train.models.<name>.init_from`
    names, and the champions that champion decisions (`decisions`) record as replaced or kept."""
    models = parameters.get("train", {}).get("models", {})
    named = {str(model.get("init_from")) for model in models.values() if isinstance(model, dict)}
    champions = {str(decision.get("current_version")) for decision in decisions}
    return {version for version in named | champions if version.isdigit()}


def remove_model_version(client: MlflowClient, old: OldModelVersion) -> None:
    """Deletes the version, then its logged model and its run with their artefacts."""
    client.delete_model_version(REGISTERED_MODEL, old.version)
    if old.logged_model_id:
        location = client.get_logged_model(old.logged_model_id).artifact_location
        client.delete_logged_model(old.logged_model_id)
        get_artifact_repository(location).delete_artifacts()
    if old.run_id:
        location = client.get_run(old.run_id).info.artifact_uri
        client.delete_run(old.run_id)
        get_artifact_repository(location).delete_artifacts()


def _all_versions(client: MlflowClient) -> list:
    versions, token = [], None
    while True:
        page = client.search_model_versions(f"name='{REGISTERED_MODEL}'", page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def _logged_model_id(source: str | None) -> str | None:
    return (
        source.removeprefix("models:/").split("/", 1)[0] if source and source.startswith("models:/") else None
    )


def _local_artefacts(client: MlflowClient, run_id: str | None, model_id: str | None) -> list[Path]:
    locations = []
    if run_id:
        locations.append(client.get_run(run_id).info.artifact_uri)
    if model_id:
        locations.append(client.get_logged_model(model_id).artifact_location)
    parsed = [urlparse(location) for location in locations]
    return [Path(unquote(url.path)) for url in parsed if url.scheme in ("", "file")]
