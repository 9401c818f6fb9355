"""A `kedro run` killed where nothing could close its MLflow run (SIGKILL, the OOM killer) is closed by a
later run, with its variants' runs; a run a live process holds, or one without a lock file, is left."""

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from crack_pipeline import settings
from crack_pipeline.live_runs import RUNS_FOLDER, LiveRunHook
from crack_pipeline.run_guard import release_held_locks
from tests.conftest import new_store

# Another process's run: it holds its run's lock file as a run does (an flock), until it is killed.
HOLDER = (
    "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
    "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'a run, pid 1\\n'); print('held', flush=True); "
    "time.sleep(60)"
)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(new_store(tmp_path / "mlflow.db"))
    mlflow.set_experiment("live")
    yield mlflow.MlflowClient()
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def project_run(client: mlflow.MlflowClient, project: Path, parent: str | None = None) -> str:
    """A run as kedro-mlflow starts one (tagged with the project), or one nested in `parent` (a variant's)."""
    tags = {"mlflow.parentRunId": parent} if parent else {"project_path": str(project)}
    return client.create_run(mlflow.get_experiment_by_name("live").experiment_id, tags=tags).info.run_id


def held_by_another_process(project: Path, run_id: str) -> subprocess.Popen:
    path = project / RUNS_FOLDER / f"{run_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def status(client: mlflow.MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.status


def test_a_killed_run_is_closed_by_the_next_run_and_a_live_one_is_left(store, tmp_path):
    killed = project_run(store, tmp_path)
    variant = project_run(store, tmp_path, parent=killed)
    live = project_run(store, tmp_path)
    unlocked = project_run(store, tmp_path)  # began before runs held a lock, or a caller's run let go
    other_project = project_run(store, tmp_path / "elsewhere")
    holders = [held_by_another_process(tmp_path, run_id) for run_id in (killed, live)]
    try:
        holders[0].kill()  # SIGKILL: no hook of its own runs
        holders[0].wait()
        assert status(store, killed) == "RUNNING", "nothing closed it"
        hook = LiveRunHook()
        with mlflow.start_run(tags={"project_path": str(tmp_path)}) as own:  # kedro-mlflow's, for this run
            hook.before_pipeline_run({"project_path": str(tmp_path), "run_id": "2026-12-05T02.00.00.000Z"})
            assert [status(store, run_id) for run_id in (killed, variant)] == ["KILLED", "KILLED"]
            note = store.get_run(killed).data.tags["mlflow.note.content"]
            assert note.startswith("Closed by kedro run 2026-12-05T02.00.00.000Z: the process that ran it")
            for run_id in (live, unlocked, other_project, own.info.run_id):
                assert status(store, run_id) == "RUNNING"
            assert not (tmp_path / RUNS_FOLDER / f"{killed}.lock").exists()
            assert (tmp_path / RUNS_FOLDER / f"{own.info.run_id}.lock").exists(), "this run is marked live"
            LiveRunHook().before_pipeline_run({"project_path": str(tmp_path), "run_id": "another session"})
            assert status(store, own.info.run_id) == "RUNNING", "held by this process: live"
        hook.after_pipeline_run()
        assert not (tmp_path / RUNS_FOLDER / f"{own.info.run_id}.lock").exists(), "let go with the run"
        holders[1].kill()
        holders[1].wait()
        with mlflow.start_run(tags={"project_path": str(tmp_path)}):
            LiveRunHook().before_pipeline_run({"project_path": str(tmp_path), "run_id": "night 3"})
            release_held_locks()  # as a retrain with nothing new ends, where no hook hears of it
        assert status(store, live) == "KILLED" and status(store, unlocked) == "RUNNING"
        assert list((tmp_path / RUNS_FOLDER).iterdir()) == [], "no lock file left behind"
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    assert any(isinstance(hook, LiveRunHook) for hook in settings.HOOKS), "every kedro run holds one"


def test_a_run_s_lock_file_appears_locked_with_its_owner(store, tmp_path, monkeypatch):
    """RunLock makes a file, then locks it, then writes its owner: a closer that took the lock in between
    closed a live run as killed. A run's lock file is made aside and linked into place, already held."""
    import os

    from crack_pipeline import live_runs
    from crack_pipeline.live_runs import RunHold, close_abandoned_runs

    starting = project_run(store, tmp_path)
    lock = tmp_path / RUNS_FOLDER / f"{starting}.lock"
    seen = []

    def link_and_look(source, target):
        os_link(source, target)
        seen.append((close_abandoned_runs(tmp_path, "kedro prune"), Path(target).read_text()))

    os_link = os.link
    monkeypatch.setattr(live_runs.os, "link", link_and_look)
    hold = RunHold(lock)
    hold.acquire("kedro run at work")
    ((closed, written),) = seen
    assert closed == [] and written.startswith(f"kedro run at work, pid {os.getpid()}, since "), "held, named"
    assert status(store, starting) == "RUNNING"
    assert [path.name for path in lock.parent.iterdir()] == [lock.name], "the file made aside is gone"
    hold.release()
    assert not lock.exists()
