"""Nodes of evaluation: test metrics of a variant, the comparison of every variant evaluated on the current
split, the champion decision and its promotion."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.pipelines.evaluate.comparison import (
    COMPARISON_COLUMNS,
    fairly_compared,
    is_better,
    metric_value,
    own_predictions,
    per_domain_columns,
)
from crack_pipeline.pipelines.evaluate.domain_figures import (
    domain_scores,
    paired_outcomes,
    report_domains,
    report_test_domains,
)
from crack_pipeline.pipelines.split.nodes import require_roots
from crack_pipeline.provenance import (
    data_fingerprint,
    learned_among,
    learned_mask,
    require_split_of,
    split_fingerprint,
)
from crack_pipeline.store_check import replaced_store_warning
from crack_pipeline.vision.data.listed_images import ListedImages
from crack_pipeline.vision.data.sources import image_keys
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_splits
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities, evaluate_probabilities
from crack_pipeline.vision.evaluation.metrics import format_metric, threshold_on_validation
from crack_pipeline.vision.explain.cam_strips import progress_overview
from crack_pipeline.vision.figures import figure_of
from crack_pipeline.vision.models.checkpoint import domain_threshold_values, threshold_basis

logger = logging.getLogger(__name__)


def model_threshold(
    checkpoint: dict[str, Any], val: ImageTensors, target_recall: float, device: str = "cpu"
) -> dict[str, Any]:
    """The decision threshold the checkpoint records; for a checkpoint from before thresholds were recorded,
    the one chosen on `val` for `target_recall`, as training now does."""
    if "threshold" in checkpoint:
        return checkpoint["threshold"]
    return threshold_on_validation(
        val.labels.numpy(), checkpoint_probabilities(checkpoint, val, device=device), target_recall
    )


def evaluate_checkpoint(
    checkpoint: dict[str, Any],
    split_tensors: dict[str, ImageTensors],
    target_recall: float,
    device: str,
    split_manifest: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Figure]]:
    """Test-split metrics at the model's decision threshold and at 0.5, predictions and figures; the model
    runs on `device`. With `split_manifest`, the figures show the photos read again from its files at their
    own aspect (the cache squashed a non-square photo into a square), one missing or changed left out."""
    if "test" not in split_tensors:
        raise InputError(
            "the split manifest has no test images (made with split.ratios.test: 0): nothing to evaluate "
            "on; split again with a test ratio above 0"
        )
    threshold = model_threshold(checkpoint, split_tensors["val"], target_recall, device)
    test = split_tensors["test"]
    result = evaluate_probabilities(
        checkpoint["variant"],
        test if split_manifest is None else ListedImages.of_split(test, split_manifest),
        checkpoint_probabilities(checkpoint, test, device=device),
        threshold["value"],
        domains=test.domains,
        domain_thresholds=domain_threshold_values(threshold),
    )
    metrics = {
        "variant": checkpoint["variant"],
        "checkpoint_id": checkpoint["checkpoint_id"],
        "split": "test",
        "split_fingerprint": checkpoint["split_fingerprint"],
        "threshold": threshold,
        **result.metrics,
    }
    return metrics, result.predictions, result.figures


def evaluate_variant(
    checkpoint: dict[str, Any],
    split_tensors: dict[str, ImageTensors],
    split_manifest: pd.DataFrame,
    train: dict[str, Any],
    device: str,
) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, Figure]]:
    """A freshly trained variant on the test split of `split_manifest` (the one it was trained on), at its
    decision threshold (chosen on validation when it was trained) and at 0.5.

    Returns:
        The metrics (with the variant's training facts), the predictions table, the Kaggle-style
        `filename,class` export at the threshold, and the figures by file name.
    """
    require_split_of(checkpoint, split_manifest)
    metrics, predictions, figures = evaluate_checkpoint(
        checkpoint, split_tensors, train["target_recall"], device, split_manifest
    )
    metrics["training"] = {
        "architecture": checkpoint["architecture"],
        "pretrained": checkpoint["train_config"].get("pretrained", False),
        # Those run (an older checkpoint: those configured), not the configured count min_steps raised
        "epochs": checkpoint.get("epochs_trained", checkpoint["train_config"].get("epochs")),
        "best_epoch": checkpoint["best_epoch"],
        "input_size": checkpoint["input_size"],
        "precision": checkpoint.get("precision"),
        "train_seconds": checkpoint.get("train_seconds", 0.0),
        "train_images_per_second": checkpoint.get("train_images_per_second", 0.0),
    }
    record = checkpoint.get("cam_progress")
    if record:
        metrics["cam_progress"] = {k: record[k] for k in ("method", "epochs", "pointing_game")}
        figures["cam_progress.png"] = figure_of(progress_overview(record, checkpoint["variant"]))
    submission = pd.DataFrame(
        {
            "filename": predictions.file.str.rsplit("/", n=1).str[-1],
            "class": (predictions.predicted_label == "crack").astype(int),
        }
    )
    at_threshold, threshold = metrics["at_threshold"], metrics["threshold"]
    where = (
        "each domain's threshold"
        if at_threshold["threshold"] is None
        else f"threshold {threshold['value']:.4f}"
    )
    logger.info(
        "evaluate: %s test n=%d at %s (%s): accuracy=%.4f recall=%s precision=%.4f roc_auc=%s",
        checkpoint["variant"],
        at_threshold["n"],
        where,
        threshold_basis(threshold),
        at_threshold["accuracy"],
        format_metric(at_threshold["recall"]),
        at_threshold["precision"],
        format_metric(at_threshold["roc_auc"]),
    )
    report_test_domains(checkpoint["variant"], metrics)
    return metrics, predictions, submission, figures


def compare_variants(
    evaluate: dict[str, Any],
    train: dict[str, Any],
    current_champion: dict | None,
    last_decision: dict | None,
    split_manifest: pd.DataFrame,
    split_tensors: dict[str, ImageTensors],
    device: str,
    *evaluations: dict | pd.DataFrame | None,
) -> tuple[pd.DataFrame, str, dict]:
    """One row per variant evaluated on the current split (trained in this run or alone with
    `--namespaces`), best first by `evaluate.champion_metric`, and the champion decision.

    Args:
        last_decision: the latest champion decision (None before the first): where it names a champion and
            the registry has none, the store was deleted or replaced since; the decision says so (`warning`).
        evaluations: the latest evaluation metrics of every defined variant, then their latest predictions,
            in the same order (None where there are none); those of another split are left out, as their
            test images differ.
    Returns:
        The comparison table, as Markdown too, and the decision: the best variant becomes champion only if
        it is strictly better than the current champion measured on this same test split (the current
        champion is re-evaluated here when needed, at its own input size and decision threshold), on the
        test images the champion did not learn from where it learned from some (`fairly_compared`).
    """
    metrics, predictions = evaluations[: len(evaluations) // 2], evaluations[len(evaluations) // 2 :]
    predictions_of = {m["variant"]: p for m, p in zip(metrics, predictions, strict=True) if m is not None}
    split = split_fingerprint(split_manifest)
    compared = [m for m in metrics if m is not None and m["split_fingerprint"] == split]
    if not compared:
        raise InputError(
            "no model variant has been evaluated on the current split: train one first "
            "(kedro run, or kedro run --pipelines=train --namespaces=<variant>)"
        )
    metric, higher = evaluate["champion_metric"], evaluate.get("champion_higher_is_better", True)
    rows = []
    for m in compared:
        training = m["training"]
        rows.append(
            {
                "variant": m["variant"],
                "architecture": training["architecture"],
                "pretrained": training["pretrained"],
                "train_precision": training.get("precision"),  # fp32 or bf16; "precision" is the metric
                "epochs": training["epochs"],
                "best_epoch": training["best_epoch"],
                "input_size": training["input_size"],
                "train_seconds": round(training["train_seconds"], 1),
                "train_images_per_second": round(training["train_images_per_second"], 1),
                **{column: metric_value(m, path) for column, path in COMPARISON_COLUMNS.items()},
                **per_domain_columns(m),
                "champion_metric": metric_value(m, metric),
                "checkpoint_id": m["checkpoint_id"],
            }
        )
    table = pd.DataFrame(rows).sort_values(
        "champion_metric", ascending=not higher, ignore_index=True, na_position="last"
    )
    best = table.iloc[0]
    decision = {
        "metric": metric,
        "split_fingerprint": split,
        # What the candidates were trained on: a retrain finds nothing new in data judged here already.
        "data_fingerprint": data_fingerprint(split_manifest),
        "candidate": best.variant,
        "candidate_checkpoint_id": best.checkpoint_id,
        "candidate_value": None if pd.isna(best.champion_metric) else float(best.champion_metric),
        "current": None,
        "current_value": None,
        "current_version": None,
    }
    if current_champion is not None:
        if current_champion["checkpoint_id"] == best.checkpoint_id:
            decision["current_value"] = decision["candidate_value"]
        else:
            again, again_predictions, _ = evaluate_checkpoint(
                current_champion,
                at_input_size(split_tensors, split_manifest, current_champion["input_size"]),
                train["target_recall"],
                device,
            )
            decision["current_value"] = metric_value(again, metric)
            decision["compared_on"] = "the test split"
            candidate = next(m for m in compared if m["variant"] == best.variant)
            # A split made after the champion (e.g. its environment's data moved, or a folder grown since)
            # may test it on images it learned from: its value is then flattered against the candidate's.
            test = split_manifest[split_manifest.split == "test"]
            decision["current_learned_test_images"] = learned_among(
                current_champion, test.sha256, "test images", "evaluate: the champion's re-evaluation"
            )
            if decision["current_learned_test_images"]:
                unlearned = image_keys(test[~learned_mask(current_champion, test.sha256)])
                decision.update(
                    fairly_compared(
                        metric,
                        unlearned,
                        (candidate, predictions_of.get(best.variant)),
                        (again, again_predictions),
                        current_champion["variant"],
                    )
                )
            else:  # a domain the pooled metric hides (as fairly_compared's), judged on the same images
                candidate_predictions = own_predictions(metric, candidate, predictions_of.get(best.variant))
                outcomes = paired_outcomes(candidate_predictions, again_predictions)
                decision["per_domain"] = domain_scores(candidate, again, outcomes)
        decision["current"] = current_champion["variant"]
        decision["current_version"] = current_champion.get("model_version")
    elif store_lost := replaced_store_warning(last_decision):
        # Not a first run: the champion is compared with nothing, which the user must hear of.
        decision["warning"] = store_lost
        logger.warning("evaluate: %s", store_lost)
    # Accuracy, where the metric was undefined on the test images a champion did not learn from
    higher_here = higher or decision.get("compared_by", metric) != metric
    decision["promote"] = is_better(decision["candidate_value"], decision["current_value"], higher_here)
    report_domains(decision)
    logger.info("evaluate: champion by %s: %s", metric, decision)
    return table, table.drop(columns=["checkpoint_id"]).to_markdown(index=False), decision


def at_input_size(
    split_tensors: dict[str, ImageTensors], split_manifest: pd.DataFrame, size: int
) -> dict[str, ImageTensors]:
    """The validation and test images at `size`: the decoded split when it has that size, else decoded
    again from disk (a model is always scored at the size it was trained at)."""
    if split_tensors["test"].images.shape[-1] == size:
        return split_tensors
    logger.info("evaluate: decoding the validation and test images again at %d px for the champion", size)
    manifest = require_roots(split_manifest)
    return decode_splits(manifest[manifest.split.isin(["val", "test"])], size)


def promote_champion(champion_decision: dict[str, Any]) -> dict[str, Any]:
    """The registry's `champion` to be: the candidate's checkpoint if promoted, the version it replaces."""
    return {
        "promote": bool(champion_decision["promote"]),
        "checkpoint_id": champion_decision["candidate_checkpoint_id"],
        "variant": champion_decision["candidate"],
        "replaces": champion_decision.get("current_version"),
    }
