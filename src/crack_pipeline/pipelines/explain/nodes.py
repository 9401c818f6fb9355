"""Nodes of the `explain` pipeline: why does the model say crack?"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.pipelines.explain.images import domain_scales, images_to_explain, memory_warning
from crack_pipeline.provenance import learned_among
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.ingested import changed_since_ingest
from crack_pipeline.vision.data.masks import check_masks_apart, read_masks_of
from crack_pipeline.vision.data.splitting import SPLITS
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.anomaly import ANOMALY, methods_for
from crack_pipeline.vision.explain.cam import METHODS, check_target
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import SegmenterConfig
from crack_pipeline.vision.explain.quality import quality_lines
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.explain.scales import read_scales, scales_of
from crack_pipeline.vision.explain.severity import check_measurement_settings
from crack_pipeline.vision.explain.survey import Shard
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import (
    decision_threshold,
    describe_threshold,
    for_domain,
    named_domain,
    threshold_setting,
    unnamed_domain_note,
)
from crack_pipeline.vision.models.inference import views_asked, views_of, views_setting
from crack_pipeline.vision.models.registry import REGISTRY, architectures_with_layer, get_spec
from crack_pipeline.vision.settings import ConfigError, count_setting, settings_from

logger = logging.getLogger(__name__)


def crack_mask_config(explain: dict[str, Any]) -> CrackMaskConfig:
    """`explain.crack_masks`, checked."""
    return settings_from(CrackMaskConfig, explain.get("crack_masks") or {}, "explain.crack_masks")


def check_explain_settings(explain: dict[str, Any]) -> None:
    """A `ConfigError` for a bad `explain.methods`, `explain.target`, `explain.crack_masks`,
    `explain.threshold`, `explain.test_time_views` or a `explain.cam_layer` no architecture has, before a
    run starts (what CamExplainer and the masks would refuse only when the first image is explained)."""
    methods = explain.get("methods") or []
    if not isinstance(methods, list) or not all(isinstance(method, str) for method in methods):
        raise ConfigError(f"explain.methods: a list of names, e.g. [layercam], not {methods!r}")
    if explain.get("methods") == []:
        # Every output of a run (predictions, masks, measurements, gallery) is made per method: none, none.
        raise ConfigError("explain.methods: none given, so nothing would be explained; e.g. [layercam]")
    unknown = [method for method in methods if method not in {*METHODS, ANOMALY}]
    if unknown:
        raise ConfigError(
            f"explain.methods: unknown {unknown}; choose from {sorted(METHODS)} ({ANOMALY}: a one-class "
            "model's map, its only one)"
        )
    check_target(explain.get("target", "predicted"))
    crack_mask_config(explain)
    named_domain(explain.get("domain"), "explain.domain")
    threshold_setting(explain.get("threshold"), "explain.threshold")
    views_setting(explain.get("test_time_views"), "explain.test_time_views")
    if (layer := explain.get("cam_layer")) and not isinstance(layer, str):
        raise ConfigError(f"explain.cam_layer: a module's dotted name, e.g. bn2, not {layer!r}")
    if layer and not architectures_with_layer(layer):
        defaults = ", ".join(
            f"{spec.name} {spec.cam_layer}" for spec in REGISTRY.values() if spec.kind == "supervised"
        )
        raise ConfigError(f"explain.cam_layer: no model has a layer {layer!r}; each one's own: {defaults}")
    _check_counts_and_names(explain)


def _check_counts_and_names(explain: dict[str, Any]) -> None:
    """`explain.split`, `max_images`, `batch_size`, `mm_per_pixel`, `severity_bands`, `survey`, `shard` and
    `segmenter`, which the nodes read only once a run reaches them (after `make run`'s training): a split's
    typo ended it with "no usable image in the tset split", -3 images with numpy's error, a survey's name
    with '../' put its folder elsewhere, a shard '3/2' and bands out of order were refused once the model
    was loaded, and `segmenter: 'no'` (a string) used the segmenter."""
    if explain.get("split", "test") not in SPLITS:
        raise ConfigError(f"explain.split: one of {', '.join(SPLITS)}, not {explain['split']!r}")
    count_setting(explain.get("max_images"), "explain.max_images", unset="all")
    count_setting(explain.get("batch_size", 32), "explain.batch_size")
    check_measurement_settings(explain)
    if explain.get("scales") is not None:
        read_scales(explain["scales"])
    survey = explain.get("survey", "survey")
    if survey is None or str(survey) in ("", ".", "..") or any(c in str(survey) for c in ("/", "\\")):
        raise ConfigError(f"explain.survey: a survey's name (its folder in surveys/), not {survey!r}")
    Shard.parse(explain.get("shard"))
    if not isinstance(segmenter := explain.get("segmenter", True), bool | None):
        raise ConfigError(f"explain.segmenter: true or false, not {segmenter!r}")


def explanation_setup(
    checkpoint: dict[str, Any], explain: dict[str, Any], tiling: dict[str, Any]
) -> tuple[dict[str, Any], TilingConfig, dict[str, Any], list[str]]:
    """The checkpoint with the CAM layer to explain at (and, with `explain.test_time_views`, that view count
    and the threshold chosen for it: `with_views`; with `explain.domain`, as it scores that domain's images:
    `for_domain`), the tiling at its scale, the decision threshold (`decision_threshold`'s description)
    and the methods (a one-class model's: its anomaly map), as `explain.*` and `tiling.*` ask; logged."""
    methods = methods_for(checkpoint["architecture"], explain["methods"])
    checkpoint = for_domain(checkpoint, explain.get("domain"), "explain.domain")
    # The layer is an explanation setting, not a training one: the registry holds the one measured to
    # localise cracks best (bench/cam_layers.py), older checkpoints included; explain.cam_layer overrides.
    layer = explain.get("cam_layer") or get_spec(checkpoint["architecture"]).cam_layer
    checkpoint = {**checkpoint, "cam_layer": layer}
    tiles = settings_from(TilingConfig, tiling, "tiling").at_scale_of(checkpoint)
    checkpoint, views = views_asked(checkpoint, explain, "explain")
    threshold = decision_threshold(checkpoint, explain.get("threshold"), "explain.threshold")
    logger.info(
        "explain: model %s (version %s)%s, %s at %s, tiles of %d px, %s, %s",
        checkpoint["variant"],
        checkpoint.get("model_version"),
        f" on {checkpoint['domain']} images" if checkpoint.get("domain") else "",
        ", ".join(methods),
        layer,
        tiles.tile_size,
        views,
        describe_threshold(threshold),
    )
    return checkpoint, tiles, threshold, methods


def explain_split(
    checkpoint: dict[str, Any],
    split_manifest: pd.DataFrame,
    explain_input: Folder | None,
    explain_masks: Folder | None,
    champion: dict[str, Any] | None,
    explain: dict[str, Any],
    tiling: dict[str, Any],
    ingest: dict[str, Any],
    device: str,
    crack_segmenter: dict[str, Any] | None = None,
    segmenter_settings: dict[str, Any] | None = None,
) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Heatmaps, crack masks and measurements, overlays, panels, grids and the HTML gallery for
    `explain.input_dir` (any folder of photos, labelled or not, validated like ingest) or, by default, the
    images of `explain.split` of the latest split, read from the folder the split was made from.

    Args:
        checkpoint: the model to explain (the champion, or `explain.model`).
        champion: the registry's champion (version, variant) once any promotion of this run is done: the
            explanation comes after it and records it.
        explain: `params:explain` — split, domain, methods, target, threshold, test_time_views,
            max_images, batch_size; crack_masks, mm_per_pixel, scales, severity_bands: how crack pixels
            are found and measured.
        tiling: `params:tiling` — how images larger than a tile are cut, aggregated and boxed.
        ingest: `params:ingest` — label aliases and image limits, for `explain.input_dir`.
        device: `params:device` — where the model runs.
        crack_segmenter: the latest crack segmenter (pipeline `segmenter`), used when `explain.segmenter`.
        segmenter_settings: `params:segmenter`, what it should have been trained with (warned of if not).
    Returns:
        The files of the explanation folder, the predictions table, the crack regions (boxes), the
        crack measurements (one row per crack) and the quality report.
    """
    if explain_input is not None and explain_masks is not None:
        check_masks_apart(explain_input, explain_masks, "explain.input_dir and explain.masks_dir")
    checkpoint, tiles, threshold, methods = explanation_setup(checkpoint, explain, tiling)
    layer = checkpoint["cam_layer"]
    domain = checkpoint.get("domain")  # explain.domain, as for_domain reads it
    items, sha256, domains, left_out, copies = images_to_explain(
        split_manifest, explain_input, explain, ingest
    )
    every_name = [item.name for item in items]  # the photos explain.scales lists, explained or not
    note = unnamed_domain_note(checkpoint, "explain.domain")
    if explain_input is not None and domain is None and note:
        logger.info("explain: %s", note)
    if explain_input is None:  # the split's images as ingest validated them: one since replaced is left out
        changed = changed_since_ingest([item.file for item in items], sha256)
        for file, reason in changed.items():
            logger.warning("explain: skipped %s (%s)", file, reason)
        left_out = {str(file): reason for file, reason in changed.items()}
        kept = [i for i, item in enumerate(items) if item.file not in changed]
        items, sha256, domains = ([part[i] for i in kept] for part in (items, sha256, domains))
    if explain.get("max_images") and len(items) > int(explain["max_images"]):
        # Evenly spaced through the sorted list, so a sample spans every class folder.
        picks = np.linspace(0, len(items) - 1, int(explain["max_images"])).round().astype(int)
        items, sha256, domains = ([part[i] for i in picks] for part in (items, sha256, domains))
    if not items:
        where = f"folder {explain_input.shown}" if explain_input is not None else f"{explain['split']} split"
        where += f" of domain {domain}" if domain is not None else ""
        raise InputError(f"explain: no usable image in the {where} (the log above says why each was skipped)")
    if warning := memory_warning(items):
        logger.warning(warning)
    what = "images of the folder" if explain_input is not None else f"{explain['split']} images"
    learned = learned_among(checkpoint, sha256, what, "explain")
    segmenter = segmenter_to_use(explain, crack_segmenter, segmenter_settings)
    image_thresholds, image_tile_sizes = domain_scales(checkpoint, threshold, tiling, items, domains)
    names = [item.name for item in items]
    # A folder of the user's own, not the synthetic masks (the default), which a folder's photos never match.
    masks = read_masks_of(explain_masks, names, "explain.masks_dir" if explain.get("masks_dir") else None)
    unexplained = [*left_out, *copies]  # explain.scales may list them: skipped, or explained as the original
    scales = scales_of(
        every_name, explain.get("scales"), explain.get("mm_per_pixel"), names, unexplained, copies=copies
    )
    result = explain_images(
        checkpoint,
        items,
        methods,
        threshold["value"],
        image_thresholds=image_thresholds,
        image_tile_sizes=image_tile_sizes,
        target=explain.get("target", "predicted"),
        masks=masks,
        batch_size=explain.get("batch_size", 32),
        tiling=tiles,
        crack_masks=crack_mask_config(explain),
        mm_per_pixel=explain.get("mm_per_pixel"),
        severity_bands=explain.get("severity_bands"),
        device=device,
        segmenter=segmenter,
        left_out=left_out,
        scales=scales,
    )
    if items and len(result.skipped) == len(items):
        first, reason = next(iter(result.skipped.items()))
        raise InputError(f"explain: none of the {len(items)} images could be read (first: {first}: {reason})")
    for line in quality_lines(result.quality):
        logger.info(line)
    called_by = result.predictions.get("called_by", pd.Series(dtype=object))
    if (called_by == "segmenter").any():
        logger.info(
            "explain: the crack segmenter called %d image(s) cracked that the classifier called clean "
            "(predictions: called_by)",
            result.predictions.file[called_by == "segmenter"].nunique(),
        )
    for path, reason in result.skipped.items():
        logger.warning("explain: skipped %s (%s)", path, reason)
    # The scale each domain's images were tiled at, where not the pooled one the tiling records.
    sides = {
        d: image_tile_sizes[item.name]
        for item, d in zip(items, domains, strict=True)
        if item.name in image_tile_sizes
    }
    quality = {
        "input": explain_input.shown if explain_input is not None else "split",
        "model": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "cam_layer": layer,
        "crack_segmenter": segmenter["segmenter_id"] if segmenter else None,
        "threshold": threshold,
        "test_time_views": views_of(checkpoint),
        "tiling": {
            **tiling,
            "tile_size": tiles.tile_size,
            **({"tile_size_by_domain": dict(sorted(sides.items()))} if sides else {}),
        },
        "domain": domain,
        "champion": champion,
        "split": None if explain_input is not None else explain["split"],
        "learned_images": learned,  # how many of the explained images the model learned from
        "methods": result.quality,
        "skipped": {**left_out, **result.skipped},
    }
    return result.files, result.predictions, result.boxes, result.measurements, quality


def segmenter_to_use(
    explain: dict[str, Any], crack_segmenter: dict[str, Any] | None, segmenter: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The crack segmenter the masks use: `crack_segmenter` when `explain.segmenter` (the default), None
    when switched off (its pixels and its calls: `crack_masks.segmenter_finds`); an `InputError` saying
    what to run when it is wanted and none was trained; a warning when it was trained with other settings
    than `segmenter` (`params:segmenter`, changed since: explain alone does not train one)."""
    if not explain.get("segmenter", True):
        return None
    if crack_segmenter is None:
        raise InputError(
            "explain.segmenter is on, but no crack segmenter has been trained: run "
            "`kedro run --pipelines=segmenter` once (a few minutes), or set explain.segmenter: false "
            "for crack masks from darkness alone"
        )
    if adapted := crack_segmenter.get("adapted_to"):
        logger.info("explain: the crack segmenter is adapted to %(photos)d photos of %(folder)s", adapted)
    if segmenter is not None:
        wanted = asdict(settings_from(SegmenterConfig, segmenter, "segmenter"))
        trained = crack_segmenter.get("config") or {}
        changed = [
            f"{key} {trained.get(key)!r}, now {value!r}"
            for key, value in wanted.items()
            if trained.get(key) != value
        ]
        if changed:
            logger.warning(
                "explain: the latest crack segmenter was trained with other settings (%s): its masks are "
                "that one's; `kedro run --pipelines=segmenter` trains one with these",
                "; ".join(changed),
            )
    return crack_segmenter
