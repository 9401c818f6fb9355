"""Nodes of the `fetch` pipeline."""

from __future__ import annotations

import logging
from typing import Any

from crack_pipeline.vision.data.fetch import FetchConfig, fetch_dataset
from crack_pipeline.vision.settings import settings_from

logger = logging.getLogger(__name__)


def fetch_public_dataset(fetch: dict[str, Any]) -> dict[str, Any]:
    """Fetch `fetch.dataset` (see `vision.data.fetch`) unless it is in `fetch.raw_dir` already.

    Args:
        fetch: `params:fetch` — dataset, url (a mirror; null: the publisher's), sha256 (null: the
            publisher's or the lock file's), raw_dir, lock_file.
    Returns:
        The summary: folder, file count, status, the archive's SHA-256 and what it was checked against
        (or where it was recorded), bytes downloaded, license, citation and the next command to run.
    """
    summary = fetch_dataset(settings_from(FetchConfig, fetch, "fetch"))
    if summary["status"] == "already present":
        logger.info("fetch: %s is already in %s; nothing fetched", summary["dataset"], summary["folder"])
    else:
        logger.info(
            "fetch: %s unpacked into %s: %d files, %d bytes downloaded, SHA-256 %s %s",
            summary["dataset"],
            summary["folder"],
            summary["files"],
            summary["downloaded_bytes"],
            summary["sha256"],
            summary["sha256_check"],
        )
    logger.info("fetch: license: %s; cite: %s", summary["license"], summary["cite"])
    logger.info("fetch: next: %s", summary["next_command"])
    return summary
