"""Every setting a run's nodes read, checked before its first node runs: a typo in a late stage's settings
(train, explain) stops the run at once, not after the stages before it (synthetic data, the crack
segmenter's training, ingest) have run for minutes or hours. Each check is the one its node makes; a
section no settings class reads is checked for its keys: conf/base names every setting there is."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from kedro.pipeline import Pipeline

from crack_pipeline.config import UNSET, setting_at
from crack_pipeline.pipelines.evaluate.comparison import check_evaluate_settings
from crack_pipeline.pipelines.evaluate_folder.nodes import check_evaluate_folder_settings
from crack_pipeline.pipelines.explain.nodes import check_explain_settings
from crack_pipeline.pipelines.ingest.nodes import check_ingest_settings, check_sources_settings
from crack_pipeline.pipelines.mask_tiles.nodes import mask_tile_config
from crack_pipeline.pipelines.retrain.nodes import retrain_config
from crack_pipeline.pipelines.synth.nodes import synth_config
from crack_pipeline.pipelines.train.variants import domain_recalls, variant_setup
from crack_pipeline.vision.data.splitting import SplitError, check_ratios, check_split_settings
from crack_pipeline.vision.explain.crack_segmenter import SegmenterConfig
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import named_domain
from crack_pipeline.vision.models.device import resolve_device
from crack_pipeline.vision.models.registry import get_spec
from crack_pipeline.vision.settings import ConfigError, as_yaml, differences, settings_from
from crack_pipeline.vision.transfer.segmenter_adaptation import AdaptationConfig


def _split_settings(split: dict[str, Any]) -> None:
    try:
        check_split_settings(split)
    except SplitError as error:
        raise ConfigError(str(error)) from None


# The parameter a node reads (`params:<name>`) -> the check of what it makes of it.
SECTION_CHECKS: dict[str, Callable[[dict[str, Any]], object]] = {
    "synth": synth_config,
    "segmenter": partial(settings_from, SegmenterConfig, section="segmenter"),
    "segmenter_adaptation": partial(
        settings_from, AdaptationConfig, section="segmenter_adaptation", also=("folder",)
    ),
    "evaluate": check_evaluate_settings,
    "tiling": partial(settings_from, TilingConfig, section="tiling"),
    "explain": check_explain_settings,
    "evaluate_folder": check_evaluate_folder_settings,
    "mask_tiles": mask_tile_config,
    "retrain": retrain_config,
    "split": _split_settings,
    "device": lambda device: resolve_device(device or None),  # unset: auto
    "ingest": check_ingest_settings,
    "data": check_sources_settings,
}
logger = logging.getLogger(__name__)
_VARIANT = re.compile(r"^train\.models\.([^.]+)$")  # a variant's namespace reads its own entry
# Tables a settings class checks whole, naming a typo itself, and tables of names a user chooses.
_KEYS_CHECKED_ELSEWHERE = {
    *("synth", "segmenter", "segmenter_adaptation", "tiling", "retrain", "mask_tiles.tiling"),
    "explain.crack_masks",
    *("train.defaults", "train.cam_progress"),  # by each variant's check
    *("train.models", "train.target_recall_by_domain", "ingest.label_aliases"),
}


def check_run_settings(
    pipeline: Pipeline, parameters: dict[str, Any], known: dict[str, Any] | None = None
) -> None:
    """A `ConfigError` naming every bad setting that `pipeline`'s nodes would read in `parameters`: with
    `known` (conf/base's parameters), also every key of a section they read, and every section, that
    `known` lacks (a typo)."""
    read = sorted(
        name.removeprefix("params:")
        for name in set().union(*(node.inputs for node in pipeline.nodes))
        if name.startswith("params:")
    )
    sections = {name.split(".")[0] for name in read}
    problems = (
        []
        if known is None
        else unknown_settings({k: v for k, v in parameters.items() if k in sections or k not in known}, known)
    )
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
        # Once each: every variant reads the shared train settings, and said so for each of them.
        raise ConfigError("bad settings: " + "; ".join(dict.fromkeys(problems)))
    if {"data", "train"} <= sections:
        _warn_of_recall_domains_not_listed(parameters)
    if known is not None and (variants := [match[1] for name in read if (match := _VARIANT.match(name))]):
        _warn_of_defaults_no_variant_takes(parameters["train"], known.get("train") or {}, variants)
    names = {node.name for node in pipeline.nodes}
    if "split" in sections and any(name.endswith("evaluate_variant") for name in names):
        _check_test_images_made(parameters.get("split") or {})
    if {"split_images", "compare_variants"} <= names and not (parameters.get("train") or {}).get("variants"):
        # Nothing trained on the new split: the comparison found only older evaluations, or none at all.
        raise ConfigError(
            "bad settings: train.variants: [] trains no model on this run's split, so there is nothing to "
            "compare; name at least one of train.models, e.g. [small_cnn]"
        )


def _check_test_images_made(split: dict[str, Any]) -> None:
    """A run that splits and evaluates needs test images: with `split.ratios.test: 0` every variant trained,
    then its evaluation failed on a missing split."""
    if not check_ratios(split.get("ratios") or {})["test"] > 0:
        raise ConfigError(
            "bad settings: split.ratios.test must be above 0 in a run that evaluates: every model is "
            "evaluated, and the champion chosen, on the test images"
        )


def _warn_of_defaults_no_variant_takes(
    train: dict[str, Any], base: dict[str, Any], variants: list[str]
) -> None:
    """A warning for each `train.defaults` setting changed from conf/base's (`--params`, a local file) that
    every variant of the run sets itself: `--params=train.defaults.epochs=1`, for a quick run, trained
    small_cnn 10 epochs and efficientnet_lite0 3, without a word. A one-class variant takes none of them (it
    is fitted in one pass, by its `one_class` settings): `--pipelines=train`, which has patch_memory too, was
    not warned."""
    variants = [
        name for name in variants if get_spec(train["models"][name]["architecture"]).kind != "one_class"
    ]
    if not variants:
        return
    own = [(train["models"][name].get("training") or {}) for name in variants]
    defaults = train.get("defaults") or {}
    for path, value, _ in differences(defaults, base.get("defaults") or {}):
        if setting_at(defaults, path) is UNSET:  # a setting of conf/base's the run's tables left out
            continue
        theirs = [setting_at(training, path) for training in own]
        if all(their is not UNSET for their in theirs):
            setting = ".".join(path)
            logger.warning(
                "train.defaults.%s: %s changes no variant of this run, each sets its own (%s): set "
                "train.models.<name>.training.%s instead",
                setting,
                as_yaml(value),
                ", ".join(f"{name} {as_yaml(their)}" for name, their in zip(variants, theirs, strict=True)),
                setting,
            )


def _warn_of_recall_domains_not_listed(parameters: dict[str, Any]) -> None:
    """A warning before the run for names of `train.target_recall_by_domain` that no folder of `data.sources`
    has (a typo): the training said so only once every variant had trained."""
    sources = (parameters.get("data") or {}).get("sources")
    if not isinstance(sources, list):
        return  # one folder: its domain is named by the scan
    listed = {
        named_domain(source.get("domain"), "data.sources") for source in sources if isinstance(source, dict)
    }
    if unlisted := sorted(set(domain_recalls(parameters["train"])) - listed):
        logger.warning(
            "train.target_recall_by_domain names %s, which no folder of data.sources has (its domains: %s): "
            "a typo? Its recall target applies to no image of this run",
            ", ".join(unlisted),
            ", ".join(sorted(listed)),
        )


def unknown_settings(parameters: dict[str, Any], known: dict[str, Any], at: str = "") -> list[str]:
    """`<setting>: unknown setting (a typo?)` for every key of `parameters` that `known` lacks, at any depth
    where `known` has a table of settings (not within a list or a free value, nor _KEYS_CHECKED_ELSEWHERE)."""
    problems = []
    for key, value in parameters.items():
        name = f"{at}.{key}" if at else str(key)
        if key not in known:
            kind, among = ("setting", f"{at}'s settings") if at else ("section", "the sections")
            problems.append(f"{name}: unknown {kind} (a typo?); {among}: {', '.join(map(str, known))}")
        elif _holds_settings(name, value, known[key]):
            problems += unknown_settings(value, known[key], name)
    return problems


def _holds_settings(name: str, value: Any, known: Any) -> bool:
    """Whether `name` is a table of settings that conf/base lists and no other check reads whole."""
    elsewhere = name in _KEYS_CHECKED_ELSEWHERE
    return isinstance(value, dict) and isinstance(known, dict) and bool(known) and not elsewhere
