"""`kedro prune`: which versions of which outputs go, and never while a run may use them."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

import mlflow
import pytest
import torch

from crack_pipeline import prune_command
from crack_pipeline.guard_hooks import VersionsInUseHook
from crack_pipeline.pruning import old_versions, versioned_outputs
from crack_pipeline.registry_pruning import artifacts_of
from crack_pipeline.run_guard import VERSIONS_LOCK, RunLock
from crack_pipeline.tracking import REGISTERED_MODEL, log_explanations, set_champion
from tests.conftest import kedro

DAYS = [f"2026-12-0{day}T02.00.00.000Z" for day in range(1, 6)]


def version(output: Path, name: str, complete: bool = True, size: int = 10) -> Path:
    """A version folder of `output`, holding the output (a file named as the output) when complete."""
    folder = output / name
    folder.mkdir(parents=True)
    if complete:
        (folder / output.name).write_bytes(b"x" * size)
    return folder


def test_the_newest_complete_versions_stay_and_every_folder_newer_than_the_oldest_kept(tmp_path):
    output = tmp_path / "checkpoint.pt"
    version(output, DAYS[0], complete=False)  # a save that failed long ago
    for day in DAYS[1:4]:
        version(output, day, size=100)
    version(output, DAYS[4], complete=False)  # a save at work, or one that failed since
    (output / "pinned-by-hand").mkdir()  # not a name Kedro gives a version: not touched

    old = old_versions(output, keep=2)

    assert old.kept == (DAYS[2], DAYS[3])
    assert old.old == (output / DAYS[0], output / DAYS[1])
    assert old.size == 100
    everything = old_versions(output, keep=10)
    assert everything.old == (output / DAYS[0],) and everything.kept == tuple(DAYS[1:4])


def test_an_output_with_no_complete_version_keeps_every_folder(tmp_path):
    output = tmp_path / "metrics.json"
    for day in DAYS[:2]:
        version(output, day, complete=False)
    assert old_versions(output, keep=1).old == ()


def test_keeping_no_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        old_versions(tmp_path, keep=0)


def test_outputs_are_found_at_any_depth_without_looking_inside_versions_or_staging(tmp_path):
    data = tmp_path / "data"
    explanations = data / "07_model_output/explanations"
    inside = version(explanations, DAYS[0], complete=False) / "explanations"
    version(inside / "nested.csv", DAYS[1])  # inside a version: part of the output, not an output
    version(data / "general/06_models/small_cnn/checkpoint.pt", DAYS[0])
    version(data / "06_models/.checkpoint.pt.tmp/staged", DAYS[0])  # hidden: a save's staging
    (data / "01_raw/synthetic/images/Positive").mkdir(parents=True)

    assert sorted(versioned_outputs(data)) == [
        data / "07_model_output/explanations",
        data / "general/06_models/small_cnn/checkpoint.pt",
    ]


@pytest.fixture
def pruned_project(kedro_project: Path) -> Path:
    """The scratch project with three versions of a checkpoint and two of an explanation folder."""
    for day in DAYS[:3]:
        version(kedro_project / "data/06_models/small_cnn/checkpoint.pt", day)
    for day in DAYS[:2]:
        folder = version(kedro_project / "data/07_model_output/explanations", day, complete=False)
        (folder / "explanations/Positive").mkdir(parents=True)
        (folder / "explanations/Positive/a_panel.png").write_bytes(b"png")
    return kedro_project


def folders(project: Path, relative: str) -> list[str]:
    return sorted(path.name for path in (project / relative).iterdir())


def test_prune_lists_then_removes_only_when_told(pruned_project):
    before = {
        relative: folders(pruned_project, relative)
        for relative in ("data/06_models/small_cnn/checkpoint.pt", "data/07_model_output/explanations")
    }

    listed = kedro(pruned_project, "prune", "--keep", "1", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert "data/06_models/small_cnn/checkpoint.pt: removes 2" in listed.output
    assert "data/07_model_output/explanations: removes 1" in listed.output
    assert "2 outputs: 3 old versions" in listed.output and "nothing removed (dry run)" in listed.output
    unasked = kedro(pruned_project, "prune", "--keep", "1")  # no terminal to ask on
    assert unasked.exit_code == 1 and "add --yes" in unasked.output
    assert {relative: folders(pruned_project, relative) for relative in before} == before

    removed = kedro(pruned_project, "prune", "--keep", "1", "--yes")
    assert removed.exit_code == 0, removed.output
    assert folders(pruned_project, "data/06_models/small_cnn/checkpoint.pt") == [DAYS[2]]
    assert folders(pruned_project, "data/07_model_output/explanations") == [DAYS[1]]
    again = kedro(pruned_project, "prune", "--keep", "1", "--yes")
    assert again.exit_code == 0 and "0 old versions" in again.output


def test_prune_removes_nothing_while_a_run_holds_the_versions(pruned_project):
    hook = VersionsInUseHook()
    hook.before_pipeline_run({"project_path": str(pruned_project), "run_id": "test"})
    try:
        refused = kedro(pruned_project, "prune", "--keep", "1", "--yes")
        assert refused.exit_code == 1 and "a kedro run (or another prune) holds" in refused.output
        listed = kedro(pruned_project, "prune", "--keep", "1", "--dry-run")
        assert listed.exit_code == 0 and "removes 2" in listed.output, "listing needs no lock"
        assert len(folders(pruned_project, "data/06_models/small_cnn/checkpoint.pt")) == 3
    finally:
        hook.on_pipeline_error()
    assert kedro(pruned_project, "prune", "--keep", "1", "--yes").exit_code == 0, "let go with the run"


def test_a_lock_left_held_in_a_process_is_let_go_by_its_next_run(tmp_path):
    hook = VersionsInUseHook()
    run = {"project_path": str(tmp_path), "run_id": "test"}
    hook.before_pipeline_run(run)  # a run that ended where no hook heard of it
    hook.before_pipeline_run(run)  # the next run in this process (an Airflow worker's)
    hook.after_pipeline_run()
    exclusive = RunLock(tmp_path / VERSIONS_LOCK)
    exclusive.acquire("kedro prune")  # RunLocked if either start still held it
    exclusive.release()


def register(variants: list[str | None]) -> list[tuple[Path, Path]]:
    """A registered version per variant (None: registered by hand, untagged), each with its run's artefact
    and its exported model, in the working directory's store (the scratch project's); their folders."""
    # Absolute: MLflow keeps one store per URI for the process, so a relative URI would reach the folder of
    # the first test that opened it.
    mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    mlflow.set_experiment("crack_pipeline")
    client, folders = mlflow.MlflowClient(), []
    for variant in variants:
        with mlflow.start_run() as run:
            mlflow.log_text("weights", "checkpoint/checkpoint.pt")
            info = mlflow.pytorch.log_model(
                torch.nn.Linear(2, 1),
                name="model",
                registered_model_name=REGISTERED_MODEL,
                serialization_format="pickle",
                pip_requirements=["torch"],
            )
        if variant is not None:
            client.set_model_version_tag(REGISTERED_MODEL, info.registered_model_version, "variant", variant)
        model = client.get_logged_model(info.model_id)
        folders.append(
            (
                Path(run.info.artifact_uri.removeprefix("file://")),
                Path(model.artifact_location.removeprefix("file://")),
            )
        )
    return folders


def record(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(content))


def test_prune_models_keeps_the_newest_of_each_variant_and_every_version_still_needed_by_number(
    kedro_project, monkeypatch
):
    folders = register(["a", "b", "a", "b", "a", "b", "b", None, None])  # versions 1 … 9
    set_champion("1")
    (kedro_project / "conf/local/parameters_train.yml").write_text(
        "train: {models: {small_cnn: {init_from: '3'}}}\n"
    )
    decisions = kedro_project / "data/08_reporting/champion_decision.json"
    record(decisions / DAYS[0] / "champion_decision.json", {"current_version": "6"})  # pruned: 6 may go
    record(decisions / DAYS[1] / "champion_decision.json", {"set_by_hand": "1", "replaced_version": "2"})
    surveys = kedro_project / "data/07_model_output/surveys"
    record(surveys / "2026/site_a/survey.json", {"model_version": "4"})  # goes on with its model only

    listed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert "registered version 6 (b): removes it with its run and its exported model" in listed.output
    assert ", 1 old registered version, " in listed.output, "said '1 old registered versions'"
    assert all(run.is_dir() and model.is_dir() for run, model in folders), "a dry run removes nothing"

    # A removal cut short (the store locked, say) is finished by the next prune, nothing left behind.
    failing = mlflow.MlflowClient.delete_run
    monkeypatch.setattr(
        mlflow.MlflowClient, "delete_run", lambda *_: (_ for _ in ()).throw(OSError("locked"))
    )
    cut = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert cut.exit_code == 1 and "registered version 6: locked" in cut.output
    monkeypatch.setattr(mlflow.MlflowClient, "delete_run", failing)
    removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "registered version 6 (b): removes it with its run" in removed.output
    client = mlflow.MlflowClient()
    left = sorted(int(found.version) for found in client.search_model_versions(f"name='{REGISTERED_MODEL}'"))
    assert left == [1, 2, 3, 4, 5, 7, 8, 9], (
        "the champion, init_from, a roll-back target, a survey's, untagged"
    )
    (run, model) = folders[5]
    assert not run.exists() and not model.exists(), "its run's artefacts and its exported model are gone"
    assert all(run.is_dir() and model.is_dir() for run, model in folders[:5] + folders[6:])
    kept_run = client.get_model_version(REGISTERED_MODEL, "5").run_id
    assert client.get_run(kept_run).info.lifecycle_stage == "active"


def test_a_run_that_starts_while_prune_removes_waits_and_says_for_what(tmp_path, caplog):
    pruning = RunLock(tmp_path / VERSIONS_LOCK)
    pruning.acquire("kedro prune")
    run = RunLock(tmp_path / VERSIONS_LOCK, shared=True)
    waiting = threading.Thread(target=run.acquire, args=("kedro run",))
    with caplog.at_level(logging.WARNING, logger="crack_pipeline.run_guard"):
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive(), "the run waits while prune removes"
        pruning.release()
        waiting.join(timeout=10)
    assert not waiting.is_alive()
    run.release()
    (said,) = [record.getMessage() for record in caplog.records]
    assert said.startswith("waiting for kedro prune, pid ") and str(VERSIONS_LOCK) in said


def test_only_what_was_listed_is_removed_though_a_run_saved_since(pruned_project, monkeypatch):
    checkpoints = pruned_project / "data/06_models/small_cnn/checkpoint.pt"

    class SavedMeanwhile(RunLock):
        def acquire(self, owner: str) -> None:
            version(checkpoints, DAYS[3])  # a run saved after the listing, before the lock
            super().acquire(owner)

    monkeypatch.setattr(prune_command, "RunLock", SavedMeanwhile)
    removed = kedro(pruned_project, "prune", "--keep", "1", "--yes", "--path", "data/06_models")
    assert removed.exit_code == 0, removed.output
    assert "removes 2" in removed.output
    assert folders(pruned_project, "data/06_models/small_cnn/checkpoint.pt") == DAYS[2:4], "the next prune's"


def test_a_linked_folder_under_data_is_pruned_by_its_place_there(pruned_project, tmp_path):
    elsewhere = tmp_path / "big_disk/explanations"
    for day in DAYS[:2]:
        version(elsewhere, day)
    (pruned_project / "data/09_linked").symlink_to(tmp_path / "big_disk")
    listed = kedro(pruned_project, "prune", "--keep", "1", "--dry-run")
    assert "09_linked" not in listed.output, "links are not followed"
    removed = kedro(pruned_project, "prune", "--keep", "1", "--yes", "--path", "data/09_linked")
    assert removed.exit_code == 0, removed.output
    assert sorted(path.name for path in elsewhere.iterdir()) == [DAYS[1]]
    outside = kedro(pruned_project, "prune", "--keep", "1", "--yes", "--path", str(tmp_path / "big_disk"))
    assert outside.exit_code == 1 and "is not inside" in outside.output


def test_a_run_stopped_while_waiting_for_prune_is_recorded_as_killed_not_finished(kedro_project):
    """SIGTERM (cron's timeout) while a run waits for prune's lock: its MLflow run, already started by
    kedro-mlflow, is closed as killed (a run its user stopped; it was marked failed) and left open nowhere
    (Kedro calls no on_pipeline_error hook for what a before_pipeline_run hook raises, and MLflow's exit
    handler closed it as FINISHED)."""

    class StopWhenWaiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("waiting for kedro prune"):
                threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()

    pruning = RunLock(kedro_project / VERSIONS_LOCK)
    pruning.acquire("kedro prune")
    handler = StopWhenWaiting()
    logging.getLogger("crack_pipeline.run_guard").addHandler(handler)
    try:
        result = kedro(kedro_project, "run", "--pipelines=synth")
    finally:
        logging.getLogger("crack_pipeline.run_guard").removeHandler(handler)
        pruning.release()
    assert result.exit_code == 1 and "the run was stopped by SIGTERM" in result.output, result.output
    assert mlflow.active_run() is None, "no MLflow run left open in the process"
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "KILLED", "stopped, not finished"
    prune = RunLock(kedro_project / VERSIONS_LOCK)
    prune.acquire("the next prune")  # RunLocked if the stopped run still held it
    prune.release()


def test_prune_models_leaves_no_trace_of_what_it_removed_in_the_store_or_on_disk(kedro_project):
    """A removed version's run and exported model are deleted for good (MLflow's delete only marks them:
    their parameters, metrics and tags stayed in mlflow.db night after night), and their folders go too."""
    import sqlite3

    (run, model), _ = register(["a", "a"])  # version 1 goes with --keep 1
    client = mlflow.MlflowClient()
    run_id = client.get_model_version(REGISTERED_MODEL, "1").run_id
    removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "registered version 1 (a): removes it with its run and its exported model" in removed.output
    store = sqlite3.connect(kedro_project / "mlflow.db")
    assert store.execute("select count(*) from runs where run_uuid = ?", (run_id,)).fetchone() == (0,)
    assert store.execute("select count(*) from params where run_uuid = ?", (run_id,)).fetchone() == (0,)
    assert store.execute("select count(*) from logged_models").fetchone() == (1,), "the kept one's only"
    assert not run.parent.exists() and not model.parent.exists(), "no empty folder left per removal"


def test_prune_models_removes_the_explanation_grids_of_all_but_the_newest_runs(kedro_project):
    """The grids a retrain logs every night were most of what still grew (0.7 MB a training night over 28
    nights); the runs keep their parameters and metrics, the record of each night's decision."""
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    mlflow.set_experiment("crack_pipeline")
    runs = []
    for night in range(4):
        with mlflow.start_run(run_name=f"night {night}") as run:
            mlflow.log_metric("candidate_value", night / 10)
            if night != 2:  # a "nothing new" night explains nothing
                log_explanations({"grid_9.png": b"png" * 1000, "index.html": b"<html>"}, {"methods": {}})
        runs.append(run.info.run_id)
    client = mlflow.MlflowClient()

    def grids(run_id: str) -> list[str]:
        return [file.path for file in client.list_artifacts(run_id, "explanations")]

    listed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert "MLflow run night 1 (" in listed.output and "the explanation grids of 2 old runs" in listed.output
    assert "MLflow run night 3" not in listed.output and "MLflow run night 2" not in listed.output
    assert grids(runs[0]) == ["explanations/grid_9.png"], "a dry run removes nothing"
    removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert removed.exit_code == 0, removed.output
    assert [grids(run_id) for run_id in runs] == [[], [], [], ["explanations/grid_9.png"]]
    assert [client.get_run(run_id).data.metrics["candidate_value"] for run_id in runs] == [0, 0.1, 0.2, 0.3]


def test_prune_models_leaves_the_grids_of_other_experiments_in_the_store(kedro_project):
    """Only this project's runs (its kedro-mlflow experiment) count and lose their grids: a notebook's
    experiment, or another project's on a shared store, holding an `explanations/` folder of its own, neither
    loses it nor pushes this project's newest runs out of the newest KEEP."""
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    ours = []
    for night in range(2):
        mlflow.set_experiment("crack_pipeline")
        with mlflow.start_run(run_name=f"night {night}") as run:
            log_explanations({"grid_9.png": b"png" * 1000}, {"methods": {}})
        ours.append(run.info.run_id)
    mlflow.set_experiment("a notebook")
    with mlflow.start_run(run_name="notebook") as run:
        log_explanations({"grid_1.png": b"png" * 1000}, {"methods": {}})
    theirs = run.info.run_id
    client = mlflow.MlflowClient()

    removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert removed.exit_code == 0, removed.output
    assert [file.path for file in client.list_artifacts(ours[1], "explanations")] == [
        "explanations/grid_9.png"
    ]
    assert [file.path for file in client.list_artifacts(ours[0], "explanations")] == []
    assert [file.path for file in client.list_artifacts(theirs, "explanations")] == [
        "explanations/grid_1.png"
    ]


def test_a_tracking_server_s_artefacts_are_reached_through_that_server(tmp_path):
    """`mlflow.yml` naming a tracking server whose artefacts it serves (`mlflow-artifacts:`, `mlflow server`'s
    default): prune's deletions went to the process's tracking URI, which prune never sets."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    try:
        client = mlflow.MlflowClient(tracking_uri="http://tracking.example:5000")
        repository = artifacts_of(client, "mlflow-artifacts:/1/0123abcd/artifacts")
    finally:
        mlflow.set_tracking_uri(previous)
    assert repository.artifact_uri == (
        "http://tracking.example:5000/api/2.0/mlflow-artifacts/artifacts/1/0123abcd/artifacts"
    )


def test_a_version_whose_run_is_gone_for_good_is_removed_without_it(kedro_project):
    """A run deleted in the MLflow UI and then purged (`mlflow gc`, as MLflow advises to free the disk)
    leaves its registered version: every `prune --models` stopped on it ("the MLflow store cannot be
    read"), nothing removed night after night, not even old versions under data/."""
    from mlflow.cli import gc as mlflow_gc

    (_, model), _ = register(["a", "a"])  # version 1 goes with --keep 1
    version(kedro_project / "data/06_models/small_cnn/checkpoint.pt", DAYS[0])
    version(kedro_project / "data/06_models/small_cnn/checkpoint.pt", DAYS[1])
    client = mlflow.MlflowClient()
    client.delete_run(client.get_model_version(REGISTERED_MODEL, "1").run_id)
    uri = mlflow.get_tracking_uri()
    mlflow_gc.main(["--backend-store-uri", uri, "--tracking-uri", uri], standalone_mode=False)

    removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "registered version 1 (a): removes it with its exported model" in removed.output
    left = [str(found.version) for found in client.search_model_versions(f"name='{REGISTERED_MODEL}'")]
    assert left == ["2"]
    assert not model.exists(), "its exported model, which gc left, is gone too"
    assert folders(kedro_project, "data/06_models/small_cnn/checkpoint.pt") == [DAYS[1]]


def test_prune_models_takes_the_experiment_kedro_mlflow_runs_in_where_mlflow_yml_names_none(kedro_project):
    """mlflow.yml without tracking.experiment.name (kedro-mlflow then runs in the package's name): `kedro
    prune --models` stopped on `--env local: its configuration cannot be read ('name')`."""
    settings = kedro_project / "conf/base/mlflow.yml"
    settings.write_text(settings.read_text().replace("    name: crack_pipeline\n", ""))
    register(["a", "a"])
    removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "registered version 1 (a): removes it with its run and its exported model" in removed.output
