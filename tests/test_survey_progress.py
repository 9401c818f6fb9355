"""The survey's progress bar: it hides the saves it counts, and only those, only while it is shown."""

import logging
import sys

import pytest

from crack_pipeline.pipelines.survey.progress import CATALOG_LOGGER, survey_progress_bar


def _said(caplog, dataset: str) -> bool:
    caplog.clear()
    logging.getLogger(CATALOG_LOGGER).info("Saving data to %s (%s)...", dataset, "PartitionedDataset")
    return any(record.getMessage().startswith(f"Saving data to {dataset} ") for record in caplog.records)


def test_the_bar_hides_the_survey_photos_saves_alone_and_only_while_shown(caplog):
    caplog.set_level(logging.INFO, logger=CATALOG_LOGGER)
    with survey_progress_bar(2, 0, "survey all"):
        assert not _said(caplog, "survey_photos")
        assert _said(caplog, "survey_boxes")  # another dataset saved meanwhile is still said
    assert _said(caplog, "survey_photos")
    with pytest.raises(OSError), survey_progress_bar(2, 0, "survey all"):
        raise OSError("disk full")
    assert _said(caplog, "survey_photos")


@pytest.fixture
def root_handlers():
    kept = logging.root.handlers[:]
    yield logging.root.handlers
    logging.root.handlers[:] = kept


def test_log_lines_above_the_bar_keep_the_console_handler_level_and_need_one(root_handlers, capsys):
    """tqdm's redirect printed INFO lines where the console was set to WARNING, and added a console
    handler where there was none (a RichHandler's or a file's lines said twice or on the terminal)."""
    log = logging.getLogger("crack_pipeline.test_survey_progress")
    log.setLevel(logging.INFO)
    quiet = logging.StreamHandler(sys.stderr)
    quiet.setLevel(logging.WARNING)
    root_handlers[:] = [quiet]
    with survey_progress_bar(2, 0, "survey all"):
        log.info("an info line the console does not show")
        log.warning("a warning it shows")
    assert root_handlers == [quiet]
    printed = capsys.readouterr().err
    assert "a warning it shows" in printed and "an info line" not in printed
    elsewhere = logging.NullHandler()  # a file, say
    root_handlers[:] = [elsewhere]
    with survey_progress_bar(2, 0, "survey all"):
        assert root_handlers == [elsewhere]
        log.warning("said by that handler alone")
    assert "said by that handler alone" not in capsys.readouterr().err
