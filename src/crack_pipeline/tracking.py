"""MLflow records of trained model variants (plain MLflow; nothing here knows Kedro)."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from matplotlib.figure import Figure
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.store.entities.paged_list import PagedList

from crack_pipeline.registration_output import say_registered, without_mlflow_registration_lines
from crack_pipeline.vision.explain.cam_strips import progress_sheets, slider_pictures
from crack_pipeline.vision.models.checkpoint import model_domains, model_from_checkpoint, threshold_basis
from crack_pipeline.vision.models.inference import ViewAveragedClassifier, views_of

REGISTERED_MODEL = "crack-classifier"
CHAMPION_ALIAS = "champion"
CHECKPOINT_ARTIFACT = "checkpoint/checkpoint.pt"
DOMAINS_TAG = "domains"  # a registered version's training domains, a JSON list
_REQUIREMENTS = ("torch", "torchvision", "timm")
_NOT_IN_MLFLOW_KEYS = re.compile(r"[^\w\-. :/]", re.ASCII)


def mlflow_key(key: str) -> str:
    """`key` in the characters MLflow accepts in a metric or parameter name (alphanumerics, `_-. :/`): "+"
    as "p" (`gradcam++` → `gradcampp`), anything else outside the set as "_"."""
    return _NOT_IN_MLFLOW_KEYS.sub("_", str(key).replace("+", "p"))


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested `values` as one level, keys joined by "." and their characters made MLflow's (`mlflow_key`);
    two keys that would share a name are an error, not one value lost."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{mlflow_key(key)}"
        inner = flatten(value, f"{name}.") if isinstance(value, dict) else {name: value}
        if shared := inner.keys() & flat.keys():
            raise ValueError(f"two keys make the same MLflow name {sorted(shared)[0]!r} (e.g. {key!r})")
        flat.update(inner)
    return flat


def log_variant_run(
    checkpoint: dict[str, Any],
    history: list[dict[str, float]],
    data_version: str | None = None,
) -> str:
    """One nested MLflow run for a trained variant: parameters, per-epoch and final metrics, provenance
    tags (`data_version`: the version its checkpoint was saved as), and the model, registered as
    `crack-classifier` (its training curves join the run once saved: `log_saved_figures`).

    Returns the run id.
    """
    variant = checkpoint["variant"]
    with mlflow.start_run(run_name=variant, nested=True) as run:
        mlflow.set_tags(
            {
                "variant": variant,
                "checkpoint_id": checkpoint["checkpoint_id"],
                "architecture": checkpoint["architecture"],
                "data_fingerprint": checkpoint["data_fingerprint"],
                "split_fingerprint": checkpoint["split_fingerprint"],
                "git_commit": checkpoint["git_commit"],
                "precision": checkpoint.get("precision", ""),
                **{f"compute.{key}": str(value) for key, value in checkpoint.get("compute", {}).items()},
                **({"data_version": data_version} if data_version else {}),
            }
        )
        mlflow.log_params(
            {
                "variant": variant,
                "checkpoint_id": checkpoint["checkpoint_id"],
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
        if "cam_progress" in checkpoint:
            _log_cam_progress(checkpoint["cam_progress"], variant)
        _log_checkpoint(checkpoint)
        _log_model(checkpoint)
        return run.info.run_id


def _log_cam_progress(record: dict[str, Any], variant: str) -> None:
    """Heatmaps through training: each sample's overlay per epoch as a stepped image (MLflow's image
    slider), and its strip and the overview as pictures."""
    for epoch, name, picture in slider_pictures(record):
        mlflow.log_image(picture, key=f"cam_progress/{name}", step=epoch)
    strips, overview = progress_sheets(record, variant)
    for name, strip in strips.items():
        mlflow.log_image(strip, f"cam_progress/{name}.png")
    mlflow.log_image(overview, "cam_progress/overview.png")


def model_version_tags(checkpoint: dict[str, Any]) -> dict[str, str]:
    """What a registered version says about itself in the registry (the checkpoint stored with it holds
    the same, and is what every consumer reads): provenance, and how to use it — input size,
    normalisation, decision threshold."""
    tags = {
        key: str(checkpoint[key])
        for key in ("variant", "checkpoint_id", "split_fingerprint", "data_fingerprint")
    }
    tags["input_size"] = str(checkpoint["input_size"])
    tags["normalisation"] = f"mean {list(checkpoint['mean'])} std {list(checkpoint['std'])}"
    # The threshold holds for logits averaged over these views (vision.models.inference.DIHEDRAL_VIEWS).
    views = views_of(checkpoint)
    tags["test_time_views"] = str(views)
    # Versions registered before this tag are the plain network: each image as it is, whatever the views.
    tags["model_output"] = (
        "logits of each image as it is" if views == 1 else f"logits averaged over {views} test-time views"
    )
    if "threshold" in checkpoint:
        threshold = checkpoint["threshold"]
        tags["decision_threshold"] = repr(float(threshold["value"]))
        tags["decision_threshold_for"] = threshold_basis(threshold)
        for domain, own in threshold.get("per_domain", {}).items():
            tags[f"decision_threshold.{domain}"] = repr(float(own["value"]))
    if domains := model_domains(checkpoint):
        tags[DOMAINS_TAG] = json.dumps(domains)  # what evaluate_folder.domain may name, checked before a run
    return tags


def _log_checkpoint(checkpoint: dict[str, Any]) -> None:
    """The self-describing checkpoint beside the model: what `RegisteredModelDataset` loads, safely."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(CHECKPOINT_ARTIFACT).name
        torch.save(checkpoint, path)
        mlflow.log_artifact(str(path), artifact_path=str(Path(CHECKPOINT_ARTIFACT).parent))


def run_of_checkpoint(checkpoint_id: str) -> str | None:
    """The MLflow run that recorded a checkpoint (by its `checkpoint_id` tag), in any experiment."""
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.checkpoint_id = '{checkpoint_id}'",
        output_format="list",
    )
    return runs[0].info.run_id if runs else None


def log_saved_figures(figures: dict[str, Figure], saved: Path | None, folder: str | None = None) -> None:
    """Figures ({file name: figure}) into the active run, under `folder`: the PNG file or folder of files
    the catalog saved them as (`saved`), so that what is logged is what is saved, and drawn once; drawn
    here only when the catalog kept them elsewhere (`saved` None). Of a folder, the files of `figures` only:
    one not versioned keeps those of earlier saves (a cam_progress.png of a run that drew one)."""
    files = [saved / name for name in figures] if saved is not None and saved.is_dir() else [saved]
    if saved is not None and all(file.is_file() for file in files):
        for file in files:
            mlflow.log_artifact(str(file), folder)
    else:
        for name, figure in figures.items():
            mlflow.log_figure(figure, f"{folder}/{name}" if folder else name)


def log_evaluation(metrics: dict[str, Any]) -> str | None:
    """Test metrics into the run of the variant that made the checkpoint; that run's id (None: no run
    recorded the checkpoint)."""
    run_id = run_of_checkpoint(metrics["checkpoint_id"])
    if run_id is None:
        return None
    numbers = {
        k: v for k, v in flatten(metrics).items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    with mlflow.start_run(run_id=run_id, nested=True):
        mlflow.log_metrics({f"test.{k}": float(v) for k, v in numbers.items()})
    return run_id


def log_saved_figures_into(
    run_id: str, figures: dict[str, Figure], saved: Path | None, folder: str | None = None
) -> None:
    """`log_saved_figures` into the run `run_id` (a variant's: its curves, its evaluation plots)."""
    with mlflow.start_run(run_id=run_id, nested=True):
        log_saved_figures(figures, saved, folder)


def model_version_of(checkpoint_id: str) -> str | None:
    found = mlflow.MlflowClient().search_model_versions(
        f"name='{REGISTERED_MODEL}' and tag.checkpoint_id='{checkpoint_id}'"
    )
    return str(found[0].version) if found else None  # MLflow's is a number, the alias's a string


def every_page(search: Callable[..., PagedList], *args: Any, **kwargs: Any) -> list:
    """Every result of an MLflow search (`client.search_runs`, `search_model_versions`, ...), which gives
    one page at a time."""
    found, token = [], None
    while True:
        page = search(*args, page_token=token, **kwargs)
        found.extend(page)
        if not (token := page.token):
            return found


def model_versions(client: mlflow.MlflowClient, model_name: str = REGISTERED_MODEL) -> list[ModelVersion]:
    """Every version of the registered model (`model_name`)."""
    return every_page(client.search_model_versions, f"name='{model_name}'")


def champion_model_version(model_name: str = REGISTERED_MODEL) -> ModelVersion | None:
    """The version of the registered model (`model_name`) the `champion` alias points at (None when there
    is none)."""
    try:
        return mlflow.MlflowClient().get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def champion_version() -> str | None:
    """The number of the champion's model version (None when there is none)."""
    version = champion_model_version()
    return None if version is None else str(version.version)


def set_champion(version: str | None) -> None:
    """Point the `champion` alias at `version`, or remove it (None)."""
    client = mlflow.MlflowClient()
    if version is None:
        client.delete_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS)
    else:
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version)


def promote(checkpoint_id: str) -> str | None:
    """Point the `champion` alias at the model version of `checkpoint_id`; the old version stays."""
    version = model_version_of(checkpoint_id)
    if version is not None:
        set_champion(version)
    return version


def _log_model(checkpoint: dict[str, Any]) -> str:
    """Registers the network as its threshold expects it (its logits averaged over its test-time views),
    with its tags (`model_version_tags`); its version number."""
    views = views_of(checkpoint)
    network = model_from_checkpoint(checkpoint)
    model = network if views == 1 else ViewAveragedClassifier(network, views).eval()
    size = checkpoint["input_size"]
    # Two images: MLflow exports the model with torch.export, which fixes a batch dimension of 1.
    example = np.zeros((2, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    with without_mlflow_registration_lines():  # said in a line of ours, naming the variant
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            input_example=example,
            signature=infer_signature(example, output),
            registered_model_name=REGISTERED_MODEL,
            # The version's tags, set as it is registered: tagged one by one after it, a run killed
            # between left a version without its variant, which promotions never find and `kedro prune`
            # keeps for good.
            tags=model_version_tags(checkpoint),
            serialization_format="pt2",  # torch.export: loads with torch alone, not this project's code
            # Pinned from what is installed: inferring them would import-scan the whole environment.
            pip_requirements=[f"{package}=={version(package)}" for package in _REQUIREMENTS],
        )
    say_registered(checkpoint["variant"], REGISTERED_MODEL, info.registered_model_version)
    return str(info.registered_model_version)


def log_explanations(files: dict[str, bytes], quality: dict[str, Any]) -> None:
    """The grids and the localisation scores (`explain.<method>[.photo].<score>`) into the active run. Not
    the gallery: its page shows the panels and overlays beside it in the versioned output, which a run's
    artefacts would have to copy whole (hundreds of kB an image) to keep its links from breaking."""
    scores = flatten(quality.get("methods", {}), "explain.")
    mlflow.log_metrics({name: float(value) for name, value in scores.items()})
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            if Path(name).name.startswith("grid_"):
                path = Path(folder) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                mlflow.log_artifact(str(path), artifact_path=str(Path("explanations") / Path(name).parent))
