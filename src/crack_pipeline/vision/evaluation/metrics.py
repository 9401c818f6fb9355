"""Binary classification metrics for crack detection (positive class = crack), and threshold choice."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as sk

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.calibration import expected_calibration_error
from crack_pipeline.vision.models.checkpoint import threshold_basis, threshold_text
from crack_pipeline.vision.settings import ConfigError


def binary_metrics(y_true, probability, threshold: float | np.ndarray = 0.5) -> dict[str, float | None]:
    """Every reported metric at one threshold (a crack when probability >= threshold), or at one threshold
    per image (an array: each image's domain's; `threshold` is then recorded as None).

    Metrics that need both classes (balanced accuracy, ROC and PR AUC; specificity needs clean images,
    recall and F1 crack images) are None when the images hold one class only: undefined, not a number that
    looks like a score.
    """
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    predicted = (probability >= threshold).astype(int)
    counted = counts_at(y_true, probability, threshold)
    both_classes = len(np.unique(y_true)) == 2
    cracks = counted["recall"] is not None
    return {
        "threshold": float(threshold) if np.ndim(threshold) == 0 else None,
        "n": int(len(y_true)),
        "accuracy": float(sk.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(sk.balanced_accuracy_score(y_true, predicted)) if both_classes else None,
        "precision": counted["precision"],
        "recall": counted["recall"],
        "specificity": counted["specificity"],
        "f1": float(sk.f1_score(y_true, predicted)) if cracks else None,
        "roc_auc": float(sk.roc_auc_score(y_true, probability)) if both_classes else None,
        "pr_auc": float(sk.average_precision_score(y_true, probability)) if both_classes else None,
        "brier": float(sk.brier_score_loss(y_true, probability, pos_label=1)),
        "ece": expected_calibration_error(y_true, probability),
        **{name: counted[name] for name in ("tp", "fp", "tn", "fn")},
    }


def counts_at(y_true, probability, threshold: float | np.ndarray) -> dict[str, int | float | None]:
    """`binary_metrics`' four counts, precision, recall and specificity, from the counts alone: all a
    decision threshold records of what it gives on validation (the other metrics' curves, calibration and
    scikit-learn's input checks took 28 ms a call; choosing a variant's thresholds, four calls)."""
    y_true = np.asarray(y_true).astype(int)
    predicted = np.asarray(probability, dtype=float) >= threshold
    tp, fp = int(np.sum(predicted & (y_true == 1))), int(np.sum(predicted & (y_true == 0)))
    fn, tn = int(np.sum(~predicted & (y_true == 1))), int(np.sum(~predicted & (y_true == 0)))
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        # Without a crack, recall is 0/0 and F1 0 for every model with one false alarm: scikit-learn's 0
        # there read as "missed every crack", and tied a champion with any candidate on clean images.
        "recall": tp / (tp + fn) if tp + fn else None,
        "specificity": tn / (tn + fp) if tn + fp else None,
    }


def format_metric(value: float | None, digits: int = 4) -> str:
    """A metric for a report line: the number, or `undefined (one class)` where the images hold one class."""
    return "undefined (one class)" if value is None else f"{value:.{digits}f}"


def threshold_for_recall(y_true, probability, target_recall: float) -> float:
    """A threshold whose recall reaches `target_recall`, with the fewest false alarms that keep it, in the
    middle of the margin that leaves both unchanged.

    Missed cracks cost more than false alarms, so recall rules: the crack probability of the last crack
    needed bounds the threshold from above. Every threshold down to the highest clean image below it
    gives the same false alarms (and finds the same cracks or more), so the threshold sits halfway
    between the two in log-odds: a near-perfect model's "highest threshold" was 0.9999 on Özgenel, and
    a new site's cracks, a little less confident, were called clean. With no clean image below, the
    bound itself.
    """
    if not 0 < target_recall <= 1:
        raise ConfigError(f"train.target_recall must be in (0, 1], got {target_recall}")
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    positives = np.sort(probability[y_true == 1])[::-1]
    if len(positives) == 0:
        raise InputError(
            "the validation split has no crack image: no decision threshold can be chosen for recall; "
            "add crack images or change split.ratios"
        )
    needed = cracks_needed(target_recall, len(positives))
    upper = float(positives[max(needed, 1) - 1])
    below = probability[(y_true == 0) & (probability < upper)]
    if below.size == 0:
        return upper
    lower = float(below.max())
    middle = (_log_odds(upper) + _log_odds(lower)) / 2
    threshold = float(1 / (1 + np.exp(-middle)))
    # Rounding (probabilities a few ulps apart) must not leave the margin.
    return threshold if lower < threshold <= upper else upper


# p(crack) comes from a float32 softmax, 1 / (1 + e^-x) at log-odds x: exactly 1 from x = 24 ln 2, about 16.6
# (the sum 1 + e^-x rounds to 1 from e^-x = 2**-24), exactly 0 from x = -150 ln 2, about -104 (e^x rounds to
# 0 below half the smallest float32). A confident model's cracks are often all at 1: taken at infinite
# log-odds, the middle of the margin was the bound 1 itself, and a test crack at 0.99997 was called clean.
_SATURATED_LOG_ODDS = {1.0: float(24 * np.log(2)), 0.0: float(-150 * np.log(2))}


def cracks_needed(target_recall: float, cracks: int) -> int:
    """How many of `cracks` a threshold must find to reach `target_recall` (all of them when fewer than
    1 / (1 - target_recall): none may be missed)."""
    return int(np.ceil(target_recall * cracks - 1e-9))


def _log_odds(p: float) -> float:
    """The log-odds of `p`; of a saturated 0 or 1, the least extreme ones a float32 softmax rounds to it."""
    if p in _SATURATED_LOG_ODDS:
        return _SATURATED_LOG_ODDS[p]
    return float(np.log(p) - np.log1p(-p))


def threshold_for_false_alarms(y_val, p_val, false_alarm_rate: float) -> dict[str, Any]:
    """A one-class model's decision threshold: the lowest that calls at most `false_alarm_rate` of the
    validation split's clean images cracked (no crack needs to be known), with what it gives there."""
    if not 0 <= false_alarm_rate < 1:
        raise InputError(f"a false-alarm rate is a share in [0, 1), got {false_alarm_rate}")
    y_val, p_val = np.asarray(y_val).astype(int), np.asarray(p_val, dtype=float)
    clean = np.sort(p_val[y_val == 0])
    if not len(clean):
        raise InputError("the validation split has no clean image: no false-alarm threshold can be chosen")
    allowed = int(np.floor(false_alarm_rate * len(clean) + 1e-9))  # clean images at or above it
    value = float(np.nextafter(clean[len(clean) - allowed - 1], np.inf))
    reached = counts_at(y_val, p_val, value)
    return {
        "value": value,
        "false_alarm_rate": float(false_alarm_rate),
        "target_recall": None,
        "chosen_on": "clean validation images",
        "validation_recall": reached["recall"],
        "validation_precision": reached["precision"],
    }


def threshold_on_validation(
    y_val,
    p_val,
    target_recall: float,
    domains=None,
    domain_recalls: dict[str, float] | None = None,
    fewest_for_own: int = 0,
) -> dict[str, Any]:
    """The model's decision threshold: one that finds `target_recall` of the validation split's cracks
    with the fewest false alarms (`threshold_for_recall`), with what it gives there (and from how many
    cracks). Stored in the checkpoint, it is what every consumer uses.

    With the domain of every validation image, and several, also one per domain with cracks in validation
    (`per_domain`), for the domain's own recall in `domain_recalls` if there, else `target_recall`: one
    pooled threshold is set by the hardest domain and costs the others their specificity, so where an
    image's domain is known, its domain's threshold decides. Only from `fewest_for_own` validation images of
    each class: a new site's 8 cracks set its threshold at its faintest (0.0002, every clean image called
    cracked, README "Keep what the model knew"); a domain with fewer is in `pooled_for`, with its counts,
    and decided at the pooled threshold.
    """
    value = threshold_for_recall(y_val, p_val, target_recall)
    reached = counts_at(y_val, p_val, value)
    chosen: dict[str, Any] = {
        "value": value,
        "target_recall": float(target_recall),
        "chosen_on": "validation",
        "validation_recall": reached["recall"],
        "validation_precision": reached["precision"],
        "validation_specificity": reached["specificity"],
        "validation_cracks": reached["tp"] + reached["fn"],
    }
    if domains is not None and len(set(domains)) > 1:
        y_val, p_val, domains = (
            np.asarray(y_val).astype(int),
            np.asarray(p_val, dtype=float),
            np.asarray(domains),
        )
        recalls = domain_recalls or {}
        counts = {
            domain: {
                "crack": int(y_val[domains == domain].sum()),
                "clean": int((y_val[domains == domain] == 0).sum()),
            }
            for domain in sorted(set(domains.tolist()))
        }
        enough = {
            domain
            for domain, count in counts.items()
            if count["crack"] >= max(1, fewest_for_own) and count["clean"] >= fewest_for_own
        }
        chosen["per_domain"] = {
            domain: threshold_on_validation(
                y_val[domains == domain], p_val[domains == domain], recalls.get(domain, target_recall)
            )
            for domain in sorted(enough)
        }
        pooled_for = {domain: count for domain, count in counts.items() if domain not in enough}
        if pooled_for:
            chosen["pooled_for"] = pooled_for
    return chosen


def threshold_lines(threshold: dict[str, Any], cracks_in_validation: bool = True) -> list[str]:
    """The decision thresholds a model records in words, the pooled one then each domain's, with what each
    gives on validation, e.g. `for domain cfd_tiles: 0.0069 for recall 0.99 on validation (there: recall
    1.000 of 99 cracks, specificity 0.506; recall 0.99 of 99 cracks leaves none to miss: ...)`."""
    return (
        [_threshold_line(threshold, "train.target_recall", cracks_in_validation)]
        + [
            f"for domain {domain}: {_threshold_line(own, f'train.target_recall_by_domain.{domain}')}"
            for domain, own in threshold.get("per_domain", {}).items()
        ]
        + [
            f"for domain {domain}: the pooled one (its validation images: {count['crack']} crack, "
            f"{count['clean']} clean; one of its own needs train.own_threshold_min_images of each)"
            for domain, count in threshold.get("pooled_for", {}).items()
        ]
    )


def _threshold_line(threshold: dict[str, Any], setting: str, cracks_in_validation: bool = True) -> str:
    """One threshold in words; `setting`: where its target recall is set."""
    line = f"{threshold_text(threshold['value'])} for {threshold_basis(threshold)}"
    if not cracks_in_validation:
        return f"{line} (recall there: n/a, no crack in validation)"
    cracks, target = threshold.get("validation_cracks"), threshold.get("target_recall")
    there = f"recall {threshold['validation_recall']:.3f}" + (f" of {cracks} cracks" if cracks else "")
    if threshold.get("validation_specificity") is not None:
        there += f", specificity {threshold['validation_specificity']:.3f}"
    # Below 1 / (1 - target) cracks, the target's misses round down to none: every crack must be found, and
    # the faintest sets the threshold, however many clean images score above it.
    if cracks and target is not None and target < 1 and cracks_needed(target, cracks) == cracks:
        there += (
            f"; recall {target} of {cracks} cracks leaves none to miss: the faintest sets it "
            f"(a lower {setting} leaves some)"
        )
    return f"{line} (there: {there})"
