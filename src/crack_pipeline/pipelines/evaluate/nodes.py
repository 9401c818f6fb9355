"""Nodes of the `evaluate` pipeline: metrics per variant, the comparison, the champion decision."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.vision.evaluation import evaluate_checkpoint
from crack_pipeline.vision.tensor_cache import ImageTensors

logger = logging.getLogger(__name__)


def evaluate_variant(
    checkpoint: dict[str, Any], split_tensors: dict[str, ImageTensors], evaluate: dict[str, Any]
) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, Figure]]:
    """Test-split metrics at 0.5 and at the threshold that reaches `evaluate.target_recall` on validation.

    Returns:
        The metrics (with the variant's training facts), the predictions table, the Kaggle-style
        `filename,class` export at the chosen threshold, and the figures by file name.
    """
    result = evaluate_checkpoint(
        checkpoint, split_tensors["val"], split_tensors["test"], evaluate["target_recall"]
    )
    threshold = result.metrics["threshold_at_target_recall"]
    metrics = {
        **result.metrics,
        "checkpoint_id": checkpoint["checkpoint_id"],
        "training": {
            "architecture": checkpoint["architecture"],
            "pretrained": checkpoint["train_config"].get("pretrained", False),
            "epochs": checkpoint["train_config"].get("epochs"),
            "best_epoch": checkpoint["best_epoch"],
            "input_size": checkpoint["input_size"],
            "train_seconds": checkpoint.get("train_seconds", 0.0),
            "train_images_per_second": checkpoint.get("train_images_per_second", 0.0),
        },
    }
    predictions = result.predictions.assign(
        predicted_label_at_threshold=lambda f: [
            "crack" if p >= threshold else "no_crack" for p in f.crack_probability
        ]
    )
    submission = pd.DataFrame(
        {
            "filename": predictions.file.str.rsplit("/", n=1).str[-1],
            "class": (predictions.crack_probability >= threshold).astype(int),
        }
    )
    at_half, at_target = metrics["at_half"], metrics["at_target_recall"]
    logger.info(
        "evaluate: %s test n=%d accuracy=%.4f roc_auc=%.4f | threshold %.4f for recall %.2f: "
        "recall=%.4f precision=%.4f",
        checkpoint["variant"],
        at_half["n"],
        at_half["accuracy"],
        at_half["roc_auc"],
        threshold,
        evaluate["target_recall"],
        at_target["recall"],
        at_target["precision"],
    )
    return (
        metrics,
        predictions,
        submission,
        result.figures,
    )


def metric_value(metrics: dict[str, Any], name: str) -> float:
    """A metric by dotted name, e.g. "at_target_recall.f1"."""
    value: Any = metrics
    for part in name.split("."):
        value = value[part]
    return float(value)


COMPARISON_COLUMNS = {
    "accuracy": "at_half.accuracy",
    "balanced_accuracy": "at_half.balanced_accuracy",
    "roc_auc": "at_half.roc_auc",
    "pr_auc": "at_half.pr_auc",
    "ece": "at_half.ece",
    "threshold_at_target_recall": "threshold_at_target_recall",
    "recall_at_target": "at_target_recall.recall",
    "precision_at_target": "at_target_recall.precision",
    "f1_at_target": "at_target_recall.f1",
}


def compare_variants(
    evaluate: dict[str, Any], current_champion: dict | None, split_tensors: dict[str, ImageTensors], *metrics
) -> tuple[pd.DataFrame, str, dict]:
    """One row per variant, best first by `evaluate.champion_metric`, and the champion decision.

    The best variant becomes champion only if it is strictly better than the current champion
    measured on this same test split (the current champion is re-evaluated here when needed).
    """
    metric, higher = evaluate["champion_metric"], evaluate.get("champion_higher_is_better", True)
    rows = []
    for m in metrics:
        training = m["training"]
        rows.append(
            {
                "variant": m["variant"],
                "architecture": training["architecture"],
                "pretrained": training["pretrained"],
                "epochs": training["epochs"],
                "best_epoch": training["best_epoch"],
                "input_size": training["input_size"],
                "train_seconds": round(training["train_seconds"], 1),
                "train_images_per_second": round(training["train_images_per_second"], 1),
                **{column: metric_value(m, path) for column, path in COMPARISON_COLUMNS.items()},
                "champion_metric": metric_value(m, metric),
                "checkpoint_id": m["checkpoint_id"],
            }
        )
    table = pd.DataFrame(rows).sort_values("champion_metric", ascending=not higher, ignore_index=True)
    best = table.iloc[0]
    decision = {
        "metric": metric,
        "candidate": best.variant,
        "candidate_checkpoint_id": best.checkpoint_id,
        "candidate_value": float(best.champion_metric),
        "current": None,
        "current_value": None,
    }
    if current_champion is not None:
        if current_champion["checkpoint_id"] == best.checkpoint_id:
            decision["current_value"] = float(best.champion_metric)
        else:
            again = evaluate_checkpoint(
                current_champion, split_tensors["val"], split_tensors["test"], evaluate["target_recall"]
            )
            decision["current_value"] = metric_value(again.metrics, metric)
        decision["current"] = current_champion["variant"]
        decision["current_version"] = current_champion.get("model_version")
    decision["promote"] = is_better(decision["candidate_value"], decision["current_value"], higher)
    logger.info("evaluate: champion by %s: %s", metric, decision)
    return table, table.drop(columns=["checkpoint_id"]).to_markdown(index=False), decision


def is_better(candidate: float, current: float | None, higher_is_better: bool = True) -> bool:
    """Strictly better than the current champion (a tie keeps the current one); anything beats none."""
    if current is None:
        return True
    return candidate > current if higher_is_better else candidate < current
