"""The champion decision: the best variant of the comparison against the current champion, re-evaluated on the
same test split (at its own input size and decision threshold), on the test images it did not learn from
where it learned from some, each domain judged on the same images; a champion the registry lost is said."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.pipelines.evaluate.checkpoint_scores import at_input_size, evaluate_checkpoint
from crack_pipeline.pipelines.evaluate.comparison import (
    fairly_compared,
    is_better,
    metric_value,
    own_predictions,
)
from crack_pipeline.pipelines.evaluate.domain_figures import domain_scores, paired_outcomes, report_domains
from crack_pipeline.provenance import learned_among, learned_mask
from crack_pipeline.store_check import replaced_store_warning
from crack_pipeline.vision.data.sources import image_keys
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.evaluation.metrics import format_metric

logger = logging.getLogger(__name__)


def decide_champion(
    decision: dict[str, Any],
    higher: bool,
    candidate: tuple[dict[str, Any], pd.DataFrame | None],
    current_champion: dict | None,
    last_decision: dict | None,
    split_manifest: pd.DataFrame,
    split_tensors: dict[str, ImageTensors],
    target_recall: float,
    device: str,
) -> dict[str, Any]:
    """`decision` (the best variant's by its `metric`) completed with the current champion's value and
    whether the candidate is promoted: only if strictly better than the current champion measured on this
    same test split. `candidate`: the best variant's evaluation metrics and its latest predictions (None
    where there are none). `last_decision`: see `compare_variants`."""
    metric = decision["metric"]
    if current_champion is not None:
        if current_champion["checkpoint_id"] == decision["candidate_checkpoint_id"]:
            decision["current_value"] = decision["candidate_value"]
        else:
            again, again_predictions, _ = evaluate_checkpoint(
                current_champion,
                at_input_size(split_tensors, split_manifest, current_champion["input_size"]),
                target_recall,
                device,
                figures=False,  # its metrics and predictions are compared; its figures are not shown
            )
            decision["current_value"] = metric_value(again, metric)
            decision["compared_on"] = "the test split"
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
                        metric, unlearned, candidate, (again, again_predictions), current_champion["variant"]
                    )
                )
            else:  # a domain the pooled metric hides (as fairly_compared's), judged on the same images
                candidate_predictions = own_predictions(metric, *candidate)
                outcomes = paired_outcomes(candidate_predictions, again_predictions)
                decision["per_domain"] = domain_scores(candidate[0], again, outcomes)
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
    return decision


def decision_said(decision: dict[str, Any]) -> str:
    """The champion decision in one line of words: who is champion after it, by which figures, on which
    images (the whole decision is the `champion_decision` dataset; the log showed it as a Python dict)."""
    candidate, current = decision["candidate"], decision["current"]
    by = decision.get("compared_by", decision["metric"])
    figures = f"{by} {format_metric(decision['candidate_value'])}"
    version = f" (version {decision['current_version']})" if decision.get("current_version") else ""
    if current is None:
        if decision["promote"]:
            # not the first where the registry lost its champion, as the warning before this line says
            first = (
                "compared with none (the MLflow registry has no champion)"
                if "warning" in decision
                else "the first"
            )
            return f"evaluate: {candidate} becomes champion, {first}: {figures}"
        return f"evaluate: no champion: the best variant, {candidate}, has {figures}"
    if "compared_on" not in decision:  # the champion is the best variant's checkpoint itself
        return f"evaluate: {current}{version} stays champion, still the best variant: {figures}"
    figures += f" against {format_metric(decision['current_value'])} on {decision['compared_on']}"
    if decision["promote"]:
        return f"evaluate: {candidate} becomes champion in place of {current}{version}: {figures}"
    return (
        f"evaluate: {current}{version} stays champion; the best variant, {candidate}, is no better: {figures}"
    )
