"""`kedro run --pipelines=retrain` as cron runs it, through the command line: judged by its exit code, its
log file, the split it makes and what it leaves in the catalog and the model registry."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from crack_pipeline.pipelines.evaluate import champion as champion_decision
from crack_pipeline.pipelines.retrain import nodes as retrain_nodes
from crack_pipeline.run_guard import RunLock
from crack_pipeline.vision.data.synthetic import SynthConfig, generate
from tests.conftest import kedro, logged_lines, use_tiny_training


def add_photos(folder: Path, seed: int, per_class: int) -> None:
    """Synthetic labelled photos (names prefixed by the seed, so later batches add, never replace)."""
    images, _ = generate(SynthConfig(count_per_class=per_class, image_size=64, seed=seed), workers=1)
    for name, content in images.items():
        path = folder / Path(name).parent / f"s{seed}_{Path(name).name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@pytest.fixture
def project(kedro_project: Path) -> Path:
    use_tiny_training(kedro_project, epochs=1)
    (kedro_project / "conf/local/parameters_retrain.yml").write_text("retrain: {explain_sample: 2}\n")
    add_photos(kedro_project / "incoming", seed=1, per_class=10)
    return kedro_project


def retrain(project: Path, *params: str):
    """The command cron runs; the click result and the lines the run logged."""
    options = ",".join([f"data.source_dir={project / 'incoming'}", *params])
    with logged_lines() as lines:
        result = kedro(project, "run", "--pipelines=retrain", f"--params={options}")
    return result, lines


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
    first, lines = retrain(project)
    assert first.exit_code == 0, first.output
    assert champion(project) == "1", "the first model becomes the champion"
    (log,) = (project / "logs/retrain").glob("*.log")
    assert "retrain: no champion yet" in log.read_text() and "retrain finished" in log.read_text()
    assert (project / "data/retrain.lock").read_text() == "", "the lock is released"
    explained = versions(project, "data/07_model_output/explanations")[-1]
    assert len(list(explained.rglob("*_panel.png"))) == 2, "retrain.explain_sample test images explained"
    before = latest_split(project)
    assert set(before.root) == {str(project / "incoming")}, "the split records the folder it was made from"

    again, lines = retrain(project)
    assert again.exit_code == 0, again.output
    assert any(line.startswith("retrain: nothing new - the 20 images") for line in lines)
    decisions = versions(project, "data/08_reporting/retrain_decision.json")
    assert len(decisions) == 2, "the decision not to train is saved too"
    decided = json.loads((decisions[-1] / "retrain_decision.json").read_text())
    assert not decided["retrain"] and decided["message"].startswith("retrain: nothing new - the 20 images")
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 1, "nothing trained"
    segmenters = versions(project, "data/06_models/crack_segmenter/segmenter.pt")
    assert len(segmenters) == 1, "the crack segmenter neither trained nor saved again either"
    assert len(list((project / "logs/retrain").glob("*.log"))) == 2, "a log file per run"

    # Pruned to the latest versions after a night that stopped early (all it held let go), the next
    # nights go on from them: the split kept, the lost decision remembered.
    pruned = kedro(project, "prune", "--keep", "1", "--yes")
    assert pruned.exit_code == 0, pruned.output
    assert versions(project, "data/08_reporting/retrain_decision.json") == decisions[-1:]

    add_photos(project / "incoming", seed=2, per_class=5)
    # Ranked by the number of test images, every model ties: the new one does not replace the champion.
    grown, _ = retrain(project, "evaluate.champion_metric=at_threshold.n")
    assert grown.exit_code == 0, grown.output
    assert champion(project) == "1"
    after = latest_split(project).set_index("path")
    assert len(after) == 30
    kept = after.loc[before.path, "split"]
    assert (kept.to_numpy() == before.split.to_numpy()).all(), "every earlier image keeps its split"
    assert set(after.drop(index=before.path).split) <= {"train", "val", "test"}
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 2

    # The next night: the same data were trained on and judged, and lost; not tried again and again.
    unchanged, lines = retrain(project)
    assert unchanged.exit_code == 0, unchanged.output
    assert any(
        line.startswith("retrain: nothing new - the 30 images") and "did not beat the champion" in line
        for line in lines
    ), lines
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 2, "nothing trained"

    # retrain.force, which trains on the same data anyway, is the stopped run of the next test.

    # The user's folder, trained on: `explain` alone now explains its test split, from that folder.
    result = kedro(project, "run", "--pipelines=explain")
    assert result.exit_code == 0, result.output
    newest = versions(project, "data/07_model_output/explain_predictions.csv")[-1]
    explained = pd.read_csv(newest / "explain_predictions.csv")
    assert set(explained.file) == set(latest_split(project).query("split == 'test'").path)


def test_a_failed_or_stopped_retrain_exits_non_zero_and_leaves_champion_and_versions_untouched(
    project, monkeypatch
):
    """Two ways a night's run ends early, after the evaluation promoted the new model: SIGTERM in its last
    node (a scheduler's timeout), and an error there. Either fails as a run does, its hooks run, and the
    champion and every earlier file are as before. (One first retrain for both, and the stopped run is the
    forced one, on the data the champion was trained on: the tests' budget.)"""
    assert retrain(project)[0].exit_code == 0
    logs = project / "logs/retrain"
    # The new model beats the champion whatever the tiny models score: the promotion is what is undone.
    monkeypatch.setattr(champion_decision, "is_better", lambda *args: True)
    handled_before = signal.getsignal(signal.SIGTERM)

    def stopped_by_the_scheduler(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the signal arrives first
        raise AssertionError("SIGTERM did not stop the run")

    with monkeypatch.context() as scheduler:
        scheduler.setattr(retrain_nodes, "explain_split", stopped_by_the_scheduler)
        stopped, lines = retrain(project, "retrain.force=true")
    assert stopped.exit_code == 1
    assert "Error: the run was stopped by SIGTERM" in stopped.output
    assert not any("nothing new" in line for line in lines), "retrain.force trains on the same data"
    assert len(versions(project, "data/06_models/small_cnn/checkpoint.pt")) == 2
    assert champion(project) == "1", "the champion is the one from before the stopped run"
    assert "retrain stopped: the run was stopped by SIGTERM" in sorted(logs.glob("*.log"))[-1].read_text()
    assert (project / "data/retrain.lock").read_text() == ""
    run_logs = "".join(log.read_text() for log in logs.glob("*.log"))
    assert run_logs.count("the champion is again model version 1") == 1, "the stopped run had promoted"
    assert signal.getsignal(signal.SIGTERM) == handled_before, "the handlers are put back after the run"

    # New photos, so that every file the failed run would write anew differs from the one before it.
    add_photos(project / "incoming", seed=2, per_class=5)
    before = snapshot(project)
    # An EfficientNet's layer, which small_cnn lacks: known once explained.
    failed, _ = retrain(project, "explain.cam_layer=bn2")
    assert failed.exit_code != 0
    assert "has no layer 'bn2'" in str(failed.exception) + failed.output
    assert champion(project) == "1", "the champion is the one from before the failed run"
    after = snapshot(project)
    assert {name: after[name] for name in before} == before, "no earlier file changed"
    assert "retrain failed" in sorted(logs.glob("*.log"))[-1].read_text()
    assert (project / "data/retrain.lock").read_text() == ""
    run_logs = "".join(log.read_text() for log in logs.glob("*.log"))
    assert run_logs.count("the champion is again model version 1") == 2, "the failed run had promoted too"


def test_a_second_retrain_stops_at_once_while_one_runs(project):
    lock = RunLock(project / "data/retrain.lock")
    lock.acquire("the scheduled run")
    try:
        refused, _ = retrain(project)
    finally:
        lock.release()
    assert refused.exit_code == 1
    assert "another run holds" in refused.output and "the scheduled run" in refused.output
    assert "Traceback" not in refused.output, "a message, not a trace"
    assert not (project / "data/02_intermediate").exists(), "nothing ingested"
    assert champion(project) is None
