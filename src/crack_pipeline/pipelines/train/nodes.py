"""Nodes of the `train` pipeline: decode the split once, then fine-tune each model variant."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

# At run time, not only for type checkers: Kedro reads the nodes' type hints.
from crack_pipeline.datasets.registered_model import ModelRegistry
from crack_pipeline.pipelines.split.nodes import require_roots
from crack_pipeline.pipelines.train.starting_model import initial_model
from crack_pipeline.pipelines.train.variants import (
    domain_recalls,
    one_class_ignores,
    require_both_classes,
    resume_state_path,
    variant_setup,
    warn_of_domains_at_the_pooled_threshold,
)
from crack_pipeline.provenance import data_fingerprint, git_commit, learned_images, split_fingerprint
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.masks import read_masks_of
from crack_pipeline.vision.data.sources import training_patch_sides
from crack_pipeline.vision.data.tensor_cache import (
    ImageTensors,
    check_matches,
    decode_splits,
    pixels_by_content,
    with_synthetic,
)
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.evaluate import checkpoint_views, thresholds_by_views
from crack_pipeline.vision.evaluation.metrics import (
    threshold_for_false_alarms,
    threshold_lines,
    threshold_on_validation,
)
from crack_pipeline.vision.evaluation.plots import plot_training_history
from crack_pipeline.vision.explain.cam_progress import cam_progress
from crack_pipeline.vision.models.checkpoint import make_checkpoint
from crack_pipeline.vision.models.device import resolve_device
from crack_pipeline.vision.models.precision import Precision, compute_used
from crack_pipeline.vision.training.distributed import fit_distributed
from crack_pipeline.vision.training.log_lines import figures_line
from crack_pipeline.vision.training.loop import evaluate
from crack_pipeline.vision.training.one_class import OneClassConfig, fit_patch_memory
from crack_pipeline.vision.transfer.familiarity import references_by_views

logger = logging.getLogger(__name__)


def build_split_tensors(
    split_manifest: pd.DataFrame,
    train: dict[str, Any],
    previous_split_tensors: Callable[[], dict[str, ImageTensors] | None] | None = None,
) -> dict:
    """Decode every image of the split once, from the folder the manifest records for it, resized to
    `train.image_size`, as uint8 tensors. An image the last build decoded at this size (the same content:
    its SHA-256) is read only to check it and its pixels are copied: a retrain with new photos decodes the
    new ones.

    Args:
        previous_split_tensors: loads the cache the last build left (None when there is none).
    Returns:
        {"train" | "val" | "test": ImageTensors}, reused by every epoch of every variant.
    """
    started = time.perf_counter()
    rows = require_roots(split_manifest)
    size = train["image_size"]
    known = pixels_by_content(previous_split_tensors() if previous_split_tensors else None, size)
    tensors = decode_splits(rows, size, workers=train.get("workers"), known=known)
    report_unreadable(tensors, rows)
    copied = sum(sha256 in known for part in tensors.values() for sha256 in part.sha256)
    logger.info(
        "train: %s images at %d px in %.1f s (%d decoded, %d as the last build decoded them)",
        ", ".join(f"{part} {len(images)}" for part, images in tensors.items()),
        size,
        time.perf_counter() - started,
        sum(len(part) for part in tensors.values()) - copied,
        copied,
    )
    return tensors


def report_unreadable(tensors: dict[str, ImageTensors], rows: pd.DataFrame) -> None:
    """A summary of the split's images that no longer read as ingest validated them (each one at DEBUG);
    an `InputError` naming their folders when a split has none left: no empty cache replaces a good one."""
    skipped = {key: reason for part in tensors.values() for key, reason in part.skipped.items()}
    if not skipped:
        return
    for key, reason in skipped.items():
        logger.debug("train: skipped %s (%s)", key, reason)
    reasons = pd.Series([reason.split(":")[0] for reason in skipped.values()]).value_counts()  # by kind
    examples = "; ".join(f"{key}: {reason}" for key, reason in list(skipped.items())[:3])
    summary = (
        f"{len(skipped)} of the split's {len(rows)} images no longer read as ingest validated them "
        f"({', '.join(f'{count} {reason}' for reason, count in reasons.items())}; e.g. {examples})"
    )
    if emptied := sorted(split for split, part in tensors.items() if len(part) == 0):
        raise InputError(
            f"train: {summary}, none of {' or '.join(emptied)}: are the folders still there "
            f"({', '.join(sorted(set(rows.root)))})? Run ingest and split again for the folders as they are "
            "now"
        )
    logger.warning("train: skipped %s", summary)


def validation_threshold(
    val: ImageTensors,
    probability: np.ndarray,
    one_class: OneClassConfig | None,
    target_recall: float,
    domain_recalls: dict[str, float],
    fewest_for_own: int = 0,
) -> dict[str, Any]:
    """The decision threshold of a model whose validation p(crack) is `probability`: the fewest false alarms
    at `target_recall` (per domain too, at a domain's own in `domain_recalls`, where it has `fewest_for_own`
    validation images of each class), or a one-class model's share of false alarms."""
    if one_class is not None:
        return threshold_for_false_alarms(val.labels.numpy(), probability, one_class.false_alarm_rate)
    labels = val.labels.numpy()
    return threshold_on_validation(
        labels, probability, target_recall, val.domains, domain_recalls, fewest_for_own
    )


def train_variant(
    split_tensors: dict[str, ImageTensors],
    split_manifest: pd.DataFrame,
    image_index: pd.DataFrame,
    registered_models: ModelRegistry,
    training_masks: Folder | None,
    variant: dict[str, Any],
    train: dict[str, Any],
    device: str,
    init_source: dict | None = None,
    *,
    name: str,
) -> tuple[dict, list[dict], Figure]:
    """Fine-tune one model variant with early stopping.

    Args:
        split_tensors: the decoded split (`build_split_tensors`).
        split_manifest: the split, for the data and split fingerprints recorded in the checkpoint.
        image_index: the ingest index, for the training images' size on disk (`patch_side`, `patch_sides`).
        registered_models: the model registry, read only when the variant sets `init_from`.
        training_masks: crack masks matched to the images by name (`explain_masks`), for the pointing game
            of `train.cam_progress`.
        variant: `params:train.models.<name>` — architecture, pretrained, weights_path, init_from, training
            overrides.
        train: `params:train` — the shared `defaults`, the `resume_dir` for per-epoch checkpoints, the
            `target_recall` the decision threshold is chosen for on the validation split, and `processes`:
            replicas training together (DistributedDataParallel; 1: this process alone); `cam_progress`:
            heatmaps of a few validation images after every `every` epochs; `test_time_views`: how many
            mirrored and turned views of an image the model's p(crack) averages, from its threshold on.
        device: `params:device` — where it trains (auto, cpu, cuda[:k]).
        init_source: the checkpoint of the variant `init_from` names, where this run trains it too: its input,
            so it is trained (and registered) first.
        name: the variant's name (its namespace).
    Returns:
        The self-describing checkpoint (with its decision threshold, and one for every test-time view
        count), the per-epoch history and its plot.
    """
    setup = variant_setup(name, variant, train)
    settings, config, spec, views = setup.settings, setup.config, setup.spec, setup.views
    if setup.one_class is None:
        require_both_classes(split_tensors["train"], name)
    check_matches(split_tensors, split_manifest, train["image_size"])
    torch.manual_seed(config.seed)  # the initial weights (a pretrained model's new head)
    model, pretrained, initialised_from, inherited = initial_model(
        variant, registered_models, name, init_source
    )
    resume_path = resume_state_path(train, name)
    mix = int(train.get("mix_synthetic") or 0)
    training_set = with_synthetic(split_tensors["train"], mix, config.seed)
    if mix:
        logger.info("train: %d synthetic patches per class mixed into the training split", mix)
    val = split_tensors["val"]
    progress, one_class = None, setup.one_class
    if one_class is not None:
        if ignored := one_class_ignores(train, config):
            logger.warning(
                "train: %s is fitted in this process, in fp32 (one-class): not %s", name, ", ".join(ignored)
            )
        # The split's own clean images: synthetic patches (mix_synthetic) are no site's surface.
        result = fit_patch_memory(model, spec, split_tensors["train"], val, one_class, device)
        # No epochs, rates or augmentation: what it was fitted with is its one_class settings.
        settings = {"one_class": dataclasses.asdict(one_class)}
    else:
        progress = cam_progress(spec, val, lambda keys: read_masks_of(training_masks, keys), setup.progress)
        result = fit_distributed(
            model,
            spec,
            training_set,
            val,
            config,
            train.get("processes", 1),
            resume_path=resume_path,
            pretrained=pretrained,
            device=device,
            observe_epoch=progress,
            keep_resume_state=True,  # until the checkpoint is saved (hooks.ResumeStateHook)
        )
    trained_on = resolve_device(device)
    test = split_tensors.get("test")
    test_metrics = {}
    if test is not None and len(test):
        on_device = Precision(result.precision, trained_on)  # fit hands the model back on the CPU
        metrics = evaluate(
            on_device.prepare(result.model), test, spec, on_device, torch.nn.CrossEntropyLoss()
        )
        result.model.cpu()
        test_metrics = {f"test_{k}": v for k, v in metrics.items()}
    logger.info(  # the precision `auto` chose said too: else only the checkpoint and MLflow knew it
        "train: %s best epoch %d (trained in %s on %s): %s",
        name,
        result.best_epoch,
        result.precision,
        trained_on,
        figures_line(result.best_metrics | test_metrics),
    )
    checkpoint = make_checkpoint(
        result.model,
        variant=name,
        architecture=spec.name,
        input_size=split_tensors["train"].images.shape[-1],
        train_config={
            **settings,
            "pretrained": pretrained,
            "init_from": initialised_from,
            "image_size": train["image_size"],
            "mix_synthetic": mix,
            "target_recall": float(train["target_recall"]),
            "test_time_views": views,
            **({"cam_progress": dataclasses.asdict(setup.progress)} if setup.progress else {}),
        },
        compute=compute_used(trained_on, int(train.get("processes") or 1)),
        **training_patch_sides(image_index, split_manifest),
        data_fingerprint=data_fingerprint(split_manifest),
        split_fingerprint=split_fingerprint(split_manifest),
        learned_images=learned_images(split_manifest, inherited),  # no later score counts them as unseen
        git_commit=git_commit(),
        best_epoch=result.best_epoch,
        epochs_trained=result.epochs_trained,
        best_metrics=result.best_metrics,
        test_metrics=test_metrics,
        precision=result.precision,
        train_seconds=result.train_seconds,
        train_images_per_second=result.train_images_per_second,
        test_time_views=views,
    )
    if progress is not None and progress.epochs:
        checkpoint["cam_progress"] = progress.state_dict()
    # One pass per view of the validation images: the model's own views' p(crack) and features, and every
    # other count's, so that explain and surveys may score with fewer views (faster) or more and still meet
    # p(crack) with the threshold made for it (`with_views`).
    logits, features = checkpoint_views(checkpoint, val, device=device)
    # What evaluate_folder judges a new folder's familiarity by (vision.transfer.familiarity), for every
    # view count it may score with (one storage each: the own count's is saved once).
    checkpoint["feature_references_by_views"] = references_by_views(features, val.domains)
    checkpoint["feature_reference"] = checkpoint["feature_references_by_views"][views]

    recalls = domain_recalls(train)  # checked by variant_setup above
    fewest_for_own = train.get("own_threshold_min_images", 0)
    chosen_threshold = partial(
        validation_threshold,
        val,
        one_class=one_class,
        target_recall=float(train["target_recall"]),
        domain_recalls=recalls,
        fewest_for_own=fewest_for_own,
    )
    checkpoint["thresholds_by_views"] = thresholds_by_views(logits, chosen_threshold)
    threshold = checkpoint["threshold"] = checkpoint["thresholds_by_views"][views]
    for line in threshold_lines(threshold, bool(val.labels.any())):
        logger.info("train: %s decision threshold %s", name, line)
    if one_class is None:
        warn_of_domains_at_the_pooled_threshold(name, threshold, recalls, fewest_for_own)
    return checkpoint, result.history, plot_training_history(result.history, name)
