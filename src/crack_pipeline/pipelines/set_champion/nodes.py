"""Nodes of the `set_champion` pipeline: make a chosen registered model version the champion by hand."""

from __future__ import annotations

from typing import Any

from crack_pipeline.vision.errors import InputError


def choose_champion(champion: dict[str, Any]) -> dict[str, Any]:
    """The promotion of model version `champion.version` (e.g. a roll-back to the version before a bad one).

    Raises:
        InputError: no version was given.
    """
    version = champion.get("version")
    if version is None:
        raise InputError(
            "champion.version is not set: kedro run --pipelines=set_champion --params=champion.version=<N>"
        )
    return {"promote": True, "version": str(version), "replaces": None}
