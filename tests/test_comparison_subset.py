"""The champion and the candidate compared on the test images the champion did not learn from: none left,
all of one domain, or predictions that are not those of the metrics."""

import numpy as np
import pandas as pd

from crack_pipeline.pipelines.evaluate.comparison import fairly_compared
from crack_pipeline.vision.evaluation.evaluate import labelled_metrics


def _evaluation(keys, labels, probability, per_domain=None):
    """An evaluation's metrics and predictions as `evaluate_probabilities` records them."""
    threshold = {"value": 0.5, "target_recall": 0.99}
    domains = [key.split("/")[0] for key in keys] if per_domain else None
    if per_domain:
        threshold["per_domain"] = {d: {"value": v} for d, v in per_domain.items()}
    y = np.array([label == "crack" for label in labels], dtype=int)
    metrics, decided_at = labelled_metrics(y, np.array(probability), 0.5, domains, per_domain)
    table = pd.DataFrame({"file": keys, "true_label": labels, "crack_probability": probability})
    table["correct"] = (np.array(probability) >= decided_at) == y.astype(bool)
    if domains is not None:
        table.insert(1, "domain", domains)
    return {"threshold": threshold, **metrics}, table


def test_a_champion_that_learned_every_test_image_leaves_the_whole_split_to_decide(caplog):
    """A folder that is a subset of the one the champion learned from: no test image left to compare on
    (before: sklearn's ValueError 'Found empty input array' stopped compare_variants, and the run)."""
    keys, labels = ["site/a.jpg", "site/b.jpg"], ["crack", "no_crack"]
    candidate = _evaluation(keys, labels, [0.9, 0.1])
    champion = _evaluation(keys, labels, [0.9, 0.1])
    assert fairly_compared("at_threshold.f1", [], candidate, champion, "old") == {
        "compared_on": "the test split"
    }
    assert "champion old learned from every test image: compared on the whole test split" in caplog.text


def test_test_images_of_one_domain_are_decided_at_their_domains_threshold():
    """Two domains, each with its own threshold (A 0.2, B 0.8; pooled 0.5); the champion learned every test
    image of A, so the images compared are all of B: they are decided at B's threshold, as the evaluation
    decided them, and a per-domain metric of B is defined there (before: the pooled 0.5, and None)."""
    keys = ["A/1.jpg", "A/2.jpg", "B/1.jpg", "B/2.jpg", "B/3.jpg", "B/4.jpg"]
    labels = ["crack", "no_crack", "crack", "no_crack", "crack", "no_crack"]
    thresholds = {"A": 0.2, "B": 0.8}
    # Candidate: B's cracks at 0.9, B's clean at 0.6 -> all right at 0.8, clean ones wrong at 0.5.
    candidate = _evaluation(keys, labels, [0.3, 0.1, 0.9, 0.6, 0.9, 0.6], thresholds)
    # Champion: B's cracks at 0.7 -> missed at 0.8, found at 0.5; B's clean at 0.1.
    champion = _evaluation(keys, labels, [0.3, 0.1, 0.7, 0.1, 0.7, 0.1], thresholds)
    unlearned = keys[2:]
    decided = fairly_compared("at_threshold.accuracy", unlearned, candidate, champion, "old")
    assert (decided["candidate_value"], decided["current_value"]) == (1.0, 0.5)
    # Each domain's figures (logged, and warned of where one fell) on those images too, not the champion's
    # flattered by A's, which it learned from; B's change judged on those same images, paired: every crack
    # the champion missed found, nothing else decided otherwise.
    assert decided["per_domain"] == {
        "B": {
            "candidate": 1.0,
            "current": 0.5,
            "n": 4,
            "crack": 2,
            "clean": 2,
            "standard_error": 0.0,
            "beyond_noise": True,
        }
    }
    per_domain = fairly_compared("per_domain.B.at_threshold.accuracy", unlearned, candidate, champion, "old")
    assert (per_domain["candidate_value"], per_domain["current_value"]) == (1.0, 0.5)


def test_predictions_older_than_the_metrics_leave_the_whole_split_to_decide(caplog):
    """A run stopped between saving a variant's metrics and its predictions leaves the predictions of its
    previous evaluation beside the new metrics: its old probabilities are not judged as the new model's."""
    keys, labels = ["site/a.jpg", "site/b.jpg", "site/c.jpg"], ["crack", "no_crack", "crack"]
    metrics, _ = _evaluation(keys, labels, [0.9, 0.1, 0.8])
    _, older_predictions = _evaluation(keys, labels, [0.2, 0.1, 0.3])
    champion = _evaluation(keys, labels, [0.9, 0.9, 0.9])
    decided = fairly_compared(
        "at_threshold.accuracy", keys[1:], (metrics, older_predictions), champion, "old"
    )
    assert decided == {"compared_on": "the test split"}
    assert "the candidate's predictions are not those of its metrics" in caplog.text


def test_older_predictions_with_the_same_decision_metric_are_not_taken_for_the_metrics(caplog):
    """The previous model of the variant, on the same split, missed another crack than the new one: the
    same F1 on the whole split, so F1 alone cannot tell its predictions from the new model's; on the images
    compared (b, c, d) they differ (the new model missed b, the old one a)."""
    keys = ["site/a.jpg", "site/b.jpg", "site/c.jpg", "site/d.jpg"]
    labels = ["crack", "crack", "crack", "no_crack"]
    metrics, _ = _evaluation(keys, labels, [0.9, 0.3, 0.8, 0.1])  # the new model: misses b
    _, older_predictions = _evaluation(keys, labels, [0.2, 0.9, 0.8, 0.1])  # the old one: misses a
    champion = _evaluation(keys, labels, [0.9, 0.9, 0.9, 0.1])
    decided = fairly_compared("at_threshold.f1", keys[1:], (metrics, older_predictions), champion, "old")
    assert decided == {"compared_on": "the test split"}
    assert "the candidate's predictions are not those of its metrics" in caplog.text


def test_test_images_left_of_one_domain_still_face_the_champions_on_that_domain():
    """Two domains at the pooled threshold (too few validation images for one of their own); the champion
    learned every test image of A, so those compared are all of B: champion_decision.json's per_domain was
    empty, no `evaluate: domain B balanced_accuracy: candidate ..., champion ...` line was logged, and a fall
    on B under a promotion was never judged."""
    keys = ["A/1.jpg", "A/2.jpg", "B/1.jpg", "B/2.jpg", "B/3.jpg", "B/4.jpg"]
    labels = ["crack", "no_crack", "crack", "no_crack", "crack", "no_crack"]

    def evaluation(probability):
        y = np.array([label == "crack" for label in labels], dtype=int)
        domains = [key.split("/")[0] for key in keys]
        metrics, _ = labelled_metrics(y, np.array(probability), 0.5, domains, {})
        table = pd.DataFrame({"file": keys, "domain": domains, "true_label": labels})
        table["crack_probability"] = probability
        table["correct"] = (np.array(probability) >= 0.5) == y.astype(bool)
        return {"threshold": {"value": 0.5, "target_recall": 0.99}, **metrics}, table

    candidate = evaluation([0.3, 0.1, 0.9, 0.1, 0.9, 0.1])  # B: all right
    champion = evaluation([0.3, 0.1, 0.9, 0.1, 0.2, 0.1])  # B: one crack missed
    decided = fairly_compared("at_threshold.accuracy", keys[2:], candidate, champion, "old")
    assert (decided["candidate_value"], decided["current_value"]) == (1.0, 0.75)
    assert decided["per_domain"].keys() == {"B"}
    pair = decided["per_domain"]["B"]
    assert (pair["candidate"], pair["current"], pair["n"], pair["crack"], pair["clean"]) == (
        1.0,
        0.75,
        4,
        2,
        2,
    )
