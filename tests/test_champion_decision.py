"""The champion decision of compare_variants: a variant without a value, the version a promotion replaces, the
size a champion is scored at."""

import types

import pandas as pd
import torch

from crack_pipeline import tracking
from crack_pipeline.pipelines.evaluate import checkpoint_scores, nodes
from crack_pipeline.pipelines.evaluate.champion import decision_said
from crack_pipeline.pipelines.retrain.nodes import check_for_new_data
from crack_pipeline.provenance import split_fingerprint

MANIFEST = pd.DataFrame(
    {
        "root": ["/photos"] * 4,
        "domain": ["site"] * 4,
        "path": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
        "sha256": ["1", "2", "3", "4"],
        "label": ["crack", "no_crack"] * 2,
        "split": ["train", "val", "test", "test"],
    }
)


def _evaluated(variant, f1):
    """An evaluation of `variant` on MANIFEST's split whose champion metric, F1, is `f1` (None: undefined)."""
    block = dict.fromkeys(
        ["accuracy", "balanced_accuracy", "recall", "precision", "roc_auc", "pr_auc", "ece"], 0.5
    )
    training = dict.fromkeys(["architecture", "pretrained", "epochs", "best_epoch", "input_size"], 1)
    return {
        "variant": variant,
        "checkpoint_id": f"c{variant}",
        "split_fingerprint": split_fingerprint(MANIFEST),
        "threshold": {"value": 0.5, "target_recall": 0.99},
        "at_half": {**block, "f1": f1},
        "at_threshold": {**block, "f1": f1},
        "training": {**training, "train_seconds": 1.0, "train_images_per_second": 1.0},
    }


def _decide(*evaluations):
    settings, train = {"champion_metric": "at_threshold.f1"}, {"target_recall": 0.99}
    table, _, decision = nodes.compare_variants(
        settings, train, None, None, MANIFEST, {}, "cpu", *evaluations, *[None] * len(evaluations)
    )
    return table, decision


def test_a_variant_whose_champion_metric_is_undefined_ranks_last_and_never_becomes_champion():
    table, decision = _decide(_evaluated("blank", None), _evaluated("fine", 0.6))
    assert table.variant.tolist() == ["fine", "blank"] and decision["candidate"] == "fine"
    _, alone = _decide(_evaluated("blank", None))
    assert alone["candidate_value"] is None and not alone["promote"], "not even where there is no champion"


def test_a_promotion_records_the_version_it_replaces_for_a_roll_back():
    decision = {"promote": True, "candidate_checkpoint_id": "cb", "candidate": "b", "current_version": "7"}
    assert nodes.promote_champion(decision) == {
        "promote": True,
        "checkpoint_id": "cb",
        "variant": "b",
        "replaces": "7",
    }


def test_a_champion_of_another_input_size_is_scored_on_its_validation_and_test_images_decoded_at_it(
    monkeypatch,
):
    decoded = {}

    def decode_splits(manifest, size):
        decoded.update(splits=sorted(set(manifest.split)), size=size)
        return "decoded again"

    monkeypatch.setattr(checkpoint_scores, "decode_splits", decode_splits)
    tensors = {"test": types.SimpleNamespace(images=torch.zeros((2, 3, 32, 32), dtype=torch.uint8))}
    at_input_size = checkpoint_scores.at_input_size
    assert at_input_size(tensors, MANIFEST, 32) is tensors, "the same size: the decoded split"
    assert at_input_size(tensors, MANIFEST, 64) == "decoded again"
    assert decoded == {"splits": ["test", "val"], "size": 64}


def test_a_store_deleted_since_the_last_decision_is_warned_of_not_taken_for_a_first_run(caplog, monkeypatch):
    """`kedro run` (or `from_folder`) after mlflow.db was deleted: the registry had no champion, and the run
    promoted its model uncompared without a word of the champion the last decision names (the retrain
    alone warned)."""
    settings, train = {"champion_metric": "at_threshold.f1"}, {"target_recall": 0.99}

    def decide(last_decision):
        evaluated = _evaluated("fine", 0.6)
        return nodes.compare_variants(
            settings, train, None, last_decision, MANIFEST, {}, "cpu", evaluated, None
        )[2]

    monkeypatch.setattr(tracking, "model_version_of", {}.get)  # a new store: no version of any checkpoint
    compared = {"promote": False, "candidate": "x", "candidate_checkpoint_id": "cx", "current_version": "2"}
    after_a_comparison = decide(compared)
    assert after_a_comparison["promote"] and after_a_comparison["warning"].startswith(
        "the MLflow registry has no champion, though the last champion decision (champion_decision.json) "
        "found model version 2 the champion: was the MLflow store ("
    )
    first = {
        "promote": True,
        "candidate": "fine",
        "candidate_checkpoint_id": "cfine",
        "current_version": None,
    }
    assert "promoted fine (checkpoint cfine), of which it holds no version" in decide(first)["warning"]
    assert [r.levelname for r in caplog.records if r.message.startswith("evaluate: the MLflow registry")] == [
        "WARNING"
    ] * 2
    assert "warning" not in decide(None), "a first run"
    # A first run that failed after promoting gave the alias back to none; its candidate stays registered.
    monkeypatch.setattr(tracking, "model_version_of", {"cfine": "1"}.get)
    assert "warning" not in decide(first)


def test_a_promotion_under_which_a_domain_fell_is_warned_of_with_each_domain_s_figures(caplog):
    """README's 'Keep what the model knew': a site's fine-tuning beside the old surface's photos is promoted
    by the pooled metric, which the new site's gains carry; the old surface's fall went unsaid (the
    champion's per-domain figures were not reported at all)."""
    from crack_pipeline.pipelines.evaluate.domain_figures import domain_scores, report_domains

    caplog.set_level("INFO", logger="crack_pipeline")

    def scored(**per_domain):
        return {"per_domain": {d: {"at_threshold": {"balanced_accuracy": b}} for d, b in per_domain.items()}}

    decision = {"promote": True, "candidate": "lite0", "metric": "at_threshold.f1", "current_version": "1"}
    decision["per_domain"] = domain_scores(scored(ozgenel=0.95, site_b=0.8), scored(ozgenel=0.99, site_b=0.5))
    assert decision["per_domain"]["ozgenel"] == {
        "candidate": 0.95,
        "current": 0.99,
        "standard_error": None,  # no predictions to pair: not judged against noise (test_domain_figures)
        "beyond_noise": None,
    }
    report_domains(decision)
    assert "domain ozgenel balanced_accuracy: candidate 0.9500, champion 0.9900" in caplog.text
    assert "though its balanced accuracy fell on ozgenel 0.9900 -> 0.9500" in caplog.text
    assert "champion.version=1" in caplog.text and "site_b 0.5" not in caplog.text
    caplog.clear()
    report_domains({**decision, "promote": False})
    assert "fell" not in caplog.text, "kept: nothing to warn of"


def test_a_retrain_after_its_store_was_deleted_warns_of_it_once(caplog, monkeypatch):
    """The retrain's decision to train and its comparison each warned of the deleted store, in one wording."""
    monkeypatch.setattr(tracking, "model_version_of", {}.get)  # a new store: no version of any checkpoint
    compared = {"promote": False, "candidate": "x", "candidate_checkpoint_id": "cx", "current_version": "2"}
    index = MANIFEST[["path", "sha256"]].assign(label=[1, 0, 1, 0], domain="site", status="ok")
    assert check_for_new_data(index, None, compared, {})["retrain"]
    settings, train = {"champion_metric": "at_threshold.f1"}, {"target_recall": 0.99}
    evaluated = _evaluated("fine", 0.6)
    nodes.compare_variants(settings, train, None, compared, MANIFEST, {}, "cpu", evaluated, None)
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "no champion, though" in r.message]
    assert len(warned) == 1 and warned[0].message.startswith("evaluate: ")
    # not "the first", which the warning just above it contradicted
    (said,) = [r.message for r in caplog.records if r.message.startswith("evaluate: fine becomes champion")]
    assert said == (
        "evaluate: fine becomes champion, compared with none (the MLflow registry has no champion): "
        "at_threshold.f1 0.6000"
    )


def test_the_decision_is_said_in_one_line_of_words_not_as_a_dict(caplog):
    """The log showed `evaluate: champion by at_threshold.f1: {'metric': ..., 'split_fingerprint': ...}`."""
    caplog.set_level("INFO", logger="crack_pipeline")
    _decide(_evaluated("blank", None), _evaluated("fine", 0.6))
    (said,) = [r.message for r in caplog.records if "champion" in r.message]
    assert said == "evaluate: fine becomes champion, the first: at_threshold.f1 0.6000"
    base = {"metric": "at_threshold.f1", "candidate": "b", "candidate_value": 0.9, "current": "a"}
    other = {**base, "current_value": 0.8, "current_version": "3", "compared_on": "the test split"}
    assert decision_said({**other, "promote": True}) == (
        "evaluate: b becomes champion in place of a (version 3): at_threshold.f1 0.9000 against 0.8000 on "
        "the test split"
    )
    assert decision_said({**other, "current_value": 0.95, "promote": False}) == (
        "evaluate: a (version 3) stays champion; the best variant, b, is no better: at_threshold.f1 0.9000 "
        "against 0.9500 on the test split"
    )
    itself = {**base, "current": "b", "current_value": 0.9, "current_version": "3", "promote": False}
    assert decision_said(itself) == "evaluate: b (version 3) stays champion, still the best variant: " + (
        "at_threshold.f1 0.9000"
    )
