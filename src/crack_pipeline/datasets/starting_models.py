"""The registered models a run's variants start from (`train.models.<name>.init_from`), checked before any
node runs: a reference the registry lacks, or a model of another architecture, stopped the run only once that
variant's training began, after the folder's ingest, the split and its decoding."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from crack_pipeline.datasets.registered_model import ModelRegistryDataset, trained_variants
from crack_pipeline.vision.models.checkpoint import check_architecture


def require_init_from_models(pipeline: Pipeline, catalog: Any, parameters: dict[str, Any]) -> None:
    """A `DatasetError` when a variant the run trains starts from a model the registry lacks (a typo, no
    champion yet), an `InputError` when that model is of another architecture than the variant's. A
    variant's name that this run trains too is left to the run (a promotion comes after training:
    `champion` is always the one from before the run)."""
    trained = trained_variants(pipeline)
    registries = (catalog.get(name) for name in sorted(pipeline.inputs()))
    registry = next((d.load() for d in registries if isinstance(d, ModelRegistryDataset)), None)
    models = (parameters.get("train") or {}).get("models") or {}
    for name in sorted(trained):
        model = models.get(name) or {}
        reference = model.get("init_from") if registry is not None else None
        if reference is None or str(reference).strip() in trained:
            continue
        setting = f"train.models.{name}.init_from"
        version = registry.version(str(reference), setting)
        if (found := run_architecture(version)) is not None and model.get("architecture"):
            where = (
                f"{setting}: {str(reference)!r} (version {version.version}, {version.tags.get('variant')})"
            )
            check_architecture(found, str(model["architecture"]), name, where)


def run_architecture(version: Any) -> str | None:
    """The architecture a registered `version` was trained as, from its run's tags (None where none is
    recorded: a version registered by hand, or whose run was purged, is left to the training)."""
    if not version.run_id:
        return None
    try:
        return MlflowClient().get_run(version.run_id).data.tags.get("architecture")
    except MlflowException:
        return None
