"""The folder through which a run hands its replicas their inputs (every image of both splits, the model)
and where torch's launcher keeps its logs: in the temporary folder (TMPDIR, /tmp by default), removed as
the training ends. A run killed meanwhile (SIGKILL, the OOM killer) could not remove it: it stayed, as
large as the training images, for good. Each run holds an `flock` on its folder while it uses it (the
kernel lets go of it however the run ends); the next run that trains on several processes removes every
folder of the kind that no process holds."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "crack-pipeline-replicas-"
# A folder younger than this may be one just made whose run has not locked it yet: left alone.
SETTLED_SECONDS = 60


@contextlib.contextmanager
def replica_folder() -> Iterator[Path]:
    """A new folder in the temporary folder, held while the block runs and removed after it; the folders
    killed runs left there are removed first."""
    remove_stale_folders(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=PREFIX) as folder:
        held = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(held, fcntl.LOCK_EX)
            yield Path(folder)
        finally:
            os.close(held)


def remove_stale_folders(within: Path) -> list[Path]:
    """Removes the replica folders in `within` that no process holds (their run was killed): those removed.
    Another user's (mkdtemp makes them private) and any held or just made are left."""
    removed = []
    for folder in sorted(within.glob(f"{PREFIX}*")):
        try:
            held = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # another user's, removed meanwhile, or not a folder
            continue
        try:
            if time.time() - os.fstat(held).st_mtime < SETTLED_SECONDS:
                continue
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held (BlockingIOError): a run at work
            continue
        else:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(held)
    if removed:
        logger.info("removed %d replica folder(s) that killed runs left: %s", len(removed), removed)
    return removed
