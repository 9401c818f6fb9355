"""Shared fixtures: tiny generated image folders and a scratch copy of the Kedro project."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import io
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from PIL import Image
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.vision.data.parallel import default_workers
from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.explain.crack_segmenter import SegmenterConfig, train_segmenter

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
# Kedro's settings (dynaconf) look for crack_pipeline/main_settings.py and global_settings.py beside
# settings.py, which the project has not: each a failed import and an inspect.stack() (0.1 s in a test's deep
# stack, with thousands of modules loaded; 120 times a suite). An empty main environment skips the search.
os.environ.setdefault("MAIN_ENV_FOR_DYNACONF", "")

# The CUDA paths: run where torch sees a GPU, skipped, saying why, elsewhere.
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.fixture
def two_gpus(monkeypatch):
    """torch sees two CUDA GPUs (nothing runs on them: what the device settings resolve to), and TF32 is
    on, as torch has it by default for cuDNN; both restored after the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


@event.listens_for(Engine, "connect")
def _unsynced_sqlite(connection, _record) -> None:
    """MLflow's sqlite store commits, and waits for the disk, once per logged parameter: a tenth of a
    pipeline test's time. A test's store is thrown away with it, so it need not reach the disk."""
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture
def torch_threads():
    """torch's thread count as it was before the test, whatever the test set."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# Under pytest-xdist, N workers share the cores: one N-th of them each, or torch's threads would contend.
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    torch.set_num_threads(max(1, default_workers() // workers))


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


@functools.cache
def _empty_store() -> Path:
    """An MLflow store with its tables and nothing else, made once per test process: a new store runs every
    schema migration MLflow has (0.8 s; 60 stores a suite)."""
    folder = Path(tempfile.mkdtemp(prefix="crack-pipeline-tests-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlruns")).engine.dispose()
    return folder / "mlflow.db"


def new_store(path: Path) -> str:
    """A new MLflow store at `path` (a sqlite file), as MLflow makes it on first use: its URI. Its default
    experiment keeps its artifacts beside it, in mlruns/0."""
    shutil.copy(_empty_store(), path)
    with contextlib.closing(sqlite3.connect(path)) as store, store:
        location = str(path.parent / "mlruns" / "0")
        store.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (location,))
    return f"sqlite:///{path}"


def make_project(folder: Path) -> Path:
    """A scratch copy of the project's configuration in `folder`/project, so runs write only there."""
    project = folder / "project"
    project.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / ".telemetry").write_text("consent: false\n")
    (project / "src").mkdir()  # the package itself is installed; Kedro only checks the folder exists
    # conf/base/mlflow.yml's relative store is this copy's own mlflow.db (config.ProjectConfigLoader).
    new_store(project / "mlflow.db")
    # Tiny data decode faster in this process than a pool of workers starts (the pool has tests of its own).
    (project / "conf/local/parameters_ingest.yml").write_text(yaml.safe_dump({"ingest": {"workers": 1}}))
    # A crack segmenter of a few steps (its learning has tests of its own): runs train one in a second.
    tiny_segmenter = {"samples": 4, "steps": 3, "crop": 32, "width": 4}
    (project / "conf/local/parameters_segmenter.yml").write_text(
        yaml.safe_dump({"segmenter": tiny_segmenter})
    )
    return project


@pytest.fixture
def kedro_project(tmp_path, monkeypatch) -> Path:
    """A scratch copy of the project's configuration, the working directory of the test."""
    project = make_project(tmp_path)
    monkeypatch.chdir(project)
    return project


def run_session(project: Path, params: dict | None = None, env: str | None = None, **run_args) -> None:
    """One `kedro run` of `project` in this process (`run_args` as KedroSession.run takes them)."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=params or {}) as session:
        session.run(**run_args)


def kedro(project: Path, *args: str):
    """`kedro <args>` in `project`, in this process, through Kedro's own command line (which loads the
    project's `cli.py`): the click result, with `exit_code` and `output` (what the command printed itself;
    log records go to the log handlers, see `logged_lines`)."""
    from click.testing import CliRunner
    from kedro.framework.cli.cli import KedroCLI

    with contextlib.chdir(project):
        return CliRunner().invoke(KedroCLI(project_path=project), list(args), catch_exceptions=True)


@contextlib.contextmanager
def logged_lines() -> Iterator[list[str]]:
    """The messages the project logs inside the block (what `kedro run` prints as `[LEVEL] message`)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect(level=logging.INFO)
    logger = logging.getLogger("crack_pipeline")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def line_fields(lines: list[str], prefix: str) -> dict[str, str]:
    """The `key=value` fields of the one line starting with `prefix` (e.g. "explain: method=layercam n=")."""
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, f"{len(found)} lines start with {prefix!r}: {lines}"
    return dict(re.findall(r"(\w+)=(\S+)", found[0]))


# Tiny synthetic data for pipeline runs: 16 easy images per class at 64 px.
TINY_SYNTH = {"synth": {"count_per_class": 16, "image_size": 64, "workers": 1, "difficulty": 0.0}}


@dataclasses.dataclass(frozen=True)
class DefaultRun:
    project: Path
    lines: list[str]  # what the run logged


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> DefaultRun:
    """`kedro run` once, on tiny synthetic data with two variants (small_cnn, small_cnn_b; 2 epochs each),
    shared by the tests that read its outputs; they may add runs of their own but change nothing it wrote."""
    project = make_project(tmp_path_factory.mktemp("default_run"))
    use_tiny_training(project, variants=("small_cnn", "small_cnn_b"), test_time_views=2)
    with contextlib.chdir(project), logged_lines() as lines:
        run_session(project, TINY_SYNTH)
    return DefaultRun(project, lines)


# A second cheap variant for the pipeline tests: small_cnn's architecture at another learning rate.
SMALL_CNN_B = {"architecture": "small_cnn", "pretrained": False, "training": {"lr": 0.01}}


def use_tiny_training(
    project: Path,
    variants: tuple[str, ...] = ("small_cnn",),
    epochs: int = 2,
    image_size: int = 64,
    test_time_views: int = 1,
    **defaults,
) -> None:
    """conf/local training settings of the pipeline tests: the `variants` only (`small_cnn_b` defined too),
    `image_size` px, batches of 8, fp32, no progress bars, `epochs` each (merged into conf/base's entries,
    which keep their others), p(crack) over `test_time_views` views."""
    models = {name: {"training": {"epochs": epochs}} for name in variants}
    models["small_cnn_b"] = {**SMALL_CNN_B, "training": {**SMALL_CNN_B["training"], "epochs": epochs}}
    settings = {
        "train": {
            "variants": list(variants),
            "image_size": image_size,
            "workers": 1,
            "test_time_views": test_time_views,
            "defaults": {"batch_size": 8, "progress": False, "precision": "fp32", **defaults},
            "models": models,
        }
    }
    (project / "conf/local/parameters_train.yml").write_text(yaml.safe_dump(settings))


def versions(project: Path, relative: str) -> list[Path]:
    """The saved versions of a versioned catalog entry, oldest first, as paths of the file itself."""
    folder = project / relative
    return [v / Path(relative).name for v in sorted(folder.iterdir())] if folder.exists() else []


def checkpoint_of(project: Path, variant: str) -> dict:
    (path,) = versions(project, f"data/06_models/{variant}/checkpoint.pt")
    return TorchCheckpointDataset(filepath=str(path)).load()


def checkpoint_of_latest(project: Path, variant: str) -> dict:
    path = versions(project, f"data/06_models/{variant}/checkpoint.pt")[-1]
    return TorchCheckpointDataset(filepath=str(path)).load()


def client_of(project: Path) -> mlflow.MlflowClient:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    return mlflow.MlflowClient()


@pytest.fixture
def run_again(default_run, monkeypatch):
    """Another `kedro run` in the default run's project: (params, pipeline) -> the lines it logged."""
    monkeypatch.chdir(default_run.project)

    def run(params: dict, pipeline: str) -> list[str]:
        with logged_lines() as lines:
            run_session(default_run.project, params, pipeline_names=[pipeline])
        return lines

    return run


@pytest.fixture(scope="session")
def trained():
    """A small_cnn trained on 96-px synthetic cracks (about 10 s), shared by the CAM and photo tests."""

    from crack_pipeline.vision.training.loop import fit
    from tests.tiny_training import SPEC, config, seeded_model, tiny_split

    return fit(
        seeded_model(0),
        SPEC,
        tiny_split(48, 1, size=96),
        tiny_split(16, 2, size=96),
        config(epochs=8),
    ).model


@pytest.fixture(scope="session")
def trained_checkpoint(trained):
    """The trained model as a checkpoint, as training writes it."""
    from crack_pipeline.vision.models.checkpoint import make_checkpoint

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


@pytest.fixture(scope="session")
def learned() -> dict:
    """A crack segmenter trained long enough to find synthetic cracks (5-7 s; held-out F1 0.73-0.83 over
    seeds 0-2, so the bounds of its tests hold whatever the CPU's rounding)."""
    return train_segmenter(SegmenterConfig(samples=40, steps=250, crop=48, batch_size=8, width=8))


@pytest.fixture(scope="session")
def held_out() -> Callable[[int, bool], list]:
    """`held_out(count, positive)`: synthetic samples no segmenter of the tests trained on (seed 777)."""

    def samples(count: int, positive: bool) -> list:
        config = SynthConfig(seed=777, count_per_class=count, difficulty=0.5)
        return [render_sample(config, positive, index) for index in range(1, count + 1)]

    return samples
