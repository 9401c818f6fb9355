"""The MLflow model registry as catalog entries: a registered checkpoint by alias or variant (read), and the
`champion` alias (written by the promotion node)."""

from __future__ import annotations

import json
import logging
import tempfile
from typing import Any

import mlflow
from kedro.io.core import AbstractDataset, DatasetError
from kedro.pipeline import Pipeline
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from crack_pipeline.store_check import missing_files_note
from crack_pipeline.tracking import (
    CHAMPION_ALIAS,
    CHECKPOINT_ARTIFACT,
    DOMAINS_TAG,
    REGISTERED_MODEL,
    champion_model_version,
    champion_version,
    model_versions,
    promote,
    set_champion,
)
from crack_pipeline.vision.models.checkpoint import check_checkpoint, check_domain, named_domain
from crack_pipeline.vision.models.torch_files import load_checked, why_unreadable

logger = logging.getLogger(__name__)


def read_registered_checkpoint(client: MlflowClient, version, where: str) -> dict:
    """The checkpoint stored with a registered model version (`weights_only`), with its `model_version`;
    a `DatasetError` naming `where` and what to do when it cannot be read or is damaged."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(version.run_id, CHECKPOINT_ARTIFACT, folder)
        except (MlflowException, OSError) as error:
            why = f"{error}{missing_files_note(client, version.run_id)}"
            raise DatasetError(f"{where}: its checkpoint cannot be read from the store: {why}") from None
        try:
            checkpoint = load_checked(path)
            check_checkpoint(checkpoint, where)
        except Exception as error:  # truncated, corrupt or foreign: say which and what to do
            raise DatasetError(
                f"{where}: its checkpoint ({CHECKPOINT_ARTIFACT} of MLflow run {version.run_id}) "
                f"is damaged or not a crack_pipeline checkpoint ({why_unreadable(error)}). "
                "Retrain (kedro run, or kedro run --pipelines=from_folder on your data), or make an earlier "
                "version the champion: kedro run --pipelines=set_champion --params=champion.version=<N>"
            ) from None
    checkpoint["model_version"] = str(version.version)
    return checkpoint


def newest_version_of_variant(client: MlflowClient, model_name: str, variant: str):
    """The newest registered version of `model_name` trained as `variant` (None when there is none)."""
    found = client.search_model_versions(f"name='{model_name}' and tag.variant='{variant}'")
    return max(found, key=lambda v: int(v.version)) if found else None


class ModelRegistry:
    """Read access to every registered model version, by a reference a person writes: `champion` (or any
    alias), a version number (`7`), or a variant's name (its newest version)."""

    def __init__(self, model_name: str = REGISTERED_MODEL):
        self.model_name = model_name

    def checkpoint(self, reference: str, setting: str) -> dict:
        """The checkpoint `reference` names; a `DatasetError` naming `setting` when there is none."""
        client = MlflowClient()
        version = self.version(reference, setting, client)
        return read_registered_checkpoint(client, version, f"{self.model_name} version {version.version}")

    def version(self, reference: str, setting: str, client: MlflowClient | None = None):
        """The registered version `reference` names (its checkpoint not read); else a `DatasetError`."""
        client = client or MlflowClient()
        reference = str(reference).strip()
        try:
            if reference.isdigit():
                version = client.get_model_version(self.model_name, reference)
            elif reference == CHAMPION_ALIAS:
                version = client.get_model_version_by_alias(self.model_name, reference)
            else:
                version = newest_version_of_variant(client, self.model_name, reference)
        except MlflowException:
            version = None
        if version is None:
            versions = listed_versions(self.model_name)  # with the store: another environment's is not here
            raise DatasetError(
                f"{setting}: {reference!r} names no model in the registry {mlflow.get_registry_uri()} "
                f"({self.model_name}; versions: {versions}). Each environment has its own store: one trained "
                "with KEDRO_ENV=<env> is found in runs of it, set in conf/<env>/, not conf/local/"
            )
        return version


class ModelRegistryDataset(AbstractDataset[None, ModelRegistry]):
    """A read-only `ModelRegistry` for a model a parameter names (`init_from`), looked up if it is set."""

    def __init__(self, *, model_name: str = REGISTERED_MODEL, metadata: dict[str, Any] | None = None):
        self._model_name = model_name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name}

    def load(self) -> ModelRegistry:
        return ModelRegistry(self._model_name)

    def save(self, data: None) -> None:
        raise DatasetError("ModelRegistryDataset is read only: models enter the registry when trained")


class RegisteredModelDataset(AbstractDataset[None, dict]):
    """Loads the self-describing checkpoint stored with a registered model version (read only): by
    default the version under `alias` (the champion); with `variant`, that variant's newest version. The
    checkpoint is read with `weights_only=True`, so no code runs from the store. With
    `required: false` a missing model loads as None (e.g. no champion yet, before the first run).
    """

    def __init__(
        self,
        *,
        model_name: str = REGISTERED_MODEL,
        alias: str = CHAMPION_ALIAS,
        variant: str | None = None,
        required: bool = True,
        parameter: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        """`parameter`: the setting that gives `variant` (e.g. explain.model), named in error messages."""
        self._model_name, self._alias, self._variant, self._required = model_name, alias, variant, required
        self._parameter = parameter
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name, "alias": self._alias, "variant": self._variant}

    @property
    def variant(self) -> str | None:
        """The variant whose newest version it loads; None for the alias's."""
        return self._variant

    def load(self) -> dict | None:
        client = MlflowClient()
        version = self._find_version(client)
        if version is None:
            if self._required:
                wanted = f"variant {self._variant!r}" if self._variant else f"{self._alias!r} model"
                make = (
                    f"train it first: kedro run --pipelines=train --namespaces={self._variant}"
                    if self._variant
                    else "train and evaluate first: kedro run (the synthetic data), or kedro run "
                    "--pipelines=from_folder (your folder, or the environment's data sets)"
                )
                or_name = f"; or name a trained variant: --params={self._parameter}=<variant>"
                raise DatasetError(  # with the versions it holds: a misspelt variant's name was told to train
                    f"the MLflow registry {mlflow.get_registry_uri()} has no {wanted} of {self._model_name!r}"
                    f" yet: {make}{or_name if self._parameter else ''}; its versions: "
                    f"{listed_versions(self._model_name)}"
                )
            return None
        where = f"{self._model_name} version {version.version} ({self._alias or version.tags.get('variant')})"
        return read_registered_checkpoint(client, version, where)

    def _find_version(self, client: MlflowClient):
        try:
            if self._variant:
                return newest_version_of_variant(client, self._model_name, self._variant)
            return client.get_model_version_by_alias(self._model_name, self._alias)
        except MlflowException:
            return None

    def save(self, data: None) -> None:
        raise DatasetError("RegisteredModelDataset is read only: models enter the registry when trained")

    def _exists(self) -> bool:
        return self._find_version(MlflowClient()) is not None

    def check_domain(self, parameters: dict[str, Any]) -> None:
        """A `ConfigError` when `<section>.domain` (the section of the setting that names this model, e.g.
        evaluate_folder) names a domain the registered version was not trained on, from its tags, without
        reading its checkpoint (a version registered before the tag: left to the run)."""
        section = (self._parameter or "").removesuffix(".model")
        domain = named_domain((parameters.get(section) or {}).get("domain"), f"{section}.domain")
        version = self._find_version(MlflowClient()) if domain is not None else None
        if version is not None and DOMAINS_TAG in version.tags:
            known = json.loads(version.tags[DOMAINS_TAG])
            check_domain(domain, known, version.tags.get("variant", "?"), f"{section}.domain")


def trained_variants(pipeline: Pipeline) -> set[str]:
    """The variants a run trains: those whose `<variant>.checkpoint` is among its outputs."""
    return {
        name.removesuffix(".checkpoint") for name in pipeline.all_outputs() if name.endswith(".checkpoint")
    }


def require_registered_models(pipeline: Pipeline, catalog: Any, parameters: dict[str, Any]) -> None:
    """Loads now, before any node runs, each required registered model the run reads but cannot make, if it
    is missing: its error (which model, how to train it) stops the run before, say, a folder of 40,000
    photos is scanned for nothing; and checks a domain named for it (`RegisteredModelDataset.check_domain`).
    A run that promotes a champion (`champion` among its outputs) may make the model it reads later, and is
    left to its nodes; so is one that trains the variant a model names (its `<variant>.checkpoint` among the
    outputs: registered once saved, by MlflowVariantRunHook)."""
    trained = trained_variants(pipeline)
    if "champion" in pipeline.all_outputs():
        return
    for name in sorted(pipeline.inputs()):
        dataset = catalog.get(name)
        if not isinstance(dataset, RegisteredModelDataset) or dataset.variant in trained:
            continue
        if not dataset.exists():
            try:
                dataset.load()  # an optional one loads as None
            except DatasetError as error:
                raise DatasetError(f"{name}: {error}") from None
        dataset.check_domain(parameters)


class ChampionAliasDataset(AbstractDataset[dict, dict]):
    """The registry's `champion` alias. Saving {"promote": true, "checkpoint_id": ...} (or "version": ...)
    points it at that model version (every earlier version stays registered); "promote": false changes
    nothing. Loading gives which version it points at ({version, variant, checkpoint_id, data_fingerprint};
    None when there is no champion), from the registry's tags: what a step that uses the champion reads
    after the promotion, so it runs after it (`current_champion_alias`: read before a change)."""

    def __init__(self, *, metadata: dict[str, Any] | None = None):
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": REGISTERED_MODEL, "alias": CHAMPION_ALIAS}

    def save(self, data: dict[str, Any]) -> None:
        if not data["promote"]:
            return
        if data.get("version") is not None:
            try:
                set_champion(str(data["version"]))
            except MlflowException:
                raise DatasetError(
                    f"champion.version: {REGISTERED_MODEL} has no version {data['version']!r} (`kedro prune "
                    f"--models` keeps only each variant's newest KEEP, and a roll-back target only while a "
                    f"champion decision on disk names it); its versions: {listed_versions()}"
                ) from None
        elif (now := champion_version()) != data.get("replaces", now):
            # The decision compared the candidate with the champion `replaces`; one set since (by hand:
            # set_champion's roll-back, or by another run's promotion) was not compared, and stands.
            logger.warning(
                "promote_champion: %s (checkpoint %s) is not made the champion: the champion is now model "
                "version %s, set since this run compared against %s; that choice stands",
                data.get("variant"),
                data["checkpoint_id"],
                now,
                "no champion" if data["replaces"] is None else f"version {data['replaces']}",
            )
        elif promote(data["checkpoint_id"]) is None:
            raise DatasetError(
                f"checkpoint {data['checkpoint_id']} ({data.get('variant')}) has no registered model version "
                f"to make the champion: was it trained with MLflow tracking off?"
            )

    def load(self) -> dict[str, str] | None:
        version = champion_model_version()
        if version is None:
            return None
        return {
            "version": str(version.version),
            **{k: version.tags.get(k) for k in ("variant", "checkpoint_id", "data_fingerprint")},
        }

    def _exists(self) -> bool:
        return self.load() is not None


def listed_versions(model_name: str = REGISTERED_MODEL, most: int = 12) -> str:
    """`model_name`'s newest versions, for a message: `12 (small_cnn), 11 (resnet18, champion), …`."""
    if not (found := sorted(model_versions(MlflowClient(), model_name), key=lambda v: -int(v.version))):
        return "none yet"
    champion = champion_model_version(model_name)  # searching versions gives no aliases
    described = [
        f"{v.version} ({v.tags.get('variant') or 'registered by hand'}"
        f"{', champion' if champion is not None and v.version == champion.version else ''})"
        for v in found[:most]
    ]
    return ", ".join(described) + (f" and {len(found) - most} older" if len(found) > most else "")
