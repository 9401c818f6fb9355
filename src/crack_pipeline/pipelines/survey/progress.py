"""A survey's progress bar, kept whole: log lines are printed above it, and Kedro's "Saving data to ..." of
each photo's save, which the bar counts, is not said once a photo (it broke the bar onto a new line each
time)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

# Where Kedro's catalog says each save (kedro.io.data_catalog: "Saving data to %s (%s)...").
CATALOG_LOGGER = "kedro.io.data_catalog"
# The dataset the bar counts (the survey pipeline's output): any other dataset's save is still said.
SURVEY_DATASET = "survey_photos"


def _not_a_save(record: logging.LogRecord) -> bool:
    saved = record.args[0] if isinstance(record.args, tuple) and record.args else None
    return not (str(record.msg).startswith("Saving data to ") and saved == SURVEY_DATASET)


@contextlib.contextmanager
def survey_progress_bar(total: int, done: int, description: str) -> Iterator[tqdm]:
    """A bar of `total` photos, `done` of them before; while it is shown, the saves it counts (of
    `SURVEY_DATASET`) go unsaid."""
    catalog = logging.getLogger(CATALOG_LOGGER)
    catalog.addFilter(_not_a_save)
    try:
        with logging_redirect_tqdm(), tqdm(total=total, initial=done, unit="photo", desc=description) as bar:
            yield bar
    finally:
        catalog.removeFilter(_not_a_save)
