"""Nodes of evaluation: test metrics of a variant, the comparison of every variant evaluated on the current
split, the champion decision (`champion`) and its promotion."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.pipelines.evaluate.champion import decide_champion, decision_said
from crack_pipeline.pipelines.evaluate.checkpoint_scores import evaluate_checkpoint
from crack_pipeline.pipelines.evaluate.comparison import COMPARISON_COLUMNS, metric_value, per_domain_columns
from crack_pipeline.pipelines.evaluate.domain_figures import report_test_domains
from crack_pipeline.provenance import data_fingerprint, require_split_of, split_fingerprint
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.metrics import format_metric
from crack_pipeline.vision.explain.cam_strips import progress_overview
from crack_pipeline.vision.figures import figure_of
from crack_pipeline.vision.models.checkpoint import threshold_basis, threshold_text

logger = logging.getLogger(__name__)


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
        else f"threshold {threshold_text(threshold['value'])}"
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
    report_test_domains(checkpoint["variant"], metrics, split_manifest)
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
    candidate = next(m for m in compared if m["variant"] == best.variant)
    decision = decide_champion(
        decision,
        higher,
        (candidate, predictions_of.get(best.variant)),
        current_champion,
        last_decision,
        split_manifest,
        split_tensors,
        train["target_recall"],
        device,
    )
    logger.info(decision_said(decision))
    return table, table.drop(columns=["checkpoint_id"]).to_markdown(index=False), decision


def promote_champion(champion_decision: dict[str, Any]) -> dict[str, Any]:
    """The registry's `champion` to be: the candidate's checkpoint if promoted, the version it replaces."""
    return {
        "promote": bool(champion_decision["promote"]),
        "checkpoint_id": champion_decision["candidate_checkpoint_id"],
        "variant": champion_decision["candidate"],
        "replaces": champion_decision.get("current_version"),
    }
