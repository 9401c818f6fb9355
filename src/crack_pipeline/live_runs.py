"""MLflow runs no process holds any more. A `kedro run` whose process ended where nothing could close its
MLflow run (SIGKILL, the OOM killer, a power cut) left it, and its variants' runs, shown as running for good.
Every run holds a lock named after its MLflow run while it lasts (`data/runs/<MLflow run id>.lock`, removed
as it is let go); a later run closes as KILLED, with a note, each run of the project still shown as running
whose lock file is there but held by no process, with its nested runs (and so do `kedro prune --models` and
`make mlflow-ui`, before they prune or show the store)."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from mlflow.entities import Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from crack_pipeline.run_guard import RunLock, RunLocked

logger = logging.getLogger(__name__)

RUNS_FOLDER = Path("data/runs")
NOTE = "mlflow.note.content"  # the run's description in the MLflow UI
KILLED_NOTE = (
    "Closed by {closer}: the process that ran it ended without closing it (SIGKILL, the OOM "
    "killer, a power cut), so MLflow showed it running for good. Its outputs may be cut short."
)


class RunHold(RunLock):
    """The lock of one MLflow run. Its file appears already locked, its owner written: made aside and linked
    into place (RunLock makes a file, then locks it: a closer taking it in between closed a live run as
    killed). Removed as it is let go (before it is unlocked: a run that looks for abandoned runs meanwhile
    finds no file, or not this one, and leaves the run alone)."""

    def acquire(self, owner: str) -> None:
        final, self.path = self.path, self.path.with_name(f"{self.path.name}.{os.getpid()}")  # not *.lock
        try:
            super().acquire(owner)
            try:
                os.link(self.path, final)
            except OSError:  # there already (this run's, held or not), or no links on this file system
                self.release()
            finally:
                self.path.unlink(missing_ok=True)
        finally:
            self.path = final
        if self._fd is None:
            super().acquire(owner)

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
        super().release()


class LiveRunHook:
    """Holds the lock of the session's MLflow run while it runs, then closes the runs of the project that
    no live process holds. The last hook before a run (kedro-mlflow has started its MLflow run) and after it
    (kedro-mlflow has ended it): a run shown running has its lock file but for a moment at its start."""

    def __init__(self) -> None:
        self._hold: RunHold | None = None

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._release()  # a run of this process that ended where no hook heard of it
        if (active := mlflow.active_run()) is None:
            return  # MLflow off for this pipeline
        project = Path(run_params["project_path"])
        hold = RunHold(project / RUNS_FOLDER / f"{active.info.run_id}.lock")
        try:
            hold.acquire(f"kedro run {run_params['run_id']}")
        except (RunLocked, OSError) as error:  # a caller's run another session of it holds; data/ read-only
            logger.warning("MLflow run %s is not marked as live (%s)", active.info.run_id, error)
        else:
            self._hold = hold
        close_abandoned_runs(project, f"kedro run {run_params['run_id']}")

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None


def close_abandoned_runs(project: Path, closer: str, client: mlflow.MlflowClient | None = None) -> list[str]:
    """Marks KILLED, with a note naming `closer` (`kedro run <id>`, `kedro prune`), each run of the store
    (`client`'s; else the tracking URI's) whose lock file in `project` no process holds that MLflow still
    shows as running, and the runs nested in it still shown running (whether or not it is); their ids.
    The lock file goes once its run is closed (or found ended). One whose run this store does not hold (an
    environment's own store) stays for a run of that environment; a run without a lock file (begun before
    runs held one, or a caller's run its session has let go) is left as it is, and so is everything when
    the store cannot be read (said in a warning)."""
    client = client or mlflow.MlflowClient()
    closed = []
    try:
        for path in sorted((project / RUNS_FOLDER).glob("*.lock")):
            if (fd := _abandoned(path)) is None:
                continue
            try:
                if (run := _run(client, path.stem)) is None:
                    continue
                running = run.info.status == RunStatus.to_string(RunStatus.RUNNING)
                # With its variants' runs shown running, even where kedro-mlflow had ended the run itself.
                killed = ([run.info.run_id] if running else []) + _nested(client, run)
                mark_killed(client, killed, KILLED_NOTE.format(closer=closer))
                closed.extend(killed)
                path.unlink()  # once its runs are closed: a close cut short is finished by the next run
            finally:
                os.close(fd)
    except MlflowException as error:
        logger.warning("unfinished earlier runs not looked for (%s)", error)
    if closed:
        logger.warning(
            "%d earlier MLflow run(s) never finished (their process was killed): marked KILLED: %s",
            len(closed),
            ", ".join(closed),
        )
    return closed


def held_by_none(project: Path, run_id: str) -> bool:
    """Whether the run's lock file in `project` is there and no process holds it: the run is shown running
    only because its process was killed (a run without one may be at work: it is never counted)."""
    if (fd := _abandoned(project / RUNS_FOLDER / f"{run_id}.lock")) is None:
        return False
    os.close(fd)
    return True


def _abandoned(path: Path) -> int | None:
    """The lock file at `path`, open and locked here, when it is there and no process held it; else None."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:  # let go and removed since it was listed
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.path.samestat(os.fstat(fd), os.stat(path)):  # not let go and removed while this one waited
            return fd
    except OSError:  # held (BlockingIOError), or removed meanwhile
        pass
    os.close(fd)
    return None


def _run(client: mlflow.MlflowClient, run_id: str) -> Run | None:
    """The run, or None where the store does not hold it (another environment's store)."""
    try:
        return client.get_run(run_id)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise


def _nested(client: mlflow.MlflowClient, run: Run) -> list[str]:
    """The runs nested in `run`, at any depth (a variant's runs), that MLflow shows as running."""
    nested, parents = [], [run.info.run_id]
    while parents:
        found = client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parents.pop()}' and attributes.status = 'RUNNING'",
            max_results=1000,
        )
        nested.extend(child.info.run_id for child in found)
        parents.extend(child.info.run_id for child in found)
    return nested


def mark_killed(client: mlflow.MlflowClient, run_ids: list[str], note: str) -> None:
    """Closes `run_ids` as KILLED, as MLflow names a run that did not finish, each with `note` added to its
    description; one that has ended meanwhile (its process was still closing it) is left as it ended."""
    for run_id in run_ids:
        run = client.get_run(run_id)
        if run.info.status != RunStatus.to_string(RunStatus.RUNNING):
            continue
        described = run.data.tags.get(NOTE)
        client.set_tag(run_id, NOTE, f"{described}\n\n{note}" if described else note)
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
