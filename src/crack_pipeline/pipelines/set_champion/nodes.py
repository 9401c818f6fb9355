"""Nodes of the `set_champion` pipeline: make a chosen registered model version the champion by hand."""

from __future__ import annotations

from typing import Any

from crack_pipeline.vision.errors import InputError


def choose_champion(
    champion: dict[str, Any], replaced: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The promotion of model version `champion.version` (e.g. a roll-back to the version before a bad one),
    and the champion decision it makes: the model it replaces is judged by hand, so a retrain on that
    model's data does not train it again (and undo the roll-back). `replaced`: the champion alias as it
    was (None when there was none).

    Raises:
        InputError: no version was given.
    """
    version = champion.get("version")
    if version is None:
        raise InputError(
            "champion.version is not set: kedro run --pipelines=set_champion --params=champion.version=<N>"
        )
    replaced = replaced or {}
    decision = {
        "set_by_hand": str(version),
        "replaced": replaced.get("variant"),
        "replaced_version": replaced.get("version"),
        "replaced_checkpoint_id": replaced.get("checkpoint_id"),
        "data_fingerprint": replaced.get("data_fingerprint"),  # the replaced model's data, judged by hand
        "promote": False,
    }
    # `replaces`: a run that fails after the alias moved gives it back (ChampionRollbackHook).
    return {"promote": True, "version": str(version), "replaces": replaced.get("version")}, decision
