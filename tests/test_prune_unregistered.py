"""`kedro prune --models` removes the files of a variant's run whose model was never registered: killed
inside MLflow's log_model, before the registration, it left its checkpoint, plots and exported model
(about 40 MB) that nothing pruned."""

from __future__ import annotations

from pathlib import Path

import mlflow

from crack_pipeline.live_runs import RUNS_FOLDER, RunHold
from crack_pipeline.run_guard import release_held_locks
from crack_pipeline.tracking import REGISTERED_MODEL
from crack_pipeline.unregistered_pruning import unregistered_runs
from tests.conftest import kedro


def variant_run(project: Path, status: str, registered: bool = False, parent_held: bool = False) -> str:
    """A variant's run nested in a kedro run's, with its checkpoint and exported model (registered or not),
    left `status`; a RUNNING one's kedro run held by a live process (`parent_held`: this one), or killed
    (its lock file left, held by none)."""
    tags = {"variant": "small_cnn", "checkpoint_id": status}
    with (
        mlflow.start_run(tags={"project_path": str(project)}) as parent,
        mlflow.start_run(run_name=f"small_cnn {status}", nested=True, tags=tags) as run,
    ):
        mlflow.log_param("lr", 0.01)
        mlflow.log_text("weights" * 1000, "checkpoint/checkpoint.pt")
        # What MLflow's log_model makes before it registers: the exported model, its files written.
        client = mlflow.MlflowClient()
        model = client.create_logged_model(run.info.experiment_id, "model", source_run_id=run.info.run_id)
        exported = project / "exported" / run.info.run_id
        exported.mkdir(parents=True)
        (exported / "data.pt").write_bytes(b"network" * 1000)
        client.log_model_artifacts(model.model_id, str(exported))
        if registered:
            client.create_registered_model(REGISTERED_MODEL)
            client.create_model_version(REGISTERED_MODEL, f"models:/{model.model_id}", run.info.run_id)
    client.update_run(run.info.run_id, status=status)
    lock = project / RUNS_FOLDER / f"{parent.info.run_id}.lock"
    if parent_held:
        RunHold(lock).acquire("kedro run at work")
    else:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(
            "kedro run, pid 1, since 2026-12-01 00:00:00 UTC\n"
        )  # a killed run's, its owner named
    return run.info.run_id


def files(run_id: str) -> list[str]:
    return [found.path for found in mlflow.MlflowClient().list_artifacts(run_id)]


def exported(run_id: str) -> list[str]:
    experiment = mlflow.get_experiment_by_name("crack_pipeline").experiment_id
    found = mlflow.MlflowClient().search_logged_models([experiment], f"source_run_id = '{run_id}'")
    return [model.model_id for model in found]


def test_prune_models_removes_the_files_of_runs_whose_model_was_never_registered(kedro_project):
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    mlflow.set_experiment("crack_pipeline")
    killed = variant_run(kedro_project, "KILLED")  # closed by a later run (live_runs)
    failed = variant_run(kedro_project, "FAILED")  # log_model raised (a full disk)
    still_shown_running = variant_run(kedro_project, "RUNNING")  # no run has closed it yet
    at_work = variant_run(kedro_project, "RUNNING", parent_held=True)  # its registration still to come
    registered = variant_run(kedro_project, "FINISHED", registered=True)
    try:
        listed = unregistered_runs(mlflow.MlflowClient(), "crack_pipeline", kedro_project)
        assert [old.run_id for old in listed] == [killed, failed, still_shown_running]
        assert [len(old.models) for old in listed] == [1, 1, 1] and listed[0].size == 14_000

        listed_only = kedro(kedro_project, "prune", "--keep", "1", "--models", "--dry-run")
        assert listed_only.exit_code == 0 and mlflow.get_run(still_shown_running).info.status == "RUNNING"
        removed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
        assert removed.exit_code == 0, removed.output
        # Shown running though its kedro run was killed: closed first, as the next kedro run would close it.
        closed = mlflow.get_run(still_shown_running)
        assert closed.info.status == "KILLED"
        assert closed.data.tags["mlflow.note.content"].startswith(
            "Closed by kedro prune: the process that ran"
        )
        assert mlflow.get_run(at_work).info.status == "RUNNING", "its kedro run is alive"
        assert (
            "MLflow run small_cnn KILLED (" in removed.output
            and "KILLED), its model never registered: removes its files and its exported model (14.0 kB), "
            "keeps its parameters and metrics"
            in removed.output
        )
        for run_id in (killed, failed, still_shown_running):
            assert files(run_id) == [] and exported(run_id) == []
            assert mlflow.get_run(run_id).data.params == {"lr": "0.01"}, "its record stays"
        for run_id in (at_work, registered):
            assert files(run_id) == ["checkpoint"] and len(exported(run_id)) == 1
        assert unregistered_runs(mlflow.MlflowClient(), "crack_pipeline", kedro_project) == []
    finally:
        release_held_locks()
