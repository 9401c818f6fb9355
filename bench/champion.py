"""The Özgenel champion the benchmarks start from, and the real data sets' splits they read.

EfficientNet-Lite0 fine-tuned on Özgenel's patches with conf/ozgenel's recipe, trained in the benchmark (or a
checkpoint file given by `--champion`), scoring with that recipe's test-time views.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fitted import bench_checkpoint
from shared_data import add_data_option, data_root

from crack_pipeline.config import environment_parameters
from crack_pipeline.pipelines.ingest.nodes import sources_of
from crack_pipeline.pipelines.train.variants import variant_settings
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.data.sources import image_keys, scan_sources
from crack_pipeline.vision.data.splitting import SplitError, stratified_group_split
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_listed
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities_and_features
from crack_pipeline.vision.evaluation.metrics import binary_metrics, threshold_on_validation
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import settings_from
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import FitResult, fit

ARCHITECTURE = "efficientnet_lite0"


def ozgenel_recipe(epochs: int | None) -> TrainConfig:
    train = environment_parameters("ozgenel")["train"]
    values = variant_settings(train, train["models"][ARCHITECTURE]) | {"progress": False}
    return settings_from(TrainConfig, values | ({"epochs": epochs} if epochs else {}), "ozgenel")


def recipe_checkpoint(result: FitResult, size: int) -> dict:
    """A model fitted here as a checkpoint that scores as conf/ozgenel's would: with its test-time views."""
    checkpoint = bench_checkpoint(result.model, ARCHITECTURE, size, result)
    checkpoint["test_time_views"] = environment_parameters("ozgenel")["train"].get("test_time_views", 1)
    return checkpoint


def folder_splits(
    domain: str, path: Path, pattern: str | None, ratios: dict, size: int
) -> dict[str, ImageTensors]:
    sources = sources_of(
        None, {"sources": [{"domain": domain, "path": str(path), "group_pattern": pattern}]}, None
    )
    index = scan_sources(sources, DEFAULT_ALIASES).index
    rows = index[index.status == OK].sort_values("path").reset_index(drop=True)
    rows = rows.assign(split=domain_split(domain, rows, ratios, f"{path}, in --data"))
    decoded = decode_listed(rows, size)
    return {split: decoded.subset(image_keys(part)) for split, part in rows.groupby("split")}


def domain_split(
    domain: str, rows: pd.DataFrame, ratios: dict[str, float], read_from: str, remedy: str | None = None
) -> np.ndarray:
    """One split name per row of a domain's scanned images (`rows`: label, group), by group at the benchmarks'
    seed 42; where its images are too few, a usage error naming the domain, its counts, the bench's split and
    where the bench read them (`read_from`), or what else gives it more (`remedy`: images the bench makes),
    not the pipeline's settings the bench does not read."""
    try:
        return stratified_group_split(rows.label, rows.group, ratios, seed=42)
    except SplitError as error:
        counts = ", ".join(f"{n} {label}" for label, n in rows.label.value_counts().sort_index().items())
        shares = " / ".join(f"{name} {share:g}" for name, share in ratios.items())
        raise SystemExit(
            f"domain {domain}: {len(rows)} images ({counts or 'none'}) in {rows.group.nunique()} photo "
            f"group(s): {error.problem}. This bench splits each domain {shares} by group (seed 42): "
            + (remedy or f"add photos of it where the bench reads them ({read_from})")
        ) from None


def ozgenel_splits(data: Path, size: int) -> dict[str, ImageTensors]:
    """Özgenel's patches (`data`/ozgenel_dev) split 70 / 15 / 15 as the champion was trained on them, decoded
    at `size` px."""
    return folder_splits(
        "ozgenel", data / "ozgenel_dev", None, {"train": 0.7, "val": 0.15, "test": 0.15}, size
    )


def champion(data: Path, size: int, epochs: int | None) -> dict:
    """The Özgenel champion: EfficientNet-Lite0 fine-tuned on Özgenel (`ozgenel_splits`)."""
    splits = ozgenel_splits(data, size)
    config = ozgenel_recipe(epochs)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    result = fit(
        create_model(ARCHITECTURE, pretrained=True),
        get_spec(ARCHITECTURE),
        splits["train"],
        splits["val"],
        config,
        pretrained=True,
    )
    checkpoint = recipe_checkpoint(result, size)
    val_p, _ = checkpoint_probabilities_and_features(checkpoint, splits["val"])
    # The whole record training makes (what it was chosen for, too): decision_threshold describes it.
    checkpoint["threshold"] = threshold_on_validation(splits["val"].labels.numpy(), val_p, 0.99)
    test_p, _ = checkpoint_probabilities_and_features(checkpoint, splits["test"])
    m = binary_metrics(splits["test"].labels.numpy(), test_p, checkpoint["threshold"]["value"])
    print(
        f"Özgenel champion: trained in {time.perf_counter() - started:.0f} s, Özgenel test accuracy "
        f"{m['accuracy']:.4f} at its threshold {checkpoint['threshold']['value']:.4f}",
        flush=True,
    )
    return checkpoint


def add_champion_options(parser: argparse.ArgumentParser) -> None:
    """`--champion`, `--champion-epochs` and `--data` (the real data sets the champion trains on)."""
    add_data_option(parser)
    parser.add_argument("--champion", default=None, help="a checkpoint file instead of training one")
    parser.add_argument("--champion-epochs", type=int, default=None, help="default: conf/ozgenel's")


def champion_of(args: argparse.Namespace, size: int) -> dict:
    """The checkpoint file `--champion`, else the Özgenel champion trained here at `size` px."""
    if args.champion and not Path(args.champion).is_file():  # else torch.load's FileNotFoundError
        raise SystemExit(f"--champion {args.champion}: no such file")
    return (
        torch.load(args.champion, weights_only=True)
        if args.champion
        else champion(data_root(args), size, args.champion_epochs)
    )
