"""RunLock: a run killed while its pool workers run leaves neither the lock nor the workers behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crack_pipeline.run_guard import (
    RunInterrupted,
    RunLock,
    RunLocked,
    interrupts_as_errors,
    stop_if_interrupted,
)
from tests.conftest import new_store

# A run that holds the lock while ingest-like pool workers (forked, as ingest starts them) work for long.
RUN = """
import sys, time
from pathlib import Path
from crack_pipeline.run_guard import RunLock
from crack_pipeline.vision.data.parallel import parallel_map
RunLock(Path(sys.argv[1])).acquire("a run killed mid-ingest")
print("locked", flush=True)
for _ in parallel_map(time.sleep, [60] * 4, workers=2, chunksize=1, start_method="fork"):
    pass
"""


def children_of(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (a forked worker before its fork hook has run does)."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return False


def eventually(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_a_killed_run_s_lock_is_free_at_once_and_its_workers_end(tmp_path):
    lock_file = tmp_path / "retrain.lock"
    run = subprocess.Popen([sys.executable, "-c", RUN, str(lock_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline().strip() == "locked"
        assert eventually(lambda: len(children_of(run.pid)) >= 2), "its pool workers started"
        workers = children_of(run.pid)
        # Forked, a worker holds the lock until it has run its fork hook: on a busy machine, some time after.
        assert eventually(lambda: not any(holds_open(pid, lock_file) for pid in workers))
        with pytest.raises(RunLocked, match="a run killed mid-ingest"):
            RunLock(lock_file).acquire("the next run")
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    try:
        following = RunLock(lock_file)
        following.acquire("the next run")  # at once: no worker kept the lock
        following.release()
        assert eventually(lambda: not any(alive(pid) for pid in workers)), "orphaned workers ended"
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_signal_during_a_run_stops_it_even_where_what_it_raised_was_caught():
    handled_before = signal.getsignal(signal.SIGTERM)
    with interrupts_as_errors():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Exception as caught:  # as a decoder's `except Exception` takes it for a bad file
            assert str(caught) == "the run was stopped by SIGTERM"
        with pytest.raises(RunInterrupted, match="stopped by SIGTERM"):
            stop_if_interrupted()  # at the run's next node or save
    stop_if_interrupted()  # the next run starts afresh
    assert signal.getsignal(signal.SIGTERM) == handled_before


def test_a_signal_ignored_when_the_run_began_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `cmd &` starts a process
    try:
        with interrupts_as_errors():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            stop_if_interrupted()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_retrain_marks_the_runs_of_a_killed_retrain_killed_and_no_other(tmp_path, monkeypatch):
    """SIGKILL (the OOM killer) leaves a retrain's MLflow run RUNNING for good: the next retrain, holding
    the lock no other retrain of the project can hold, marks it and its variants' runs KILLED; a retrain of
    another project and a run of another pipeline stay as they are."""
    import mlflow

    from crack_pipeline.guard_hooks import RetrainGuardHook

    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(new_store(tmp_path / "mlflow.db"))
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("crack_pipeline")

    def running(project: Path, pipelines: str, parent: str | None = None) -> str:
        tags = {"project_path": str(project), "pipeline_names": pipelines}
        if parent:
            tags = {"mlflow.parentRunId": parent}
        return client.create_run(experiment, tags=tags).info.run_id

    killed = running(tmp_path, "['retrain']")
    variant = running(tmp_path, "", parent=killed)
    # Killed before the project moved here, its old folder linked to it (as the store check advises): never
    # closed, its project_path not this folder's.
    (tmp_path / "was").symlink_to(tmp_path)
    killed_before_the_move = running(tmp_path / "was", "['retrain']")
    other_project = running(tmp_path / "elsewhere", "['retrain']")
    other_pipeline = running(tmp_path, "['train']")

    hook = RetrainGuardHook()
    with mlflow.start_run(experiment_id=experiment, tags={"project_path": str(tmp_path)}) as this_run:
        mlflow.set_tag("pipeline_names", "['retrain']")  # as kedro-mlflow tags the run it starts
        hook.before_pipeline_run(
            {"pipeline_names": ["retrain"], "project_path": str(tmp_path), "run_id": "next"}
        )
        hook.after_pipeline_run()
        assert client.get_run(this_run.info.run_id).info.status == "RUNNING", "this run is not killed"
    status = {
        run_id: client.get_run(run_id).info.status for run_id in (killed, variant, killed_before_the_move)
    }
    assert status == {killed: "KILLED", variant: "KILLED", killed_before_the_move: "KILLED"}
    assert client.get_run(other_project).info.status == "RUNNING"
    assert client.get_run(other_pipeline).info.status == "RUNNING"


def test_a_signal_while_a_dataset_loads_is_said_as_a_stop_not_as_the_dataset_failing():
    """Kedro wraps what a load raised in `Failed while loading data from dataset ...`, itself a user error
    the command line showed first: a run stopped by SIGTERM read as a damaged file."""
    from kedro.io.core import DatasetError

    from crack_pipeline import cli

    try:
        try:
            raise RunInterrupted("the run was stopped by SIGTERM")
        except RunInterrupted as stopped:
            raise DatasetError("Failed while loading data from dataset split_tensors") from stopped
    except DatasetError as wrapped:
        assert str(cli.user_error(wrapped)) == "the run was stopped by SIGTERM"
    assert isinstance(cli.user_error(DatasetError("a damaged file")), DatasetError)
