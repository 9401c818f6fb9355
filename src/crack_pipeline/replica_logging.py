"""Logging of the processes a run spawns (training replicas): Kedro's logging set-up said once, not again in
each of them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml
from kedro.utils import find_config_file

# The logger of Kedro's "Using 'conf/logging.yml' as logging configuration" line.
SETUP_LOGGER = "kedro.framework.project"


@contextlib.contextmanager
def logging_setup_said_once() -> Iterator[None]:
    """Inside, processes spawned (training replicas) log as this one does, without the line saying how. A
    spawned process runs the caller's main script again, the `kedro` command's: its import of Kedro set up
    logging from conf/logging.yml (or KEDRO_LOGGING_CONFIG) and said so once a replica. They get that same
    configuration, with the line's logger at WARNING (Kedro reads it from KEDRO_LOGGING_CONFIG)."""
    given = os.environ.get("KEDRO_LOGGING_CONFIG")
    path = Path(given) if given else find_config_file("conf/logging")
    if path is None or not path.is_file():  # Kedro's own default: left as it is
        yield
        return
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.setdefault("loggers", {})[SETUP_LOGGER] = {"level": "WARNING"}
    with tempfile.TemporaryDirectory(prefix="crack-pipeline-logging-") as folder:
        quiet = Path(folder) / "logging.yml"
        quiet.write_text(yaml.safe_dump(config), encoding="utf-8")
        os.environ["KEDRO_LOGGING_CONFIG"] = str(quiet)
        try:
            yield
        finally:
            if given is None:
                del os.environ["KEDRO_LOGGING_CONFIG"]
            else:
                os.environ["KEDRO_LOGGING_CONFIG"] = given
