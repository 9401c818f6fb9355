"""Nodes of the `synth` pipeline: the built-in synthetic crack data set."""

from __future__ import annotations

import logging
from typing import Any

from crack_pipeline.vision.data.synthetic import SynthConfig, generate
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import settings_from

logger = logging.getLogger(__name__)


def generate_synthetic_images(
    synth: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Render the synthetic data set.

    Args:
        synth: `params:synth` — count_per_class, image_size, seed, difficulty, jpeg_quality, workers.
        data: `params:data`; its `source_dir` and `sources` must be unset: the default pipeline works on
            synthetic data, and silently ignoring folders the user asked for would be worse than stopping.
    Returns:
        Images {"Positive/crack_00001.jpg": JPEG bytes, "Negative/...": ...} and crack masks
        {"Positive/crack_00001.png": PNG bytes}.
    """
    if data.get("source_dir"):
        raise InputError(
            f"data.source_dir={data['source_dir']!r} is set, but this pipeline generates and uses the "
            f"synthetic data set. To run on your own folder: kedro run --pipelines=from_folder "
            f"--params=data.source_dir={data['source_dir']}"
        )
    if data.get("sources"):
        raise InputError(
            "data.sources is set, but this pipeline generates and uses the synthetic data set. To run on "
            "the folders it lists: kedro run --pipelines=from_folder (list the synthetic images, "
            "data/01_raw/synthetic/images, among them to keep them)"
        )
    config = synth_config(synth)
    images, masks = generate(config, workers=synth.get("workers"))
    logger.info(
        "synth: %d images (%d with crack masks), %dx%d px, seed %d, difficulty %.2f",
        len(images),
        len(masks),
        config.image_size,
        config.image_size,
        config.seed,
        config.difficulty,
    )
    return images, masks


def synth_config(synth: dict[str, Any]) -> SynthConfig:
    """`params:synth`, checked (its `workers` is how it is rendered, not what)."""
    return settings_from(SynthConfig, synth, "synth", also=("workers",))
