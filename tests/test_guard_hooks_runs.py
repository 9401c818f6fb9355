"""The guard hooks end only the MLflow runs of the session they guard: a run the caller had open before it (a
notebook's `with mlflow.start_run():`, which kedro-mlflow logs into) stays the caller's, and a retrain that
ended where no hook heard of it leaves nothing attached to the next run of the process."""

import logging
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from crack_pipeline import guard_hooks
from crack_pipeline.guard_hooks import MlflowRunStackHook, RetrainGuardHook, VersionsInUseHook
from crack_pipeline.run_guard import NothingNewToRetrain, RunInterrupted
from tests.conftest import new_store


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(new_store(tmp_path / "mlflow.db"))
    mlflow.set_experiment("guarded")  # not an experiment id an earlier test of the process left active
    yield mlflow.MlflowClient()
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def retrain_params(project: Path) -> dict:
    return {"pipeline_names": ["retrain"], "project_path": str(project), "run_id": "night"}


def test_a_run_stopped_before_it_began_leaves_the_callers_run_open(store, tmp_path, monkeypatch):
    def stopped(self, holder):
        raise KeyboardInterrupt("stopped while waiting for kedro prune")

    monkeypatch.setattr(guard_hooks.RunLock, "acquire", stopped)
    runs = MlflowRunStackHook()
    with mlflow.start_run() as notebook:
        around = runs.before_pipeline_run()  # the session starts inside the caller's run
        next(around)  # the other hooks run inside it
        variant = mlflow.start_run(nested=True)  # one the session opened
        with pytest.raises(KeyboardInterrupt) as raised:
            VersionsInUseHook().before_pipeline_run({"project_path": str(tmp_path), "run_id": "r"})
        with pytest.raises(KeyboardInterrupt):
            around.throw(raised.value)
        assert mlflow.active_run().info.run_id == notebook.info.run_id, "the caller's run still open"
        assert store.get_run(variant.info.run_id).info.status == "KILLED", "stopped by its user"
    assert store.get_run(notebook.info.run_id).info.status == "FINISHED", "ended by its owner"


def test_a_night_with_nothing_new_ends_its_own_runs_and_leaves_the_callers_open(store, tmp_path):
    runs = MlflowRunStackHook()
    hook = RetrainGuardHook(runs)
    with mlflow.start_run() as notebook:  # kedro-mlflow logs the session into it
        next(runs.before_pipeline_run())  # the session begins (its other hooks would run inside)
        hook.before_pipeline_run(retrain_params(tmp_path))
        with pytest.raises(NothingNewToRetrain):
            hook.after_dataset_saved("retrain_decision", {"retrain": False, "message": "nothing new"})
        assert mlflow.active_run().info.run_id == notebook.info.run_id, "the caller's run still open"
    assert store.get_run(notebook.info.run_id).data.tags["retrain"] == "nothing new"
    # Without a caller's run, the session's own run is ended, as before.
    next(runs.before_pipeline_run())  # the session begins (its other hooks would run inside)
    hook.before_pipeline_run(retrain_params(tmp_path))
    alone = mlflow.start_run()
    with pytest.raises(NothingNewToRetrain):
        hook.after_dataset_saved("retrain_decision", {"retrain": False, "message": "nothing new"})
    assert mlflow.active_run() is None and store.get_run(alone.info.run_id).info.status == "FINISHED"


def test_an_environment_s_retrain_log_is_named_with_it(tmp_path):
    """Every environment's retrain logs to logs/retrain/: `KEDRO_ENV=general` and the default environment's
    nightly runs left files named alike, `<time>_<run id>.log`."""
    for env in ("general", "local", None):
        hook = RetrainGuardHook()
        hook.before_pipeline_run({**retrain_params(tmp_path), "run_id": f"night{env}", "env": env})
        hook.after_pipeline_run()
    names = sorted(path.name.split("_", 1)[1] for path in (tmp_path / "logs/retrain").glob("*.log"))
    assert names == ["general_nightgeneral.log", "nightNone.log", "nightlocal.log"]


def test_a_retrain_log_left_attached_is_closed_by_the_process_s_next_run(store, tmp_path):
    hook = RetrainGuardHook()
    hook.before_pipeline_run(retrain_params(tmp_path))  # then stopped where no hook heard of it
    (first,) = (tmp_path / "logs/retrain").glob("*.log")
    hook.before_pipeline_run({"pipeline_names": ["train"], "project_path": str(tmp_path), "run_id": "t"})
    logging.getLogger("crack_pipeline").warning("a later run's record")
    assert "a later run's record" not in first.read_text(), "the stopped night's log no longer grows"
    assert not any(
        isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == first
        for handler in logging.getLogger().handlers
    )


def test_a_session_inside_the_callers_run_leaves_it_as_it_found_it(store, tmp_path):
    """kedro-mlflow logs into the caller's run and re-enters it before every node (nested: true, its
    default), pushing it once per node: the session's end takes those off, so the caller's `with` ends its
    run and the next `mlflow.start_run()` of the notebook starts one."""
    runs = MlflowRunStackHook()
    hook = RetrainGuardHook(runs)
    with mlflow.start_run() as notebook:
        next(runs.before_pipeline_run())  # the session begins (its other hooks would run inside)
        hook.before_pipeline_run(retrain_params(tmp_path))
        for _ in range(3):  # kedro-mlflow's before_node_run
            mlflow.start_run(run_id=notebook.info.run_id, nested=True)
        with pytest.raises(NothingNewToRetrain):
            hook.after_dataset_saved("retrain_decision", {"retrain": False, "message": "nothing new"})
        runs.on_pipeline_error()
        assert mlflow.active_run().info.run_id == notebook.info.run_id
        assert store.get_run(notebook.info.run_id).info.status == "RUNNING", "not the session's to end"
    assert mlflow.active_run() is None, "the caller's run ended with its with-block"
    with mlflow.start_run() as later:  # the notebook's next run
        assert later.info.run_id != notebook.info.run_id
    # A session of its own (no caller's run) still ends every run it pushed.
    next(runs.before_pipeline_run())  # the session begins (its other hooks would run inside)
    own = mlflow.start_run()
    for _ in range(3):
        mlflow.start_run(run_id=own.info.run_id, nested=True)
    runs.end_runs("FAILED")
    assert mlflow.active_run() is None and store.get_run(own.info.run_id).info.status == "FAILED"


def test_a_retrain_stopped_by_a_signal_inside_an_mlflow_write_is_said_stopped_not_an_mlflow_error(
    store, tmp_path
):
    """SIGTERM during a write to the tracking store reached the hook inside MLflow's own error: the log said
    `retrain failed: MlflowException: the run was stopped by SIGTERM`."""
    hook = RetrainGuardHook()
    hook.before_pipeline_run(retrain_params(tmp_path))
    try:
        try:
            raise RunInterrupted("the run was stopped by SIGTERM")
        except RunInterrupted as stop:
            raise MlflowException(message=stop) from stop
    except MlflowException as error:
        hook.on_pipeline_error(error)
    (log,) = (tmp_path / "logs/retrain").glob("*.log")
    said = log.read_text()
    assert "retrain stopped: the run was stopped by SIGTERM; nothing made after the signal is kept" in said
    assert "MlflowException" not in said and "failed" not in said


def test_a_retrain_refused_for_bad_input_says_so_once_on_the_terminal_and_in_its_log_file(
    store, tmp_path, caplog
):
    """A one-class folder: the terminal read `[ERROR] retrain failed: InputError: every image in ... is
    'crack' ...`, then the command line's `Error: every image in ... is 'crack' ...`. The log file keeps it
    (a night's log says why it failed); a bug is still said on the terminal, before its traceback."""
    from crack_pipeline.vision.errors import InputError

    refused = InputError("every image in /photos is 'crack': a crack classifier needs both classes")
    for error in (refused, ValueError("a bug")):
        hook = RetrainGuardHook()
        hook.before_pipeline_run({**retrain_params(tmp_path), "run_id": type(error).__name__})
        with caplog.at_level(logging.INFO, logger="crack_pipeline"):
            hook.on_pipeline_error(error)
    on_terminal = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert on_terminal == ["retrain failed: ValueError: a bug"]
    (log,) = (tmp_path / "logs/retrain").glob("*_InputError.log")
    assert f"ERROR crack_pipeline.guard_hooks: retrain failed: InputError: {refused}" in log.read_text()


def test_a_retrain_stopped_before_its_first_node_ends_its_mlflow_run_as_killed(kedro_project, monkeypatch):
    """Stopped (Ctrl-C, SIGTERM) once kedro-mlflow had started its run but before the run's first node, where
    Kedro calls no on_pipeline_error hook: the run was left RUNNING in a process that goes on (an Airflow
    worker) and closed as FINISHED at exit; stopped while waiting for `kedro prune`'s lock, FAILED."""
    import functools

    from crack_pipeline import hooks
    from crack_pipeline.run_guard import RunLock
    from tests.conftest import kedro

    original = hooks.ChampionRollbackHook.before_pipeline_run  # called after kedro-mlflow starts its run

    @functools.wraps(original)
    def stopped(self, *args, **kwargs):
        raise RunInterrupted("the run was stopped by SIGTERM")

    monkeypatch.setattr(hooks.ChampionRollbackHook, "before_pipeline_run", stopped)
    result = kedro(kedro_project, "run", "--pipelines=retrain")
    assert "Error: the run was stopped by SIGTERM" in result.output
    client = mlflow.MlflowClient(f"sqlite:///{kedro_project / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "KILLED"
    assert mlflow.active_run() is None
    lock = RunLock(kedro_project / "data/retrain.lock")
    lock.acquire("the next night")  # let go: not held by this process until its next run
    lock.release()
