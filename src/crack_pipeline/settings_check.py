"""Every setting a run's nodes read, checked before its first node runs: a typo in a late stage's settings
(train, explain) stops the run at once, not after the stages before it (synthetic data, the crack
segmenter's training, ingest) have run for minutes or hours. Each check is the one its node makes."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from kedro.pipeline import Pipeline

from crack_pipeline.pipelines.explain.nodes import check_explain_settings
from crack_pipeline.pipelines.mask_tiles.nodes import mask_tile_config
from crack_pipeline.pipelines.retrain.nodes import retrain_config
from crack_pipeline.pipelines.synth.nodes import synth_config
from crack_pipeline.pipelines.train.nodes import variant_setup
from crack_pipeline.vision.explain.crack_segmenter import SegmenterConfig
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.device import resolve_device
from crack_pipeline.vision.settings import ConfigError, settings_from

# The parameter a node reads (`params:<name>`) -> the check of what it makes of it.
SECTION_CHECKS: dict[str, Callable[[dict[str, Any]], object]] = {
    "synth": synth_config,
    "segmenter": partial(settings_from, SegmenterConfig, section="segmenter"),
    "tiling": partial(settings_from, TilingConfig, section="tiling"),
    "explain": check_explain_settings,
    "mask_tiles": mask_tile_config,
    "retrain": retrain_config,
    "device": lambda device: resolve_device(device or None),  # unset: auto
}
_VARIANT = re.compile(r"^train\.models\.([^.]+)$")  # a variant's namespace reads its own entry


def check_run_settings(pipeline: Pipeline, parameters: dict[str, Any]) -> None:
    """A `ConfigError` naming every bad setting that `pipeline`'s nodes would read in `parameters`."""
    read = sorted(
        name.removeprefix("params:")
        for name in set().union(*(node.inputs for node in pipeline.nodes))
        if name.startswith("params:")
    )
    problems = []
    for name in read:
        if name in SECTION_CHECKS:
            check = partial(SECTION_CHECKS[name], parameters.get(name) or {})
        elif variant := _VARIANT.match(name):
            train = parameters["train"]
            check = partial(variant_setup, variant[1], train["models"][variant[1]], train)
        else:
            continue
        try:
            check()
        except ConfigError as error:
            problems.append(str(error).removeprefix("bad settings: "))
    if problems:
        raise ConfigError("bad settings: " + "; ".join(problems))
