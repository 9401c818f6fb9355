"""Evaluating a trained checkpoint on labelled images: probabilities, metrics, predictions, figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from crack_pipeline.vision.data import listed_images
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.listed_images import ListedImages
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_listed_in_parts
from crack_pipeline.vision.evaluation import plots
from crack_pipeline.vision.evaluation.metrics import binary_metrics
from crack_pipeline.vision.models.inference import (
    VIEW_COUNTS,
    crack_probabilities,
    crack_probabilities_and_features,
    crack_probability_of,
    inference_model,
    logits_and_features_per_view,
    views_of,
)
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import get_spec


def checkpoint_probabilities(
    checkpoint: dict[str, Any], data: ImageTensors, precision: str = "auto", device: str = "cpu"
) -> np.ndarray:
    """p(crack) for every image, with the checkpoint's own normalisation, in eval mode, on `device`. The
    images must be at the size the model was trained at."""
    model, resolved = _inference(checkpoint, data, precision, device)
    return crack_probabilities(
        model, data.images, checkpoint["mean"], checkpoint["std"], resolved, views=views_of(checkpoint)
    )


def thresholds_by_views(
    logits: torch.Tensor, choose: Callable[[np.ndarray], dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """For every view count (VIEW_COUNTS), the threshold `choose` makes of the p(crack) that many views
    give: the mean of the first of `logits` (8 x N x classes, `checkpoint_views`), no pass of its own."""
    return {count: choose(crack_probability_of(logits[:count].mean(0))) for count in VIEW_COUNTS}


def checkpoint_views(
    checkpoint: dict[str, Any], data: ImageTensors, precision: str = "auto", device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits and classifier features of every image in each of the eight views (8 x N x classes,
    8 x N x D; square images, as training makes them), one pass per view: the first `views_of(checkpoint)`
    of them averaged are what `checkpoint_probabilities_and_features` gives."""
    model, resolved = _inference(checkpoint, data, precision, device)
    head = get_spec(checkpoint["architecture"]).head
    return logits_and_features_per_view(
        model, head, data.images, checkpoint["mean"], checkpoint["std"], resolved, views=VIEW_COUNTS[-1]
    )


def checkpoint_probabilities_and_features(
    checkpoint: dict[str, Any], data: ImageTensors, precision: str = "auto", device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """`checkpoint_probabilities`, and what the model's classifier sees of each image (N x D features),
    from the same forward passes."""
    model, resolved = _inference(checkpoint, data, precision, device)
    head = get_spec(checkpoint["architecture"]).head
    return crack_probabilities_and_features(
        model, head, data.images, checkpoint["mean"], checkpoint["std"], resolved, views=views_of(checkpoint)
    )


def listed_probabilities_and_features(
    checkpoint: dict[str, Any],
    table: pd.DataFrame,
    precision: str = "auto",
    device: str = "cpu",
    part: int | None = None,
) -> tuple[np.ndarray, np.ndarray, ListedImages]:
    """`checkpoint_probabilities_and_features` of the images `table` lists (`decode_listed`'s columns, rows
    by name), decoded `part` (`PART`) at a time: a folder of any size in the memory of one part. With what was
    decoded (`ListedImages`: names, labels, files that could not be read), in the order of the scores."""
    model, resolved = _inference(checkpoint, None, precision, device)
    head = get_spec(checkpoint["architecture"]).head
    probabilities, features, labels, paths, skipped = [], [], [], [], {}
    parts = decode_listed_in_parts(
        table, checkpoint["input_size"], part or listed_images.PART, names=table.index.tolist()
    )
    with closing(parts):  # its decoders end here, also when scoring fails
        for decoded in parts:
            skipped.update(decoded.skipped)
            if not len(decoded):  # every file of the part unreadable: nothing to score
                continue
            p, f = crack_probabilities_and_features(
                model,
                head,
                decoded.images,
                checkpoint["mean"],
                checkpoint["std"],
                resolved,
                views=views_of(checkpoint),
            )
            probabilities.append(p)
            features.append(f)
            labels.append(decoded.labels)
            paths += decoded.paths
            del decoded  # its pixels let go before the next part is decoded, not after
    listed = ListedImages(
        table,
        checkpoint["input_size"],
        torch.cat(labels or [torch.empty(0, dtype=torch.int64)]),
        paths,
        skipped,
    )
    if not paths:
        return np.empty(0), np.empty((0, 0), dtype=np.float32), listed
    return np.concatenate(probabilities), np.concatenate(features), listed


def _inference(
    checkpoint: dict[str, Any], data: ImageTensors | None, precision: str, device: str
) -> tuple[nn.Module, Precision]:
    if data is not None and len(data) and data.images.shape[-1] != checkpoint["input_size"]:
        raise ValueError(
            f"images of {data.images.shape[-1]} px for a model trained at {checkpoint['input_size']} px"
        )
    resolved = Precision.resolve(precision, "inference", device)
    return inference_model(checkpoint, resolved), resolved


def predictions_table(data: ImageTensors | ListedImages, probability: np.ndarray, threshold) -> pd.DataFrame:
    """file, true_label, crack_probability, predicted_label, correct (at `threshold`: one, or per image)."""
    true = [CLASS_NAMES[i] for i in data.labels.tolist()]
    predicted = np.where(np.asarray(probability) >= threshold, "crack", "no_crack").tolist()
    return pd.DataFrame(
        {
            "file": data.paths,
            "true_label": true,
            "crack_probability": probability,
            "predicted_label": predicted,
            "correct": [t == p for t, p in zip(true, predicted, strict=True)],
        }
    )


@dataclass
class Evaluation:
    metrics: dict[str, Any]  # {"at_threshold": {...}, "at_half": {...}}
    predictions: pd.DataFrame  # at the threshold
    figures: dict[str, Figure]  # by file name, e.g. "roc_pr.png"


def metrics_at(y: np.ndarray, probability: np.ndarray, threshold) -> dict[str, Any]:
    """{"at_threshold": metrics at `threshold` (one, or one per image), "at_half": at 0.5}."""
    return {
        "at_threshold": binary_metrics(y, probability, threshold),
        "at_half": binary_metrics(y, probability, 0.5),
    }


def labelled_metrics(
    y: np.ndarray,
    probability: np.ndarray,
    threshold: float,
    domains: Sequence[str] | None = None,
    domain_thresholds: dict[str, float] | None = None,
) -> tuple[dict[str, Any], float | np.ndarray]:
    """`evaluate_probabilities`'s metrics (`metrics_at`; with the domain of every image, and more than one
    or a threshold of its own for some, `per_domain` too, each image decided at its domain's threshold),
    and the threshold each image was decided at (one, or one per image)."""
    own = domain_thresholds or {}
    if domains is None or not (own or len(set(domains)) > 1):
        return metrics_at(y, probability, threshold), threshold
    domains = np.asarray(domains)
    per_image = np.array([own.get(d, threshold) for d in domains])
    metrics = metrics_at(y, probability, per_image)
    metrics["per_domain"] = {
        domain: metrics_at(y[domains == domain], probability[domains == domain], own.get(domain, threshold))
        for domain in sorted(set(domains.tolist()))
    }
    return metrics, per_image


def evaluate_probabilities(
    name: str,
    data: ImageTensors | ListedImages,
    probability: np.ndarray,
    threshold: float,
    mistakes: int = 12,
    domains: Sequence[str] | None = None,
    domain_thresholds: dict[str, float] | None = None,
    figures: bool = True,
) -> Evaluation:
    """Metrics at `threshold` (the model's decision threshold) and at 0.5, the predictions table at the
    threshold and the figures, for one labelled set. With the domain of every image, and more than one,
    the metrics are also given per domain (`per_domain`), and the predictions name each image's; an image
    of a domain in `domain_thresholds` is decided at its domain's threshold (pooled metrics too). Without
    `figures`, none is made (0.14 s of figures a champion scored again for its metrics threw away)."""
    y = data.labels.numpy()
    metrics, per_image = labelled_metrics(y, probability, threshold, domains, domain_thresholds)
    table = predictions_table(data, probability, per_image)
    if "per_domain" in metrics:
        table.insert(1, "domain", domains)
    if not figures:
        return Evaluation(metrics=metrics, predictions=table, figures={})
    wrong = table.assign(confidence=np.abs(table.crack_probability - per_image))[~table.correct]
    worst = wrong.sort_values("confidence", ascending=False).head(mistakes)
    images = data.pictures(worst.file)
    worst = worst[worst.file.isin(images)]  # a file changed since it was scored is not shown
    figures = {
        "confusion_matrix.png": plots.plot_confusion_matrix(metrics["at_threshold"], name),
        "confusion_matrix_at_half.png": plots.plot_confusion_matrix(metrics["at_half"], name),
        "confident_mistakes.png": plots.plot_mistakes(images, worst.to_dict("records"), name),
    }
    if metrics["at_half"]["roc_auc"] is not None:  # curves need both classes
        figures["roc_pr.png"] = plots.plot_roc_pr(y, probability, name)
        figures["reliability.png"] = plots.plot_reliability(y, probability, name)
    return Evaluation(metrics=metrics, predictions=table, figures=figures)
