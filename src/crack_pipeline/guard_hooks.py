"""Hooks that guard runs: a signal stops a run before its next step, one retrain at a time, and no
version removed (`kedro prune`) while a run may use it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import fluent

from crack_pipeline.live_runs import KILLED_NOTE, mark_killed
from crack_pipeline.run_guard import (
    VERSIONS_LOCK,
    NothingNewToRetrain,
    RunLock,
    close_run_log,
    open_run_log,
    release_held_locks,
    stop_if_interrupted,
)
from crack_pipeline.vision.errors import Interruption, cause_where

logger = logging.getLogger(__name__)

# What a retrain stopped by a signal leaves (README, "A failed run changes nothing that was there").
STOPPED_KEEPS = (
    "nothing made after the signal is kept, the outputs saved before it stay (each a version of its own), a "
    "champion the run promoted is given back, and a variant stopped mid-training resumes from its last "
    "finished epoch when the run is started again with the same settings and data (train.resume_dir)"
)


class InterruptHook:
    """A run stopped by a signal stops, even where what the signal raised was caught on its way: before
    its next node and before any output is saved, so nothing it made after the signal is kept."""

    @hook_impl(tryfirst=True)
    def before_node_run(self) -> None:
        stop_if_interrupted()

    @hook_impl(tryfirst=True)
    def before_dataset_saved(self) -> None:
        stop_if_interrupted()


class MlflowRunStackHook:
    """Leaves MLflow's active-run stack as the session found it.

    kedro-mlflow re-enters its run before every node (for thread safety), which pushes the same
    run once per node, and ends it only once. The leftovers would make the next session in the
    same process (a test, a notebook, a scheduled loop) log into a finished run. A run that was active
    before the session (a notebook's `with mlflow.start_run():`, which kedro-mlflow logs into) is the
    caller's: never ended here (`end_runs`).
    """

    def __init__(self) -> None:
        self._outer_run_id: str | None = None
        self._outer_depth = 0  # the stack's depth when the session began

    # Around every other hook: what one raises before the run (a signal while it waits for a lock) is seen.
    @hook_impl(wrapper=True)
    def before_pipeline_run(self):
        outer = mlflow.active_run()
        self._outer_run_id = outer.info.run_id if outer else None
        # MLflow has no public way to take a run off its stack without ending it (end_runs): its own list.
        self._outer_depth = len(fluent._active_run_stack.get())
        try:
            return (yield)
        except BaseException as error:
            self._stopped_before_it_began(error)
            raise

    def _stopped_before_it_began(self, error: BaseException) -> None:
        """Kedro calls no on_pipeline_error hook for what a before_pipeline_run hook raises: the MLflow run
        kedro-mlflow had started stayed RUNNING in a process that goes on (an Airflow worker), was closed as
        FINISHED at its exit, and such a process kept the locks. Ended KILLED where a signal stopped the run
        (MLflow's status for a run a user stopped), else FAILED; the locks let go."""
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id != self._outer_run_id:
            logger.error("the run stopped before it began (%s: %s)", type(error).__name__, error)
        stopped = isinstance(error, KeyboardInterrupt) or cause_where(error, _is_interruption) is not None
        self.end_runs(RunStatus.to_string(RunStatus.KILLED if stopped else RunStatus.FAILED))
        release_held_locks()

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self.end_runs()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self.end_runs()

    def end_runs(self, status: str | None = None) -> None:
        """Ends the MLflow runs this session left active, down to the one active before it, if any: as
        `status` (e.g. FAILED), else each as it stands."""
        stack = fluent._active_run_stack.get()
        while (run := mlflow.active_run()) is not None:
            if run.info.run_id == self._outer_run_id:
                if len(stack) <= self._outer_depth:
                    break
                # kedro-mlflow re-entering the caller's run before each node (tracking.run.nested: true)
                # pushed it again: taken off the stack, not ended (the caller's `with` ends it).
                stack.pop()
                continue
            mlflow.end_run(status=status or mlflow.get_run(run.info.run_id).info.status)


def _is_interruption(seen: BaseException) -> bool:
    return isinstance(seen, Interruption)


class VersionsInUseHook:
    """Every run holds `data/versions.lock` shared while it runs: `kedro prune` removes no version while a
    run may save or read one (it takes the lock alone, and a run that starts meanwhile waits for it). A run
    stopped while it waits: `MlflowRunStackHook` ends its MLflow run and lets go of its locks."""

    def __init__(self) -> None:
        self._lock: RunLock | None = None

    # Taken by the last hook before a run and let go by the first after it, so that no other hook failing
    # there leaves it held; should one still be (a process's earlier run ended where no hook heard of it),
    # the process's next run lets it go first.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._release()
        lock = RunLock(Path(run_params["project_path"]) / VERSIONS_LOCK, shared=True)
        lock.acquire(f"kedro run {run_params['run_id']}")  # waits while a prune removes
        self._lock = lock

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


class RetrainGuardHook:
    """Makes `kedro run --pipelines=retrain` safe to run unattended: an exclusive lock, so two runs
    never overlap (the second stops at once, before touching anything), a log file per run in
    `logs/retrain/`, and the successful early stop when there is nothing new to train on."""

    PIPELINE = "retrain"
    LOCK_FILE = Path("data/retrain.lock")
    LOG_FOLDER = Path("logs/retrain")

    def __init__(self, runs: MlflowRunStackHook | None = None) -> None:
        self._lock: RunLock | None = None
        self._log: logging.Handler | None = None
        # The session's stack (settings.RUN_STACK), which knows a caller's run; without it every run is ended.
        self._runs = runs or MlflowRunStackHook()

    # First of all hooks: a locked-out run must not even start its MLflow run.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # A retrain of this process that ended where no hook heard of it (stopped before it began: Kedro
        # calls no on_pipeline_error then) still has its log file attached: every later record went there.
        self._release()
        if self.PIPELINE not in (run_params.get("pipeline_names") or []):
            return
        project = Path(run_params["project_path"])
        lock = RunLock(project / self.LOCK_FILE)
        lock.acquire(f"kedro run {run_params['run_id']}")
        self._lock = lock
        self._log = open_run_log(project / self.LOG_FOLDER, run_params["run_id"], run_params.get("env"))
        logger.info("retrain %s started; lock %s", run_params["run_id"], lock.path)
        close_abandoned_retrains(project, run_params["run_id"])

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Ends the run, successfully and with everything released, once the decision (`data`) that the
        data hold nothing new is saved, its file saying why: no later node runs, and a process that goes
        on (a test, an Airflow worker) finds no lock held and no MLflow run left open."""
        if self._lock is None or dataset_name != "retrain_decision" or data["retrain"]:
            return
        logger.info(data["message"])
        if mlflow.active_run() is not None:
            mlflow.set_tag("retrain", "nothing new")
        self._runs.end_runs(RunStatus.to_string(RunStatus.FINISHED))
        logger.info("retrain finished: nothing new")
        self._release()
        release_held_locks()  # the versions lock too: no hook hears of this end
        raise NothingNewToRetrain(data["message"])

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        if self._lock is not None:
            logger.info("retrain finished")
            self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception) -> None:
        if self._lock is not None:
            # A signal during an MLflow write reaches here inside MLflow's own error: said as the stop it is.
            if (stopped := cause_where(error, _is_interruption)) is not None:
                logger.error("retrain stopped: %s; %s", stopped, STOPPED_KEEPS)
            else:
                self._said_failed(error)
            self._release()

    def _said_failed(self, error: Exception) -> None:
        """`retrain failed: <kind>: <message>` in the run's log file, and on the terminal too for a bug: a
        user error the run's caller says itself (the command line ends `Error: <message>`), and it was read
        twice."""
        # Not at the top: the command line's modules, else loaded by every worker process the settings are.
        from crack_pipeline.cli import user_error

        failed = f"retrain failed: {type(error).__name__}: {error}"
        if user_error(error) is None:
            logger.error(failed)
        elif self._log is not None:
            self._log.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, failed, (), None))

    def _release(self) -> None:
        if self._log is not None:
            close_run_log(self._log)
            self._log = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def close_abandoned_retrains(project: Path, closer: str) -> list[str]:
    """The retrain runs of this project (and their variants' runs) that MLflow still shows as running while
    this run holds the retrain lock, so that none of them is: their process ended where nothing could close
    them (SIGKILL, the OOM killer, a power cut). Marked KILLED, as MLflow names a run that did not finish,
    with a note naming `closer` (this run); their ids. Finds those begun before runs held a lock of their
    own (`live_runs`, whose lock files move with the project), and those begun in this project moved since,
    where its old folder links to it (as `store_check` advises). A store that cannot be searched is left as it
    is (said in a warning)."""
    client = mlflow.MlflowClient()
    current = mlflow.active_run()  # never this run's (kedro-mlflow starts it after this hook, today)
    try:
        running = client.search_runs(
            [experiment.experiment_id for experiment in client.search_experiments()],
            filter_string="attributes.status = 'RUNNING'",
            max_results=1000,
        )
        ours = {
            found.info.run_id
            for found in running
            if _is_project(found.data.tags.get("project_path"), project)
            and "'retrain'" in found.data.tags.get("pipeline_names", "")
            and (current is None or found.info.run_id != current.info.run_id)
        }
        nested = {found.info.run_id for found in running if found.data.tags.get("mlflow.parentRunId") in ours}
        mark_killed(client, sorted(ours | nested), KILLED_NOTE.format(closer=f"kedro run {closer}"))
    except MlflowException as error:
        logger.warning("retrain: unfinished earlier runs not looked for (%s)", error)
        return []
    if ours:
        logger.warning(
            "retrain: %d earlier retrain run(s) never finished (the process was killed): marked KILLED in "
            "MLflow: %s",
            len(ours),
            ", ".join(sorted(ours)),
        )
    return sorted(ours | nested)


def _is_project(recorded: str | None, project: Path) -> bool:
    """Whether a run's recorded project folder (its `project_path` tag) is `project`: the same folder, or one
    that links to it (the project moved, its old folder linked to it)."""
    return bool(recorded) and (recorded == str(project) or Path(recorded).resolve() == project.resolve())
