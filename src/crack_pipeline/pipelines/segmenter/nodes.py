"""Nodes of the `segmenter` pipeline: the crack segmenter the crack masks use, trained on synthetic masks."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from crack_pipeline.vision.explain.crack_segmenter import FORMAT, SegmenterConfig, train_segmenter
from crack_pipeline.vision.models.device import resolve_device
from crack_pipeline.vision.settings import settings_from

logger = logging.getLogger(__name__)


def train_crack_segmenter(segmenter: dict[str, Any], device: str, previous: dict | None) -> dict:
    """The crack segmenter: the latest one again when it was trained with these settings by this format
    of the code (its data are rendered from the settings), else a new one.

    Args:
        segmenter: `params:segmenter` — samples, steps, batch_size, crop, width, learning_rate, seed.
        device: `params:device` — where it trains.
        previous: the latest `crack_segmenter`, or None before the first.
    Returns:
        Its checkpoint (crack_segmenter.train_segmenter), saved as a new version either way.
    """
    config = settings_from(SegmenterConfig, segmenter, "segmenter")
    if previous is not None and (previous["format"], previous.get("config")) == (FORMAT, asdict(config)):
        logger.info("segmenter: the latest crack segmenter has these settings; kept")
        return previous
    every = max(1, config.steps // 10)

    def report(step: int, loss: float) -> None:
        if (step + 1) % every == 0:
            logger.info("segmenter: step %d/%d, loss %.3f", step + 1, config.steps, loss)

    checkpoint = train_segmenter(config, resolve_device(device), report)
    logger.info("segmenter: trained on %d synthetic patches per class", config.samples)
    return checkpoint
