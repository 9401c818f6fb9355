"""`kedro run --pipelines=retrain` as cron runs it: a new process each time, judged by its exit code,
its log file, the split it makes and what it leaves in the catalog and the model registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from crack_pipeline.run_guard import RunLock
from crack_pipeline.vision.synthetic import SynthConfig, generate
from tests.conftest import use_tiny_training


def add_photos(folder: Path, seed: int, per_class: int) -> None:
    """Synthetic labelled photos (names prefixed by the seed, so later batches add, never replace)."""
    images, _ = generate(SynthConfig(count_per_class=per_class, image_size=64, seed=seed), workers=1)
    for name, content in images.items():
        path = folder / Path(name).parent / f"s{seed}_{Path(name).name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@pytest.fixture
def project(kedro_project: Path) -> Path:
    use_tiny_training(kedro_project)
    (kedro_project / "conf/local/parameters_retrain.yml").write_text("retrain: {explain_sample: 4}\n")
    add_photos(kedro_project / "incoming", seed=1, per_class=20)
    return kedro_project


def retrain(project: Path, *params: str) -> subprocess.CompletedProcess:
    kedro = Path(sys.executable).with_name("kedro")
    options = ",".join([f"data.source_dir={project / 'incoming'}", *params])
    return subprocess.run(
        [str(kedro), "run", "--pipelines=retrain", f"--params={options}"],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def versions(project: Path, relative: str) -> list[Path]:
    folder = project / relative
    return sorted(folder.iterdir()) if folder.exists() else []


def latest_split(project: Path) -> pd.DataFrame:
    newest = versions(project, "data/03_primary/split_manifest.csv")[-1]
    return pd.read_csv(newest / "split_manifest.csv")


def champion(project: Path) -> str | None:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias("crack-classifier", "champion").version)
    except mlflow.MlflowException:
        return None


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file under data/ that a failed run must leave as it was: all but the lock and the
    decoded-tensor cache (a cache, rebuilt for each split and checked against it before use)."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in (project / "data").rglob("*")
        if p.is_file() and p.name not in ("retrain.lock", "split_tensors.pt")
    }


def test_retrain_trains_once_then_finds_nothing_new_then_keeps_the_test_split(project):
    first = retrain(project)
    assert first.returncode == 0, first.stderr[-3000:]
    assert champion(project) == "1", "the first model becomes the champion"
    (log,) = (project / "logs/retrain").glob("*.log")
    assert "retrain: no champion yet" in log.read_text() and "retrain finished" in log.read_text()
    assert (project / "data/retrain.lock").read_text() == "", "the lock is released"
    explained = versions(project, "data/07_model_output/explanations")[-1]
    assert len(list(explained.rglob("*_panel.png"))) == 4, "retrain.explain_sample test images explained"
    before = latest_split(project)

    again = retrain(project)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "retrain: nothing new - the 40 images" in again.stdout
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 1, "nothing trained"
    assert len(list((project / "logs/retrain").glob("*.log"))) == 2, "a log file per run"

    add_photos(project / "incoming", seed=2, per_class=10)
    grown = retrain(project)
    assert grown.returncode == 0, grown.stderr[-3000:]
    after = latest_split(project).set_index("path")
    assert len(after) == 60
    kept = after.loc[before.path, "split"]
    assert (kept.to_numpy() == before.split.to_numpy()).all(), "every earlier image keeps its split"
    new = after.drop(index=before.path)
    assert set(new.split) == {"train", "val", "test"}
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 2

    forced = retrain(project, "retrain.force=true")
    assert forced.returncode == 0 and "nothing new" not in forced.stdout
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 3


def test_a_failed_retrain_exits_non_zero_and_leaves_champion_and_versions_untouched(project):
    assert retrain(project).returncode == 0
    add_photos(project / "incoming", seed=2, per_class=10)
    before = snapshot(project)
    logs = project / "logs/retrain"

    # Each run fails in its last node, after the evaluation has decided on the champion. Ranked by
    # Brier score once upwards and once downwards, the new model beats the champion in one of the two.
    for higher_is_better in ("true", "false"):
        failed = retrain(
            project,
            "evaluate.champion_metric=at_half.brier",
            f"evaluate.champion_higher_is_better={higher_is_better}",
            "explain.methods=[no_such_method]",
        )
        assert failed.returncode != 0
        assert "unknown CAM method 'no_such_method'" in failed.stdout + failed.stderr
        assert champion(project) == "1", "the champion is the one from before the failed run"
        after = snapshot(project)
        assert {name: after[name] for name in before} == before, "no earlier file changed"
        assert "retrain failed" in sorted(logs.glob("*.log"))[-1].read_text()
        assert (project / "data/retrain.lock").read_text() == ""
    run_logs = "".join(log.read_text() for log in logs.glob("*.log"))
    assert run_logs.count("the champion is again model version 1") == 1, "one failed run had promoted"


def test_a_second_retrain_stops_at_once_while_one_runs(project):
    lock = RunLock(project / "data/retrain.lock")
    lock.acquire("the scheduled run")
    try:
        refused = retrain(project)
    finally:
        lock.release()
    assert refused.returncode != 0
    assert "another run holds" in refused.stdout + refused.stderr
    assert "the scheduled run" in refused.stdout + refused.stderr
    assert not (project / "data/02_intermediate").exists(), "nothing ingested"
    assert champion(project) is None
