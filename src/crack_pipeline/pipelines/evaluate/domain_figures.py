"""Each test domain's figures, with what they rest on: a variant's, warned of where a domain has too few test
images to judge it by; in the champion decision, the candidate's balanced accuracy against the champion's,
on how many test images, and whether a fall is beyond noise, judged on the same images, paired (README,
"Keep what the model knew")."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crack_pipeline.vision.evaluation.metrics import format_metric
from crack_pipeline.vision.evaluation.noise import balanced_accuracy_change, beyond_noise, few_images_note
from crack_pipeline.vision.models.checkpoint import threshold_text

logger = logging.getLogger(__name__)


def report_test_domains(
    variant: str, metrics: dict[str, Any], split_manifest: pd.DataFrame | None = None
) -> None:
    """Logs each test domain's figures of a variant's evaluation `metrics`, and warns of a domain with too
    few test images of a class to judge the model there by (`few_images_note`): a site's 100 labels left it
    14, its balanced accuracy then reported beside 600 of the old surface's as if it were as sure. A test
    split of one domain (a folder of its own) is judged whole: 100 photos leave it 15 images. A domain of
    both classes in `split_manifest` whose test images hold one is warned of however many they are."""
    held = (
        {str(d): n for d, n in split_manifest.groupby("domain").label.nunique().items()}
        if split_manifest is not None and "domain" in split_manifest
        else {}
    )
    whole = max(held.values(), default=None)  # the classes a folder trained on alone holds
    if not metrics.get("per_domain") and (
        note := few_images_note(*_classes(metrics["at_threshold"]), classes=whole)
    ):
        logger.warning(
            "evaluate: %s: its test figures rest on %s, too few to judge the model by. Score photos kept out "
            "of its labels with kedro run --pipelines=evaluate_folder --params=evaluate_folder.path=DIR",
            variant,
            note,
        )
    for domain, scores in metrics.get("per_domain", {}).items():
        at = scores["at_threshold"]
        logger.info(
            "evaluate: %s test domain %s n=%d at threshold %s: balanced_accuracy=%s recall=%s "
            "specificity=%s roc_auc=%s",  # specificity: what a domain of clean images only is judged by
            variant,
            domain,
            at["n"],
            threshold_text(at["threshold"]),
            format_metric(at["balanced_accuracy"]),
            format_metric(at["recall"]),
            format_metric(at["specificity"]),
            format_metric(at["roc_auc"]),
        )
        if note := few_images_note(*_classes(at), classes=held.get(str(domain))):
            logger.warning(
                "evaluate: %s test domain %s: its figures rest on %s, too few to judge the model there by. "
                "Score photos of it kept out of its labels with kedro run --pipelines=evaluate_folder "
                "--params=evaluate_folder.path=DIR,evaluate_folder.domain=%s",
                variant,
                domain,
                note,
                domain,
            )


def _classes(at_threshold: dict[str, Any]) -> tuple[int, int]:
    """The crack and clean test images an evaluation's figures at its threshold rest on."""
    return at_threshold["tp"] + at_threshold["fn"], at_threshold["tn"] + at_threshold["fp"]


def paired_outcomes(
    candidate: pd.DataFrame | None, current: pd.DataFrame, keys: list[str] | None = None
) -> pd.DataFrame | None:
    """Each test image (of `keys` only, where given) both models decided, from their predictions: its
    `domain`, whether it is `cracked`, and whether the `candidate` and the `current` champion decided it
    right. None where the candidate's predictions are missing, hold no domain or lack an image."""
    if candidate is None or not {"domain", "correct"} <= set(candidate.columns) & set(current.columns):
        return None
    theirs = current if keys is None else current[current.file.isin(keys)]
    ours = candidate.drop_duplicates("file").set_index("file").correct.reindex(theirs.file)
    if ours.isna().any():
        return None
    return pd.DataFrame(
        {
            "domain": theirs.domain.to_numpy(),
            "cracked": (theirs.true_label == "crack").to_numpy(),
            "candidate": ours.astype(bool).to_numpy(),
            "current": theirs.correct.astype(bool).to_numpy(),
        }
    )


def domain_scores(
    candidate: dict[str, Any], current: dict[str, Any], outcomes: pd.DataFrame | None = None
) -> dict[str, dict[str, Any]]:
    """Each test domain's balanced accuracy at the decision threshold, of the candidate and of the current
    champion re-evaluated (evaluations on the same images), where the split has several domains; with its
    test images (`n`, `crack`, `clean`) and, from the `paired_outcomes`, the standard error of the change
    and whether the change is `beyond_noise` (None where not judged)."""
    theirs = current.get("per_domain", {})
    scores = {}
    for domain, ours in candidate.get("per_domain", {}).items():
        at = ours["at_threshold"]
        pair = {
            "candidate": at["balanced_accuracy"],
            "current": theirs.get(domain, {}).get("at_threshold", {}).get("balanced_accuracy"),
        }
        if "n" in at:
            pair.update(zip(("n", "crack", "clean"), (at["n"], *_classes(at)), strict=True))
        rows = None if outcomes is None else outcomes[outcomes.domain == domain]
        change = (
            {"standard_error": None}
            if rows is None or not len(rows)
            else balanced_accuracy_change(rows.cracked, rows.current, rows.candidate)
        )
        pair["standard_error"] = change["standard_error"]
        both = None not in (pair["candidate"], pair["current"])
        pair["beyond_noise"] = (
            beyond_noise(pair["candidate"] - pair["current"], pair["standard_error"]) if both else None
        )
        scores[domain] = pair
    return scores


def _images(pair: dict[str, Any]) -> str:
    return f"{pair['n']} test images: {pair['crack']} crack, {pair['clean']} clean" if "n" in pair else ""


def _fall(domain: str, pair: dict[str, Any]) -> str:
    """A domain's fall for a report line, judged against noise where it could be."""
    fall = f"{domain} {pair['current']:.4f} -> {pair['candidate']:.4f}"
    error, on = pair.get("standard_error"), f"on the same {pair['n']} images" if "n" in pair else "paired"
    if pair.get("beyond_noise") is None:
        few = "n" in pair and min(pair["crack"], pair["clean"]) < 2
        why = "under 2 test images of a class" if few else "no paired predictions of both models"
        return f"{fall} (not judged against noise: {why})"
    side = "beyond noise: more" if pair["beyond_noise"] else "within noise: less"
    return f"{fall} ({side} than twice the standard error of the change {on}, {error:.4f})"


def report_domains(decision: dict[str, Any]) -> None:
    """Logs each domain's balanced accuracy, candidate's against the champion's, on how many test images,
    and warns of a promotion by the pooled metric under which a domain fell beyond noise (or where that
    could not be judged): a site's fine-tuning that made the old surface worse replaced the champion
    silently (README, "Keep what the model knew"). A fall within noise is said, not warned of: two images
    of 600 decided the other way warned like a real loss."""
    per_domain = decision.get("per_domain", {})
    for domain, pair in per_domain.items():
        candidate, current = (format_metric(pair[k]) for k in ("candidate", "current"))
        counted = f" ({_images(pair)})" if "n" in pair else ""
        logger.info(
            "evaluate: domain %s balanced_accuracy: candidate %s, champion %s%s",
            domain,
            candidate,
            current,
            counted,
        )
    fell = {
        domain: pair
        for domain, pair in per_domain.items()
        if None not in (pair["candidate"], pair["current"]) and pair["candidate"] < pair["current"]
    }
    if not decision["promote"] or not fell:
        return
    within = [_fall(d, pair) for d, pair in fell.items() if pair.get("beyond_noise") is False]
    if within:
        logger.info(
            "evaluate: %s becomes champion; its balanced accuracy fell on %s: no sign of a loss there",
            decision["candidate"],
            ", ".join(within),
        )
    if real := [_fall(d, pair) for d, pair in fell.items() if pair.get("beyond_noise") is not False]:
        logger.warning(
            "evaluate: %s becomes champion by the pooled %s, though its balanced accuracy fell on %s "
            "(on %s): roll back with kedro run --pipelines=set_champion --params=champion.version=%s if that "
            "domain must not lose",
            decision["candidate"],
            decision["metric"],
            ", ".join(real),
            decision.get("compared_on", "the test split"),
            decision["current_version"],
        )
