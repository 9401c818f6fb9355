"""MLflow records of trained model variants (plain MLflow; nothing here knows Kedro)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import mlflow
import numpy as np
import torch
from matplotlib.figure import Figure
from mlflow.models import infer_signature

from crack_pipeline.vision.checkpoint import model_from_checkpoint

REGISTERED_MODEL = "crack-classifier"
_REQUIREMENTS = ("torch", "torchvision", "timm")


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def log_variant_run(checkpoint: dict[str, Any], history: list[dict[str, float]], curves: Figure) -> str:
    """One nested MLflow run for a trained variant: parameters, per-epoch and final metrics, the
    training curves, provenance tags, and the model, registered as `crack-classifier`.

    Returns the run id.
    """
    variant = checkpoint["variant"]
    with mlflow.start_run(run_name=variant, nested=True) as run:
        mlflow.set_tags(
            {
                "variant": variant,
                "architecture": checkpoint["architecture"],
                "data_fingerprint": checkpoint["data_fingerprint"],
                "split_fingerprint": checkpoint["split_fingerprint"],
                "git_commit": checkpoint["git_commit"],
                "precision": checkpoint.get("precision", ""),
            }
        )
        mlflow.log_params(
            {
                "variant": variant,
                "architecture": checkpoint["architecture"],
                **flatten(checkpoint["train_config"]),
            }
        )
        for row in history:
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
        mlflow.log_metrics(
            {
                "best_epoch": checkpoint["best_epoch"],
                **{f"best_{k}": v for k, v in checkpoint["best_metrics"].items()},
                **checkpoint.get("test_metrics", {}),
                "train_seconds": checkpoint.get("train_seconds", 0.0),
                "train_images_per_second": checkpoint.get("train_images_per_second", 0.0),
            }
        )
        mlflow.log_figure(curves, "training_curves.png")
        _log_model(checkpoint)
        return run.info.run_id


def _log_model(checkpoint: dict[str, Any]) -> None:
    model = model_from_checkpoint(checkpoint)
    size = checkpoint["input_size"]
    example = np.zeros((1, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    mlflow.pytorch.log_model(
        model,
        name="model",
        input_example=example,
        signature=infer_signature(example, output),
        registered_model_name=REGISTERED_MODEL,
        # Pinned from what is installed: inferring requirements would import-scan the whole environment.
        pip_requirements=[f"{package}=={version(package)}" for package in _REQUIREMENTS],
    )
