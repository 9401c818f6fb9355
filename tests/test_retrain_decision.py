"""check_for_new_data: a retrain trains only on data no model was trained and judged on; a champion
replaced by hand keeps its place."""

import logging

import pandas as pd
import pytest

from crack_pipeline import tracking
from crack_pipeline.pipelines.retrain.nodes import RetrainConfig, check_for_new_data, retrain_config
from crack_pipeline.pipelines.set_champion.nodes import choose_champion
from crack_pipeline.provenance import data_fingerprint
from crack_pipeline.vision.settings import ConfigError


def index_of(*names: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": list(names),
            "sha256": [f"hash of {name}" for name in names],
            "label": [int(name.startswith("Positive")) for name in names],
            "domain": "site",
            "status": "ok",
        }
    )


OLD = index_of("Positive/a.png", "Negative/b.png")
NEW = index_of("Positive/a.png", "Negative/b.png", "Positive/c.png")


def champion_on(data: pd.DataFrame, version: str = "1") -> dict:
    return {
        "variant": "small_cnn",
        "checkpoint_id": f"ckpt{version}",
        "model_version": version,
        "data_fingerprint": data_fingerprint(data),
        "split_fingerprint": "s",
    }


def decision_on(data: pd.DataFrame, promote: bool) -> dict:
    return {
        "candidate": "resnet18",
        "current": "small_cnn",
        "current_version": "1",
        "promote": promote,
        "data_fingerprint": data_fingerprint(data),
    }


NO_FORCE, FORCE = {"force": False}, {"force": True}


def test_new_data_train_and_the_champion_s_own_do_not():
    assert check_for_new_data(NEW, None, None, NO_FORCE)["reason"] == "no champion yet"
    changed = check_for_new_data(NEW, champion_on(OLD), None, NO_FORCE)
    assert changed["retrain"] and changed["reason"] == "the data changed since the champion was trained"
    same = check_for_new_data(OLD, champion_on(OLD), None, NO_FORCE)
    assert not same["retrain"] and "are those the champion small_cnn (checkpoint ckpt1)" in same["message"]
    assert check_for_new_data(OLD, champion_on(OLD), None, FORCE)["reason"] == "retrain.force"


def test_data_whose_models_lost_are_not_trained_on_again_each_night():
    lost = check_for_new_data(NEW, champion_on(OLD), decision_on(NEW, promote=False), NO_FORCE)
    assert not lost["retrain"]
    assert (
        "the best of them, resnet18, did not beat the champion then, small_cnn (model version 1)"
        in lost["message"]
    )
    assert check_for_new_data(NEW, champion_on(OLD), decision_on(NEW, promote=False), FORCE)["retrain"]
    # Lost on other data: these are new.
    assert check_for_new_data(NEW, champion_on(OLD), decision_on(OLD, promote=False), NO_FORCE)["retrain"]


def test_a_won_decision_whose_champion_was_rolled_back_by_a_failed_run_trains_again():
    # The run promoted, then failed: its hook gave the alias back to version 1, trained on the old data.
    again = check_for_new_data(NEW, champion_on(OLD), decision_on(NEW, promote=True), NO_FORCE)
    assert again["retrain"] and again["reason"] == "the data changed since the champion was trained"


@pytest.mark.parametrize("had_champion", [True, False])
def test_a_champion_replaced_by_hand_is_not_trained_again_on_its_data(had_champion):
    replaced = {"version": "2", "variant": "resnet18", "checkpoint_id": "ckpt2", "data_fingerprint": None}
    replaced["data_fingerprint"] = data_fingerprint(NEW)
    alias, decision = choose_champion({"version": 1}, replaced if had_champion else None)
    assert alias == {"promote": True, "version": "1", "replaces": "2" if had_champion else None}
    if not had_champion:
        assert decision["data_fingerprint"] is None and not decision["promote"]
        return
    # Version 2 (the new data) was rolled back to version 1 (the old data): the next night keeps it.
    kept = check_for_new_data(NEW, champion_on(OLD), decision, NO_FORCE)
    assert not kept["retrain"]
    assert (
        "model version 2 (resnet18) was trained on, which a person replaced as the champion by version 1"
        in (kept["message"])
    )
    # New photos arrive: then it retrains.
    grown = index_of("Positive/d.png", "Negative/e.png")
    assert check_for_new_data(grown, champion_on(OLD), decision, NO_FORCE)["retrain"]


def test_retrain_settings_are_checked_and_null_explains_the_whole_test_split():
    assert retrain_config({"explain_sample": None}).explain_sample is None
    assert retrain_config({"force": "false", "explain_sample": "8"}) == RetrainConfig(False, 8)
    with pytest.raises(ConfigError, match=r"retrain\.explain_sample: .*greater than or equal to 1"):
        retrain_config({"explain_sample": -3})
    with pytest.raises(ConfigError, match=r"retrain\.forse: unknown setting"):
        retrain_config({"forse": True})


def test_a_champion_gone_from_the_registry_is_warned_of_not_taken_for_a_first_run(caplog, monkeypatch):
    """mlflow.db deleted (or mlflow.yml pointed at a new store): the retrain said "no champion yet" and
    promoted its model without a word of the champion the decisions on disk name."""
    caplog.set_level(logging.INFO)
    after_a_comparison = check_for_new_data(OLD, None, decision_on(OLD, promote=False), NO_FORCE)
    assert after_a_comparison["retrain"]
    assert after_a_comparison["reason"].startswith(
        "the MLflow registry has no champion, though the last champion decision "
        "(champion_decision.json) found model version 1 the champion: was the MLflow store ("
    )
    # Said in full in retrain_decision.json; the run's warning is compare_variants' (test_champion_decision).
    assert [r.levelname for r in caplog.records if "lost its champion" in r.message] == ["INFO"]
    # Set by hand, the champion is the version set (it said the one replaced), even with none before.
    _, by_hand = choose_champion({"version": 2}, {"version": "1", "variant": "small_cnn"})
    assert "found model version 2 the champion" in check_for_new_data(OLD, None, by_hand, NO_FORCE)["reason"]
    _, first = choose_champion({"version": 3}, None)
    assert "found model version 3 the champion" in check_for_new_data(OLD, None, first, NO_FORCE)["reason"]
    # A first run that failed after its promotion gave the alias back to none: no champion then either,
    # and its candidate stays registered.
    first = {**decision_on(OLD, promote=True), "current": None, "current_version": None}
    first["candidate_checkpoint_id"] = "ckpt1"
    registered = {"ckpt1": "1"}
    monkeypatch.setattr(tracking, "model_version_of", registered.get)
    assert check_for_new_data(OLD, None, first, NO_FORCE)["reason"] == "no champion yet"


def test_a_store_deleted_after_the_first_promotion_is_said_in_the_retrain_decision(monkeypatch):
    """The first run promoted with no champion before it (no current version in its decision): with mlflow.db
    deleted then, the next retrain said "no champion yet" and promoted its model without a word. The decision
    says so (the warning is the comparison's: test_champion_decision)."""
    first = {**decision_on(OLD, promote=True), "current": None, "current_version": None}
    first["candidate_checkpoint_id"] = "ckpt1"
    monkeypatch.setattr(tracking, "model_version_of", {}.get)  # a new store
    decided = check_for_new_data(OLD, None, first, NO_FORCE)
    assert decided["retrain"] and decided["reason"].startswith(
        "the MLflow registry has no champion, though the last champion decision (champion_decision.json) "
        "promoted resnet18 (checkpoint ckpt1), of which it holds no version: was the MLflow store ("
    )
