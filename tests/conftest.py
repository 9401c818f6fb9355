"""Shared fixtures: tiny generated image folders and a scratch copy of the Kedro project."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def image_bytes(size=(64, 64), mode="RGB", fmt="PNG", seed=0, **save_args) -> bytes:
    """A small random image of the given mode, encoded."""
    rng = np.random.default_rng(seed)
    width, height = size
    if mode in ("I;16", "I"):
        pixels = rng.integers(0, 65535, (height, width)).astype(np.uint16)
        image = (
            Image.fromarray(pixels, mode="I;16")
            if mode == "I;16"
            else Image.fromarray(pixels.astype(np.int32))
        )
    else:
        image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def write(root: Path, relative: str, content: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def kedro_project(tmp_path, monkeypatch) -> Path:
    """A scratch copy of the project's configuration, so runs write only below tmp_path."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / ".telemetry").write_text("consent: false\n")
    (project / "src").mkdir()  # the package itself is installed; Kedro only checks the folder exists
    # An absolute tracking URI: MLflow caches stores by URI, so a relative one would keep pointing at the
    # first test's folder for every later session in this process.
    mlflow_conf = yaml.safe_load((PROJECT_ROOT / "conf/base/mlflow.yml").read_text())
    mlflow_conf["server"]["mlflow_tracking_uri"] = f"sqlite:///{project / 'mlflow.db'}"
    (project / "conf/local/mlflow.yml").write_text(yaml.safe_dump(mlflow_conf))
    monkeypatch.chdir(project)
    return project


def use_tiny_training(
    project: Path, variants: tuple[str, ...] = ("small_cnn",), epochs: int = 2, **defaults
) -> None:
    """conf/local training settings of the pipeline tests: the `variants` only, 64-px images, batches of 8,
    fp32, no progress bars, `epochs` each (merged into conf/base's entries, which keep their others)."""
    settings = {
        "train": {
            "variants": list(variants),
            "image_size": 64,
            "defaults": {"batch_size": 8, "progress": False, "precision": "fp32", **defaults},
            "models": {name: {"training": {"epochs": epochs}} for name in variants},
        }
    }
    (project / "conf/local/parameters_train.yml").write_text(yaml.safe_dump(settings))


@pytest.fixture(scope="session")
def trained():
    """A small_cnn trained on 96-px synthetic cracks (about 10 s), shared by the CAM and photo tests."""
    import torch

    from crack_pipeline.vision.models import create_model
    from crack_pipeline.vision.training import fit
    from tests.test_training import SPEC, config, tiny_split

    torch.manual_seed(0)
    return fit(
        create_model("small_cnn"),
        SPEC,
        tiny_split(48, 1, size=96),
        tiny_split(16, 2, size=96),
        config(epochs=8),
    ).model


@pytest.fixture(scope="session")
def trained_checkpoint(trained):
    """The trained model as a checkpoint, as training writes it."""
    from crack_pipeline.vision.checkpoint import make_checkpoint

    return make_checkpoint(
        trained,
        variant="small_cnn",
        architecture="small_cnn",
        input_size=96,
        train_config={},
        data_fingerprint="d",
        split_fingerprint="s",
        git_commit="g",
        best_epoch=1,
        best_metrics={},
    )
