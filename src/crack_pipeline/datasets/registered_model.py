"""``RegisteredModelDataset``: a checkpoint from the MLflow model registry, by alias or by variant."""

from __future__ import annotations

import tempfile
from typing import Any

import torch
from kedro.io.core import AbstractDataset, DatasetError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from crack_pipeline.tracking import CHECKPOINT_ARTIFACT, REGISTERED_MODEL
from crack_pipeline.vision.checkpoint import CheckpointError, check_checkpoint


class RegisteredModelDataset(AbstractDataset[None, dict]):
    """Loads the self-describing checkpoint stored with a registered model version (read only).

    By default the version under `alias` (the champion); with `variant`, that variant's newest
    version. The checkpoint is read with `weights_only=True`, so no code runs from the store. With
    `required: false` a missing model loads as None (e.g. no champion yet, before the first run).
    """

    def __init__(
        self,
        *,
        model_name: str = REGISTERED_MODEL,
        alias: str = "champion",
        variant: str | None = None,
        required: bool = True,
        metadata: dict[str, Any] | None = None,
    ):
        self._model_name, self._alias, self._variant, self._required = model_name, alias, variant, required
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name, "alias": self._alias, "variant": self._variant}

    def load(self) -> dict | None:
        client = MlflowClient()
        version = self._find_version(client)
        if version is None:
            if self._required:
                wanted = f"variant {self._variant!r}" if self._variant else f"a {self._alias!r} model"
                raise DatasetError(
                    f"the MLflow registry has no {wanted} of {self._model_name!r} yet: train and evaluate "
                    f"first (kedro run), or name a trained variant: --params=evaluate_folder.model=<variant>"
                )
            return None
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = client.download_artifacts(version.run_id, CHECKPOINT_ARTIFACT, folder)
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
                check_checkpoint(checkpoint, f"{self._model_name} version {version.version}")
            except (MlflowException, OSError, CheckpointError) as error:
                raise DatasetError(f"{self._model_name} version {version.version}: {error}") from None
        checkpoint["model_version"] = version.version
        return checkpoint

    def _find_version(self, client: MlflowClient):
        try:
            if self._variant:
                found = client.search_model_versions(
                    f"name='{self._model_name}' and tag.variant='{self._variant}'"
                )
                return max(found, key=lambda v: int(v.version)) if found else None
            return client.get_model_version_by_alias(self._model_name, self._alias)
        except MlflowException:
            return None

    def save(self, data: None) -> None:
        raise DatasetError("RegisteredModelDataset is read only: models enter the registry when trained")

    def _exists(self) -> bool:
        return self._find_version(MlflowClient()) is not None
