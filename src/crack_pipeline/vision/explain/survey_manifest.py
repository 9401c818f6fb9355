"""Whether a survey goes on with the settings a run asks: those its manifest (`survey.json`) recorded as it
began, compared with them, and, where they differ, a refusal that names each as a user sets it and says how
to go on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args, get_type_hints

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.settings import as_yaml, differences

_BANDS = "severity_bands"
# The crack-mask settings that take no null, as a user sets them.
_NEVER_NULL = {
    f"explain.crack_masks.{name}"
    for name, kind in get_type_hints(CrackMaskConfig).items()
    if type(None) not in get_args(kind)
}


def check_manifest(
    found: Mapping[str, Any] | None, wanted: Mapping[str, Any], where: str, champion: bool = True
) -> bool:
    """True when the survey at `where` is new (its manifest still to write); raises when it was started
    with other settings, since one survey never mixes models or settings (with `champion`, the survey
    explains with the champion, so the version it began with may be made the champion again)."""
    if found is None:
        return True
    differ = _differences(found, wanted)
    if differ:
        details = "; ".join(
            f"{_setting('.'.join(key))}: {as_yaml(then)} then, {as_yaml(now)} now"
            for key, then, now in differ
        )
        version = found.get("model_version")
        back = (
            f" Or make the model it began with the champion again: kedro run --pipelines=set_champion "
            f"--params=champion.version={version}"
            if champion and version is not None and version != wanted.get("model_version")
            else ""
        )
        raise InputError(
            f"survey {where} was started with other settings ({details}): it continues only as it began. "
            f"Start another survey with --params=explain.survey=<new name>.{_as_began(differ)}{back}"
        )
    return False


def _differences(
    found: Mapping[str, Any], wanted: Mapping[str, Any]
) -> list[tuple[tuple[str, ...], Any, Any]]:
    """`differences`, a table of one severity band compared whole, by what it does: its bound bounds nothing
    ({fine: 0.2}, allowed until refused before a run, did what {fine: null}, allowed, does)."""
    then, now = found.get(_BANDS), wanted.get(_BANDS)
    if not (_one_band(then) or _one_band(now)):
        return differences(found, wanted)
    differ = differences({**found, _BANDS: None}, {**wanted, _BANDS: None})
    if _one_band(then) and _one_band(now) and list(then) == list(now):
        return differ
    return sorted([*differ, ((_BANDS,), then, now)], key=lambda each: each[0])


def _one_band(bands: Any) -> bool:
    return isinstance(bands, Mapping) and len(bands) == 1


def _as_began(differ: list[tuple[tuple[str, ...], Any, Any]]) -> str:
    """How to go on with a survey whose settings `differ` only in ones given with --params (a default changed
    since it began: min_length 0.1 -> 0.2 refused every survey begun with the defaults); else nothing."""
    began = [
        # One severity band goes on as --params gives it where conf/ sets no table: unbounded, as it banded.
        (f"explain.{_BANDS}.{next(iter(then))}", None)
        if key == (_BANDS,) and now is None and _one_band(then)
        else (_setting(".".join(key)), then)
        for key, then, now in differ
    ]
    # A crack-mask setting a survey records only where it acts reads null then (segmenter_reach, where no
    # crack was followed): the setting that turned it off is among those given (follow_steps=0), and null,
    # given too, was refused ('segmenter_reach: Input should be a valid number').
    began = [(name, then) for name, then in began if then is not None or name not in _NEVER_NULL]
    given = [
        f"{name}={as_yaml(then)}"
        for name, then in began
        if name.startswith(("explain.", "tiling.")) and " " not in name and not isinstance(then, dict | list)
    ]
    again = f" Or go on with it as it began, adding to the command's --params: {','.join(given)}"
    return again if given and len(given) == len(began) else ""


def _setting(key: str) -> str:
    """The setting a manifest's `key` records, as a user sets it (`mm_per_pixel` is explain.mm_per_pixel, the
    crack segmenter's thresholds explain.crack_masks'); a key no setting gives alone (model, model_version,
    crack_segmenter: the champion and segmenter it used) or one of a section of its own (tiling) as it is."""
    if key.startswith("crack_segmenter.segmenter_"):
        return f"explain.crack_masks.{key.removeprefix('crack_segmenter.')}"
    if key == "input":
        return "explain.input_dir (its folder's name)"
    return key if key.startswith(("tiling.", "model", "crack_segmenter")) else f"explain.{key}"
