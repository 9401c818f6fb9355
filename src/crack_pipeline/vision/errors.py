"""The one base class of every error caused by what the user gave — a path, a setting, a file — rather than
by a bug: its message names the thing and says what to do, and the command line shows just that message;
and how to tell a full disk behind an error."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator
from pathlib import Path


class InputError(ValueError):
    """A problem with the user's input; the message names it and says how to put it right."""


class Interruption(Exception):
    """The run was stopped (a signal: `run_guard.RunInterrupted`) while it read a file: nothing is wrong
    with the file, and code that passes over a damaged one must not pass over this."""


# What the work in progress says it kept, should a signal stop the run now (`said_if_stopped`).
_stop_notes: list[Callable[[], str]] = []


@contextlib.contextmanager
def said_if_stopped(note: Callable[[], str]) -> Iterator[None]:
    """While the block lasts, a run stopped by a signal says `note()` after the signal's name (what was kept,
    how to go on). The block of a generator node lasts while the run saves what it yielded too: a stop there
    reaches the run's save, never the node."""
    _stop_notes.append(note)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # forgotten with its run already
            _stop_notes.remove(note)


def stop_notes() -> list[str]:
    """The notes of the blocks in progress (`said_if_stopped`), oldest first."""
    return [note() for note in _stop_notes]


def forget_stop_notes() -> None:
    """No note said any more: the run is over, though a generator node it stopped in is not closed yet."""
    _stop_notes.clear()


def cause_where(error: BaseException, test: Callable[[BaseException], bool]) -> BaseException | None:
    """The first error in `error`'s chain (itself, then what it was raised from or during) that passes
    `test`, if any."""
    seen: BaseException | None = error
    while seen is not None:
        if test(seen):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def user_error(
    error: BaseException, kinds: tuple[type[BaseException], ...] = (InputError,)
) -> BaseException | None:
    """The error behind `error` (itself, or what it was raised from or during) that a user can act on, if
    any: a full disk or a stop signal first (the file and its errno, or `the run was stopped by SIGTERM`:
    nothing to debug), before the first of `kinds` (a dataset error a library wraps them in)."""
    return (
        disk_full(error)
        or cause_where(error, lambda seen: isinstance(seen, Interruption))
        or cause_where(error, lambda seen: isinstance(seen, kinds))
    )


def disk_full(error: BaseException) -> OSError | None:
    """The "no space left" (or over quota) error behind `error`, if any: torch, SQLite and others wrap it in
    errors of their own."""
    full = cause_where(
        error, lambda seen: isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT)
    )
    return full if isinstance(full, OSError) else None


def on_full_disk(error: BaseException, path: str | Path, doing: str) -> OSError | None:
    """When a full disk is behind `error`, the disk's own error naming `path` and what was being done
    there (`doing`): writers such as torch say only "unexpected pos". None otherwise."""
    full = disk_full(error)
    return None if full is None else OSError(full.errno, f"{full.strerror} ({doing})", str(path))
