"""The survey's progress bar: it hides the saves it counts, and only those, only while it is shown."""

import logging

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
