"""Each test domain's figures, with what they rest on: a variant's, warned of where a domain has too few test
images to judge it by (README, "Keep what the model knew")."""

from __future__ import annotations

import logging
from typing import Any

from crack_pipeline.vision.evaluation.metrics import format_metric
from crack_pipeline.vision.evaluation.noise import few_images_note

logger = logging.getLogger(__name__)


def report_test_domains(variant: str, metrics: dict[str, Any]) -> None:
    """Logs each test domain's figures of a variant's evaluation `metrics`, and warns of a domain with too
    few test images of a class to judge the model there by (`few_images_note`): a site's 100 labels left it
    14, its balanced accuracy then reported beside 600 of the old surface's as if it were as sure."""
    for domain, scores in metrics.get("per_domain", {}).items():
        at = scores["at_threshold"]
        logger.info(
            "evaluate: %s test domain %s n=%d at threshold %.4f: balanced_accuracy=%s recall=%s roc_auc=%s",
            variant,
            domain,
            at["n"],
            at["threshold"],
            format_metric(at["balanced_accuracy"]),
            format_metric(at["recall"]),
            format_metric(at["roc_auc"]),
        )
        if note := few_images_note(at["tp"] + at["fn"], at["tn"] + at["fp"]):
            logger.warning(
                "evaluate: %s test domain %s: its figures rest on %s, too few to judge the model there by. "
                "Score photos of it kept out of its labels with kedro run --pipelines=evaluate_folder "
                "--params=evaluate_folder.path=DIR,evaluate_folder.domain=%s",
                variant,
                domain,
                note,
                domain,
            )
