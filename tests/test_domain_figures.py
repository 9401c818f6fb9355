"""Each test domain's figures with what they rest on: too few test images warned of (at split and at
evaluate), and a domain's fall under a promotion judged against noise on the same images."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from crack_pipeline.pipelines.evaluate.domain_figures import (
    domain_scores,
    paired_outcomes,
    report_domains,
    report_test_domains,
)
from crack_pipeline.pipelines.split.nodes import split_counts
from crack_pipeline.vision.evaluation.evaluate import labelled_metrics
from crack_pipeline.vision.evaluation.noise import balanced_accuracy_change, few_images_note


def test_the_change_in_balanced_accuracy_is_scikit_learns_and_its_error_that_of_the_paired_differences():
    rng = np.random.default_rng(0)
    cracked = rng.random(200) < 0.3
    right_before, right_after = rng.random(200) < 0.9, rng.random(200) < 0.8
    change = balanced_accuracy_change(cracked, right_before, right_after)

    def balanced(right):
        return balanced_accuracy_score(cracked, np.where(right, cracked, ~cracked))

    assert change["change"] == pytest.approx(balanced(right_after) - balanced(right_before))
    differences = [(right_after.astype(float) - right_before)[cracked == c] for c in (True, False)]
    by_hand = 0.5 * np.sqrt(sum(d.var(ddof=1) / len(d) for d in differences))
    assert change["standard_error"] == pytest.approx(by_hand)
    same = balanced_accuracy_change(cracked, right_before, right_before)
    assert same == {"change": 0.0, "standard_error": 0.0}, "images decided alike: no noise"
    assert balanced_accuracy_change([True, False, False], [1, 1, 1], [0, 1, 1])["standard_error"] is None


def _predictions(cracks: int, clean: int, missed: int, false_alarms: int, domain: str = "ozgenel"):
    """A model's predictions as evaluate records them (a `correct` column), on `cracks` + `clean` images
    of `domain`, the first `missed` cracks and the first `false_alarms` clean ones decided wrong."""
    labels = ["crack"] * cracks + ["no_crack"] * clean
    correct = [i >= missed for i in range(cracks)] + [i >= false_alarms for i in range(clean)]
    keys = [f"{domain}/{i}.jpg" for i in range(cracks + clean)]
    return pd.DataFrame({"file": keys, "domain": domain, "true_label": labels, "correct": correct})


def _evaluation(predictions: pd.DataFrame) -> dict:
    """The per-domain metrics of `predictions` (probabilities that decide each image as recorded)."""
    y = (predictions.true_label == "crack").to_numpy(dtype=int)
    probability = np.where(predictions.correct, y, 1 - y).astype(float)
    metrics, _ = labelled_metrics(y, probability, 0.5, predictions.domain.tolist(), {"ozgenel": 0.5})
    return metrics


def _decide(candidate: pd.DataFrame, champion: pd.DataFrame) -> dict:
    decision = {"promote": True, "candidate": "lite0", "metric": "at_threshold.f1", "current_version": "1"}
    outcomes = paired_outcomes(candidate, champion)
    return {**decision, "per_domain": domain_scores(_evaluation(candidate), _evaluation(champion), outcomes)}


def test_a_fall_of_two_images_in_600_is_said_within_noise_and_a_fall_of_twenty_warned_beyond_it(caplog):
    """The recipe of README's 'Keep what the model knew': the champion 0.9983 on Özgenel's 600 test images,
    the candidate 0.9950 -- two more images decided wrong -- was warned of as a fall, as a real loss was."""
    caplog.set_level("INFO", logger="crack_pipeline")
    champion = _predictions(300, 300, missed=0, false_alarms=1)
    decision = _decide(_predictions(300, 300, missed=2, false_alarms=1), champion)
    pair = decision["per_domain"]["ozgenel"]
    assert (round(pair["current"], 4), round(pair["candidate"], 4)) == (0.9983, 0.995)
    assert (pair["n"], pair["crack"], pair["clean"], pair["beyond_noise"]) == (600, 300, 300, False)
    report_domains(decision)
    assert "candidate 0.9950, champion 0.9983 (600 test images: 300 crack, 300 clean)" in caplog.text
    assert "fell on ozgenel 0.9983 -> 0.9950 (within noise: less than twice the standard error" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "WARNING"], "no sign of a loss: not warned of"
    caplog.clear()
    report_domains(_decide(_predictions(300, 300, missed=20, false_alarms=1), champion))
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert "fell on ozgenel 0.9983 -> 0.9650 (beyond noise: more than twice the standard error" in warning
    assert "champion.version=1" in warning


def test_a_fall_not_judged_against_noise_is_still_warned_of(caplog):
    """Without the candidate's predictions (missing, or not those of its metrics) the fall stays a warning."""
    champion = _predictions(30, 30, missed=0, false_alarms=1)
    candidate = _predictions(30, 30, missed=1, false_alarms=1)
    decision = {"promote": True, "candidate": "lite0", "metric": "at_threshold.f1", "current_version": "1"}
    unpaired = paired_outcomes(None, champion)
    decision["per_domain"] = domain_scores(_evaluation(candidate), _evaluation(champion), unpaired)
    report_domains(decision)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert "0.9833 -> 0.9667 (not judged against noise: no paired predictions of both models)" in warning
    caplog.clear()
    champion, candidate = _predictions(1, 30, 0, 0, "site_b"), _predictions(1, 30, 0, 3, "site_b")
    per_domain = domain_scores(
        _evaluation(candidate), _evaluation(champion), paired_outcomes(candidate, champion)
    )
    report_domains({**decision, "per_domain": per_domain})
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert "site_b 1.0000 -> 0.9500 (not judged against noise: under 2 test images of a class)" in warning


def test_a_domain_of_few_test_images_is_warned_of_at_split_and_at_evaluate_with_its_counts(caplog):
    """The recipe's site: 100 labels split 70 / 15 / 15 left it 14 test images, its balanced accuracy
    reported beside Özgenel's 600 with nothing to say it rests on so few."""
    assert few_images_note(300, 300) is None
    assert (
        few_images_note(6, 8)
        == "14 test images (6 crack, 8 clean): one image moves its balanced accuracy by up to 0.083"
    )
    manifest = pd.DataFrame(
        {
            "domain": ["ozgenel"] * 80 + ["site_b"] * 14,
            "label": (["crack", "no_crack"] * 40) + ["crack"] * 6 + ["no_crack"] * 8,
            "split": ["test"] * 94,
        }
    )
    split_counts(manifest)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("split: domain site_b keeps 14 test images (6 crack, 8 clean): one image")
    caplog.clear()
    caplog.set_level("INFO", logger="crack_pipeline")
    both = pd.concat([_predictions(40, 40, 0, 0), _predictions(6, 8, 1, 0, domain="site_b")])
    y = (both.true_label == "crack").to_numpy(dtype=int)
    metrics, _ = labelled_metrics(
        y, np.where(both.correct, y, 1 - y).astype(float), 0.5, both.domain.tolist()
    )
    report_test_domains("lite0", metrics)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        "evaluate: lite0 test domain site_b: its figures rest on 14 test images (6 crack"
    )
    assert "evaluate_folder.domain=site_b" in warning


def test_a_domain_left_without_test_images_is_warned_of_at_the_split(caplog):
    """A retrain on a new site's first labels, all from one wall photo: its 12 images went to train whole,
    and the split said nothing (a domain's few test images were warned of, none were not), the site then
    missing from every evaluation line and the champion decision."""
    manifest = pd.DataFrame(
        {
            "domain": ["ozgenel"] * 80 + ["site_b"] * 12,
            "label": (["crack", "no_crack"] * 40) + ["crack"] * 8 + ["no_crack"] * 4,
            "split": ["test"] * 80 + ["train"] * 12,
        }
    )
    split_counts(manifest)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        "split: domain site_b keeps no test image (train 12, val 0): no test figure judges a model there"
    )
    assert "evaluate_folder" in warning


def test_a_domain_of_clean_images_only_is_said_once_not_warned_of_as_too_few(caplog):
    """A folder of hard negatives added as a domain of its own, clean on purpose: its 100 test images were
    warned of at every split and every evaluation as 'too few to judge a model there by', with 'no balanced
    accuracy (one class)', however many it held."""
    assert few_images_note(0, 100) is None and few_images_note(100, 0) is None
    assert few_images_note(0, 20) == (
        "20 test images (0 crack, 20 clean): one image moves the share of clean images the model calls "
        "clean by 0.050"
    )
    assert few_images_note(0, 100, classes=2).endswith(
        "no balanced accuracy (its other class has no test image)"
    )
    caplog.set_level("INFO", logger="crack_pipeline")
    manifest = pd.DataFrame(
        {
            "domain": ["ozgenel"] * 80 + ["hard_negatives"] * 100,
            "label": (["crack", "no_crack"] * 40) + ["no_crack"] * 100,
            "split": ["test"] * 180,
        }
    )
    split_counts(manifest)
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == []
    assert (
        "  domain hard_negatives: train 0, val 0, test 100 (clean images only: the model is judged there by "
        "its false alarms, no balanced accuracy)" in caplog.messages
    )
    caplog.clear()
    report_test_domains(
        "lite0",
        _evaluation(
            pd.concat([_predictions(40, 40, 0, 0), _predictions(0, 100, 0, 3, domain="hard_negatives")])
        ),
    )
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == []
    [line] = [message for message in caplog.messages if "test domain hard_negatives" in message]
    assert "specificity=0.9700" in line, "what it is judged by, its 3 false alarms in 100"
    # A domain of both classes whose test images hold one: the split said so, and so does each evaluation.
    caplog.clear()
    both = pd.concat(
        [manifest, pd.DataFrame({"domain": ["hard_negatives"], "label": ["crack"], "split": ["train"]})]
    )
    report_test_domains(
        "lite0",
        _evaluation(
            pd.concat([_predictions(40, 40, 0, 0), _predictions(0, 100, 0, 3, domain="hard_negatives")])
        ),
        both,
    )
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert "hard_negatives" in warning and "its other class has no test image" in warning
    caplog.clear()  # the same domain trained on alone: no per-domain figures, the split's are its
    alone = both[both.domain == "hard_negatives"]
    evaluation = _evaluation(_predictions(0, 100, 0, 3, domain="hard_negatives"))
    evaluation.pop("per_domain", None)
    report_test_domains("lite0", evaluation, alone)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        "evaluate: lite0: its test figures rest on 100 test images (0 crack, 100 clean)"
    )


def test_the_champion_decision_pairs_the_candidates_predictions_with_the_champions(monkeypatch):
    """compare_variants: each domain's change in champion_decision.json judged on the two models' decisions
    of the same test images (the candidate's latest predictions, where they are its metrics')."""
    import types

    import torch

    from crack_pipeline.pipelines.evaluate import champion, nodes
    from crack_pipeline.provenance import split_fingerprint

    candidate_predictions = _predictions(40, 40, missed=2, false_alarms=0)
    champion_predictions = _predictions(40, 40, missed=0, false_alarms=0)
    manifest = pd.DataFrame(
        {
            "root": "/photos",
            "domain": "ozgenel",
            "path": candidate_predictions.file,
            "sha256": [str(i) for i in range(80)],
            "label": candidate_predictions.true_label,
            "split": "test",
        }
    )

    def evaluated(predictions):
        y = (predictions.true_label == "crack").to_numpy(dtype=int)
        predictions = predictions.assign(
            crack_probability=np.where(predictions.correct, y, 1 - y) * 0.8 + 0.1
        )
        metrics, _ = labelled_metrics(
            y, predictions.crack_probability.to_numpy(), 0.5, predictions.domain.tolist(), {"ozgenel": 0.5}
        )
        threshold = {"value": 0.5, "target_recall": 0.99, "per_domain": {"ozgenel": {"value": 0.5}}}
        return {**metrics, "threshold": threshold}, predictions

    candidate, predictions = evaluated(candidate_predictions)
    training = dict.fromkeys(["architecture", "pretrained", "epochs", "best_epoch", "input_size"], 1)
    candidate.update(
        variant="lite0",
        checkpoint_id="new",
        split_fingerprint=split_fingerprint(manifest),
        training={**training, "train_seconds": 1.0, "train_images_per_second": 1.0},
    )
    again, again_predictions = evaluated(champion_predictions)
    monkeypatch.setattr(champion, "evaluate_checkpoint", lambda *_, **__: (again, again_predictions, {}))
    champion = {"checkpoint_id": "old", "variant": "lite0", "input_size": 32, "model_version": "1"}
    tensors = {"test": types.SimpleNamespace(images=torch.zeros((1, 3, 32, 32), dtype=torch.uint8))}
    settings, train = {"champion_metric": "at_threshold.f1"}, {"target_recall": 0.99}

    def decide(predictions):
        return nodes.compare_variants(
            settings, train, champion, None, manifest, tensors, "cpu", candidate, predictions
        )[2]

    pair = decide(predictions)["per_domain"]["ozgenel"]
    assert (pair["n"], pair["candidate"], pair["current"], pair["beyond_noise"]) == (80, 0.975, 1.0, False)
    assert pair["standard_error"] == pytest.approx(0.5 * np.sqrt(np.var([1, 1] + [0] * 38, ddof=1) / 40))
    stale = predictions.assign(crack_probability=0.9)  # not those of its metrics: nothing to pair
    assert decide(stale)["per_domain"]["ozgenel"]["beyond_noise"] is None


def test_a_folder_of_its_own_with_few_test_images_is_warned_of_at_split_and_at_evaluate(caplog):
    """`from_folder` on 100 labelled photos (one domain): 15 test images, the champion chosen on them, and
    nothing said, where a second domain's 15 were warned of."""
    manifest = pd.DataFrame(
        {"domain": "photos", "label": ["crack"] * 9 + ["no_crack"] * 9, "split": ["test"] * 18}
    )
    split_counts(manifest)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("split: domain photos keeps 18 test images (9 crack, 9 clean): one image")
    caplog.clear()
    predictions = _predictions(9, 9, 1, 0, domain="photos")
    y = (predictions.true_label == "crack").to_numpy(dtype=int)
    metrics, _ = labelled_metrics(
        y, np.where(predictions.correct, y, 1 - y).astype(float), 0.5, ["photos"] * 18
    )
    report_test_domains("small_cnn", metrics)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        "evaluate: small_cnn: its test figures rest on 18 test images (9 crack, 9 clean)"
    )
    caplog.clear()
    split_counts(pd.DataFrame({"domain": "photos", "label": ["crack", "no_crack"] * 30, "split": "test"}))
    assert not [r for r in caplog.records if r.levelname == "WARNING"], "30 of each: enough"
