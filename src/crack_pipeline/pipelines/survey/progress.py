"""A survey's progress bar, kept whole: log lines are printed above it, and Kedro's "Saving data to ..." of
each photo's save, which the bar counts, is not said once a photo (it broke the bar onto a new line each
time)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from crack_pipeline.quiet_lines import unsaid

# Where Kedro's catalog says each save (kedro.io.data_catalog: "Saving data to %s (%s)...").
CATALOG_LOGGER = "kedro.io.data_catalog"
# The dataset the bar counts (the survey pipeline's output): any other dataset's save is still said.
SURVEY_DATASET = "survey_photos"
SURVEY_SAVE = (f"Saving data to {SURVEY_DATASET} (",)


def _console(handler: logging.Handler) -> bool:
    """A handler printing to the terminal, as tqdm's logging_redirect_tqdm takes it."""
    return isinstance(handler, logging.StreamHandler) and handler.stream in {sys.stdout, sys.stderr}


@contextlib.contextmanager
def _logs_above_the_bar() -> Iterator[None]:
    """The root logger's console handler printed through tqdm (above the bar) at its own level. tqdm's
    redirect alone adds a handler of every level even where there is no console handler to replace (each
    line said twice beside a RichHandler, said where a file alone was asked for) and drops the replaced
    handler's level (INFO lines said where conf/logging.yml set the console to WARNING)."""
    console = next((handler for handler in logging.root.handlers if _console(handler)), None)
    if console is None:
        yield
        return
    with logging_redirect_tqdm():
        logging.root.handlers[-1].setLevel(console.level)  # tqdm's, added last; the old list comes back
        yield


@contextlib.contextmanager
def survey_progress_bar(total: int, done: int, description: str) -> Iterator[tqdm]:
    """A bar of `total` photos, `done` of them before; while it is shown, the saves it counts (of
    `SURVEY_DATASET`) go unsaid."""
    with (
        unsaid(CATALOG_LOGGER, SURVEY_SAVE),
        _logs_above_the_bar(),
        tqdm(total=total, initial=done, unit="photo", desc=description) as bar,
    ):
        yield bar
