"""Safety for unattended runs: an exclusive lock so two runs never overlap, the lock every run holds
shared against `kedro prune`, and a log file per run."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from crack_pipeline.vision.errors import Interruption, forget_stop_notes, stop_notes

logger = logging.getLogger(__name__)


class RunLocked(RuntimeError):
    """Another run holds the lock."""


class RunInterrupted(Interruption):
    """SIGINT (Ctrl-C) or SIGTERM (a scheduler's timeout, a shutdown) during a run."""


_interruption: list[str] = []  # the signal that stopped the run in progress, once one has


@contextlib.contextmanager
def interrupts_as_errors() -> Iterator[None]:
    """While a run lasts, SIGINT and SIGTERM raise `RunInterrupted`, an Exception: Kedro runs its
    `on_pipeline_error` hooks only for those, and they give back a champion the run promoted and close its
    MLflow run as failed (a KeyboardInterrupt, or SIGTERM's default, skipped them). The first signal puts
    the handlers back, so a second stops the process as before; a signal ignored when the run began
    (`cmd &` ignores SIGINT) stays ignored. Signals reach the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {
        caught: handler
        for caught in (signal.SIGINT, signal.SIGTERM)
        if (handler := signal.getsignal(caught)) != signal.SIG_IGN
    }

    def restore() -> None:
        for caught, handler in before.items():
            signal.signal(caught, signal.SIG_DFL if handler is None else handler)

    def interrupted(number: int, _frame) -> None:
        restore()
        stopped = f"the run was stopped by {signal.Signals(number).name}"
        _interruption.append("; ".join([stopped, *stop_notes()]))
        raise RunInterrupted(_interruption[0])

    for caught in before:
        signal.signal(caught, interrupted)
    try:
        yield
    finally:
        restore()
        _interruption.clear()
        forget_stop_notes()


def stop_if_interrupted() -> None:
    """Raise `RunInterrupted` again where the one a signal raised was caught on its way (by an `except
    Exception` that took it for a bad file, say): the run stops at its next node or save all the same."""
    if _interruption:
        raise RunInterrupted(_interruption[0])


class NothingNewToRetrain(SystemExit):
    """The data are those the champion was trained on: the run stops, successfully (exit code 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0)
        self.message = message


_HELD_LOCKS: set[RunLock] = set()  # the locks this process holds (until released)

# Held shared by every run, alone by `kedro prune` while it removes versions (guard_hooks.VersionsInUseHook).
VERSIONS_LOCK = Path("data/versions.lock")


def _drop_locks_in_child() -> None:
    """A forked child (a pool worker) closes its copies of the lock files and holds no lock: an `flock`
    belongs to the open file, which a child shares, so a worker orphaned by a killed run would hold the
    lock for good. Closing a copy leaves the parent's lock as it is."""
    for lock in list(_HELD_LOCKS):
        lock.forget()
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_drop_locks_in_child)


def release_held_locks() -> None:
    """Releases every lock this process holds: for a run that ends where no hook hears of it (a successful
    early stop raises SystemExit, which Kedro passes on without `on_pipeline_error`)."""
    for lock in list(_HELD_LOCKS):
        lock.release()


class RunLock:
    """An exclusive, non-blocking `flock` on a file that records who holds it; or, `shared`, one of many
    holders' (runs that `kedro prune` waits for), which waits for an exclusive holder to finish.

    The kernel drops the lock when the holder's process ends, however it ends (its forked workers do
    not keep it), so a crashed run never leaves a stale lock behind.
    """

    def __init__(self, path: Path, shared: bool = False) -> None:
        self.path = path
        self.shared = shared
        self._fd: int | None = None

    def acquire(self, owner: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if self.shared:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.warning("waiting for %s to let go of %s", _holder(fd, "another process"), self.path)
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH)
                except BaseException:  # stopped while waiting (a signal): the file is not left open
                    os.close(fd)
                    raise
            self._hold(fd)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd, "unknown")
            os.close(fd)
            raise RunLocked(
                f"another run holds {self.path} ({holder}); this one stops without changes"
            ) from None
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner}, pid {os.getpid()}, since {since}\n".encode())
        self._hold(fd)

    def _hold(self, fd: int) -> None:
        self._fd = fd
        _HELD_LOCKS.add(self)

    def release(self) -> None:
        if self._fd is not None:
            if not self.shared:  # the holder's record; a shared lock has none
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            _HELD_LOCKS.discard(self)
            os.close(self._fd)
            self._fd = None

    def forget(self) -> None:
        """Close this process's copy of the lock file without unlocking it (a forked child's copy)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _holder(fd: int, unrecorded: str) -> str:
    """Who holds the lock, as its exclusive holder recorded it in the file (shared holders record none)."""
    return os.read(fd, 1000).decode(errors="replace").strip() or unrecorded


def open_run_log(folder: Path, run_id: str, env: str | None = None) -> logging.Handler:
    """A file `<folder>/<UTC time>_<run id>.log` that receives every log record of the run; of an environment
    other than the default (`env`), `<UTC time>_<env>_<run id>.log`: the environments' retrains share the
    folder, and their logs read alike."""
    folder.mkdir(parents=True, exist_ok=True)
    named = f"{env}_" if env and env != "local" else ""
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{named}{run_id}.log"
    handler = logging.FileHandler(folder / name, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def close_run_log(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
