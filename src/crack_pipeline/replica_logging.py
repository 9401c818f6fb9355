"""Logging of the processes a run spawns (training replicas): Kedro's logging set-up said once, not again in
each of them."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import yaml
from kedro.utils import find_config_file

# The logger of Kedro's "Using 'conf/logging.yml' as logging configuration" line.
SETUP_LOGGER = "kedro.framework.project"

# Variants trained at once (`--runner=ThreadRunner`) share the process's environment: the first in sets
# KEDRO_LOGGING_CONFIG, the last out gives it back. Each restoring what it found, the first out removed it
# under the other's replicas, and the last put back the first's file, deleted: every replica spawned later
# in the run failed at Kedro's import (FileNotFoundError).
_lock = threading.Lock()
_inside = {"count": 0, "given": None, "folder": None}


@contextlib.contextmanager
def logging_setup_said_once() -> Iterator[None]:
    """Inside, processes spawned (training replicas) log as this one does, without the line saying how. A
    spawned process runs the caller's main script again, the `kedro` command's: its import of Kedro set up
    logging from conf/logging.yml (or KEDRO_LOGGING_CONFIG) and said so once a replica. They get that same
    configuration, with the line's logger at WARNING (Kedro reads it from KEDRO_LOGGING_CONFIG)."""
    with _lock:
        if not _inside["count"]:
            _inside["given"] = os.environ.get("KEDRO_LOGGING_CONFIG")
            _inside["folder"] = _quiet_config(_inside["given"])
        _inside["count"] += 1
    try:
        yield
    finally:
        with _lock:
            _inside["count"] -= 1
            if not _inside["count"] and _inside["folder"] is not None:
                given = _inside["given"]
                if given is None:
                    del os.environ["KEDRO_LOGGING_CONFIG"]
                else:
                    os.environ["KEDRO_LOGGING_CONFIG"] = given
                _inside["folder"].cleanup()
                _inside["folder"] = None


def _quiet_config(given: str | None) -> tempfile.TemporaryDirectory | None:
    """The logging configuration Kedro would use (`given`, else conf/logging.yml), its set-up line's logger
    at WARNING, in a temporary folder KEDRO_LOGGING_CONFIG now names; None where Kedro's own default is
    used (left as it is)."""
    path = Path(given) if given else find_config_file("conf/logging")
    if path is None or not path.is_file():
        return None
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.setdefault("loggers", {})[SETUP_LOGGER] = {"level": "WARNING"}
    folder = tempfile.TemporaryDirectory(prefix="crack-pipeline-logging-")
    quiet = Path(folder.name) / "logging.yml"
    quiet.write_text(yaml.safe_dump(config), encoding="utf-8")
    os.environ["KEDRO_LOGGING_CONFIG"] = str(quiet)
    return folder
