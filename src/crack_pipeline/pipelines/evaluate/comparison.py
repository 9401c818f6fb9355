"""The champion metric of an evaluation: on its whole test split, or on the test images a champion did not
learn from, where it learned from some."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.pipelines.evaluate.domain_figures import domain_scores, paired_outcomes
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.evaluate import labelled_metrics
from crack_pipeline.vision.evaluation.metrics import binary_metrics
from crack_pipeline.vision.models.checkpoint import domain_threshold_values
from crack_pipeline.vision.settings import ConfigError

logger = logging.getLogger(__name__)


def check_evaluate_settings(evaluate: dict[str, Any]) -> None:
    """A `ConfigError` for an `evaluate.champion_metric` no evaluation has at its two thresholds (`at_f2`,
    `at_threshold.F1`, `f1`) or a `champion_higher_is_better` that is no true/false, before a run starts:
    the comparison read them only once every variant had trained."""
    name = evaluate.get("champion_metric")
    parts = name.split(".") if isinstance(name, str) else []
    measured = list(binary_metrics([0, 1], [0.25, 0.75]))
    # A threshold's section ends the name with one of its metrics; the JSON's other numbers (training.*,
    # threshold.*) are the comparison's to find.
    at_threshold = [i for i, part in enumerate(parts) if part in ("at_threshold", "at_half")]
    if len(parts) < 2 or any(i != len(parts) - 2 or parts[-1] not in measured for i in at_threshold):
        raise ConfigError(
            f"evaluate.champion_metric: at_threshold.<metric> or at_half.<metric> (a dotted name in "
            f"evaluation_metrics.json), the metric one of {', '.join(measured)}; not {name!r}"
        )
    higher = evaluate.get("champion_higher_is_better", True)
    if not isinstance(higher, bool):
        raise ConfigError(f"evaluate.champion_higher_is_better: true or false, not {higher!r}")


def metric_value(metrics: dict[str, Any], name: str) -> float | None:
    """A metric by dotted name, e.g. "at_threshold.f1"."""
    value: Any = metrics
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputError(
                f"evaluate.champion_metric: {name!r} is not in the evaluation metrics; use a name such as "
                f"at_threshold.f1 or at_half.roc_auc (the keys of evaluation_metrics.json)"
            )
        value = value[part]
    return None if value is None else float(value)


def fairly_compared(
    metric: str,
    unlearned: list[str],
    candidate: tuple[dict, pd.DataFrame | None],
    current: tuple[dict, pd.DataFrame],
    champion: str,
) -> dict[str, Any]:
    """The champion decision's values where the champion learned from some of the test images: `metric` of
    the candidate and of the champion (each an evaluation and its predictions) on the `unlearned` test
    images only (their keys), and what they were compared on. Where the metric is undefined there (too few
    images, or of one class), both are compared by their accuracy there (`compared_by`). Where no image is
    left, or the candidate's predictions are missing or are not those of its metrics, the whole test split's
    values stand, said in a warning."""
    evaluation, predictions = candidate
    if not unlearned:
        why = f"champion {champion} learned from every test image"
    elif predictions is None or not set(unlearned) <= set(predictions.file):
        why = f"the candidate's predictions on the test images {champion} did not learn from are missing"
    elif not _reproduces(metric, evaluation, predictions):
        why = (
            "the candidate's predictions are not those of its metrics (an evaluation stopped between the two)"
        )
    else:
        why = None
    if why:
        logger.warning(
            "evaluate: %s: compared on the whole test split, where the champion's score is flattered", why
        )
        return {"compared_on": "the test split"}
    compared_on = f"the {len(unlearned)} test images champion {champion} did not learn from"
    candidate_among = _metrics_among(unlearned, evaluation, predictions)
    current_among = _metrics_among(unlearned, *current)
    compared_by = metric
    if _value(candidate_among, metric) is None or _value(current_among, metric) is None:
        # Accuracy is defined on any image: on clean ones alone it counts false alarms, which the candidate
        # must not raise more of to win. (Before, the candidate won there against no value at all.)
        compared_by = _FALLBACK_METRIC
        logger.warning(
            "evaluate: %s is undefined on %s (too few, or of one class): compared by %s there",
            metric,
            compared_on,
            compared_by,
        )
    candidate_value, current_value = _value(candidate_among, compared_by), _value(current_among, compared_by)
    logger.info(
        "evaluate: compared on %s by %s: candidate %.4f, champion %.4f",
        compared_on,
        compared_by,
        candidate_value,
        current_value,
    )
    return {
        "compared_on": compared_on,
        "compared_by": compared_by,
        "candidate_value": candidate_value,
        "current_value": current_value,
        # each domain's, as fairly, its change judged on the same images
        "per_domain": domain_scores(
            candidate_among, current_among, paired_outcomes(predictions, current[1], unlearned)
        ),
    }


# Where the champion metric is undefined on the images the champion did not learn from: defined on any image.
_FALLBACK_METRIC = "at_threshold.accuracy"

# What the predictions of another model of the variant would hardly give too, beside the decision metric (an
# F1 on a few dozen images is often the same for the previous model, which missed other cracks).
_FINGERPRINT = ("at_threshold.tp", "at_threshold.fp", "at_threshold.tn", "at_threshold.fn", "at_half.brier")


def own_predictions(metric: str, evaluation: dict, predictions: pd.DataFrame | None) -> pd.DataFrame | None:
    """A candidate's latest predictions where they are those of its `evaluation` (`_reproduces`); None
    where missing or not."""
    return predictions if predictions is not None and _reproduces(metric, evaluation, predictions) else None


def _reproduces(metric: str, evaluation: dict, predictions: pd.DataFrame) -> bool:
    """Whether `predictions` give the evaluation's own `metric`, its confusion counts and its Brier score
    on all of its images (a metric missing from an older evaluation is not compared)."""
    again = _metrics_among(list(predictions.file), evaluation, predictions)
    for name in (metric, *_FINGERPRINT):
        try:
            recorded = metric_value(evaluation, name)
        except InputError:
            if name == metric:
                raise
            continue
        found = _value(again, name)
        # 1e-6: the predictions' probabilities pass through a CSV file, the metrics' did not
        if not (found == recorded or None not in (found, recorded) and abs(found - recorded) < 1e-6):
            return False
    return True


def _metrics_among(keys: list[str], evaluation: dict, predictions: pd.DataFrame) -> dict[str, Any]:
    """An evaluation's metrics on the images of `keys` only, from its predictions, each image decided at the
    threshold the evaluation decided it at."""
    rows = predictions[predictions.file.isin(keys)]
    threshold = evaluation["threshold"]
    among, _ = labelled_metrics(
        (rows.true_label == "crack").to_numpy(dtype=int),
        rows.crack_probability.to_numpy(dtype=float),
        threshold["value"],
        rows.domain.tolist() if "domain" in rows.columns else None,
        domain_threshold_values(threshold),
    )
    several = "per_domain" in evaluation and "domain" in rows.columns
    if several and "per_domain" not in among and rows.domain.nunique() == 1:
        # One domain of several left among these images (labelled_metrics splits only several): its figures
        # are these, each domain's faced with the champion's as on the whole split (README, "Keep what the
        # model knew"); before, none was, and a fall there was never judged.
        among["per_domain"] = {rows.domain.iloc[0]: dict(among)}
    return {**among, "threshold": threshold}


def _value(metrics: dict[str, Any], name: str) -> float | None:
    """`metric_value`, None where undefined (a per-domain metric of a domain with no image among them)."""
    try:
        return metric_value(metrics, name)
    except InputError:
        return None


# The comparison table's columns: each a metric, by its dotted name in an evaluation.
COMPARISON_COLUMNS = {
    "threshold": "threshold.value",
    "accuracy": "at_threshold.accuracy",
    "balanced_accuracy": "at_threshold.balanced_accuracy",
    "recall": "at_threshold.recall",
    "precision": "at_threshold.precision",
    "f1": "at_threshold.f1",
    "roc_auc": "at_threshold.roc_auc",
    "pr_auc": "at_threshold.pr_auc",
    "ece": "at_threshold.ece",
    "accuracy_at_half": "at_half.accuracy",
}

PER_DOMAIN_COLUMNS = ("balanced_accuracy", "roc_auc")


def per_domain_columns(metrics: dict[str, Any]) -> dict[str, float | None]:
    """`<domain> <metric>` at the decision threshold for each domain, where the test split has several."""
    return {
        f"{domain} {name}": scores["at_threshold"][name]
        for domain, scores in metrics.get("per_domain", {}).items()
        for name in PER_DOMAIN_COLUMNS
    }


def is_better(candidate: float | None, current: float | None, higher_is_better: bool = True) -> bool:
    """Strictly better than the current champion (a tie keeps the current one); anything measured beats
    no champion; an undefined metric never wins."""
    if candidate is None:
        return False
    if current is None:
        return True
    return candidate > current if higher_is_better else candidate < current
