"""INFO lines of Kedro and kedro-mlflow that carry nothing for the user, left out by their message: a level
set on their logger would hide its other lines too (Kedro's runner says "Completed 3 out of 7 tasks" through
the logger that says "Using synchronous mode ..."). A warning or an error always passes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

# kedro-mlflow's hook: says which OmegaConf resolver it registers for its own mlflow.yml at every command,
# and ends its runs with "The run '<id>' was closed because of an error in the pipeline" (`unsaid`).
PLUGIN_LOGGER = "kedro_mlflow.framework.hooks.mlflow_hook"
CLOSED_BY_ERROR = ("The run '", "The parent run '")

# (logger, the start of its message): said at every run, the same whatever the run.
NEVER_SAID = (
    (PLUGIN_LOGGER, ("Registering new custom resolver",)),
    # Advice to try --async before every run (README: `--async`; a survey's generator nodes refuse it).
    ("kedro.runner.sequential_runner", ("Using synchronous mode",)),
    ("kedro.runner.parallel_runner", ("Using synchronous mode",)),
)


class Unsaid(logging.Filter):
    """Drops a logger's records below WARNING whose message (its arguments filled in) starts with one of
    `starts`."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.getMessage().startswith(self.starts)


def leave_unsaid() -> None:
    """`NEVER_SAID` left out from now on, in this process (once, however often called)."""
    for name, starts in NEVER_SAID:
        logger = logging.getLogger(name)
        if not any(isinstance(known, Unsaid) and known.starts == starts for known in logger.filters):
            logger.addFilter(Unsaid(starts))


@contextlib.contextmanager
def unsaid(name: str, starts: tuple[str, ...]) -> Iterator[None]:
    """Logger `name`'s INFO lines that start with one of `starts` left out while the block runs."""
    quiet, logger = Unsaid(starts), logging.getLogger(name)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
