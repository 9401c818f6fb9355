"""The one base class of every error caused by what the user gave — a path, a setting, a file — rather than
by a bug: its message names the thing and says what to do, and the command line shows just that message;
and how to tell a full disk behind an error."""

from __future__ import annotations

import errno


class InputError(ValueError):
    """A problem with the user's input; the message names it and says how to put it right."""


def disk_full(error: BaseException) -> OSError | None:
    """The "no space left" (or over quota) error behind `error` (itself, or what it was raised from), if
    any: torch, SQLite and others wrap it in errors of their own."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
