"""The crack-mask and segmenter settings a survey records in its manifest, so that a survey begun before a
setting existed continues with the value that does what was done then."""

from __future__ import annotations

import dataclasses
from typing import Any

from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig

# Segmenter settings added after surveys had begun, with the value that does what was done before them.
_SEGMENTER_AS_BEFORE = {
    "segmenter_steps": 1,
    "segmenter_levels": 1,
    "segmenter_finds": None,
    "segmenter_shortest": 0,
    "segmenter_kept": 0,
    "segmenter_gap": 0,
    "segmenter_margin": 0,
}


# Mask settings added after surveys had begun, with the value that does what was done before them.
_MASKS_AS_BEFORE = {
    "min_thinness": None,
    "join_gap": 0,
    "min_length": None,
    "follow_steps": 0,
    "follow_angle": None,
}


def mask_settings(masks: CrackMaskConfig, segmenter: dict[str, Any] | None) -> dict[str, Any]:
    """The crack-mask settings a survey records: the segmenter's (which one, and its thresholds) only when
    it is used, so that a survey begun before there was one continues with `explain.segmenter: false`;
    a segmenter setting added since (`_SEGMENTER_AS_BEFORE`) only when it differs from what was done before
    it, so that a survey begun then continues with that value; likewise a mask setting added since
    (`_MASKS_AS_BEFORE`)."""
    settings = dataclasses.asdict(masks)
    used = {key: settings.pop(key) for key in list(settings) if key.startswith("segmenter_")}
    if settings["follow_steps"]:  # following reaches segmenter_reach, with or without a segmenter
        settings["segmenter_reach"] = used["segmenter_reach"]
    else:  # where following looks changes nothing when nothing is followed
        settings["follow_angle"] = None
    for key, before in _MASKS_AS_BEFORE.items():
        if settings[key] == before:
            del settings[key]
    used = {
        key: value
        for key, value in used.items()
        if key not in _SEGMENTER_AS_BEFORE or value != _SEGMENTER_AS_BEFORE[key]
    }
    if segmenter is None:
        return {"crack_masks": settings}
    return {"crack_masks": settings, "crack_segmenter": {"id": segmenter["segmenter_id"], **used}}


def as_compared(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """`manifest` with each mask and segmenter setting it leaves out as what was done before the setting
    existed, to compare with another: a survey begun before `follow_steps` was on by default is said to
    have been begun with `follow_steps: 0`, the value that continues it, not `null`."""
    if manifest is None:
        return None
    filled = dict(manifest)
    for key, before in (("crack_masks", _MASKS_AS_BEFORE), ("crack_segmenter", _SEGMENTER_AS_BEFORE)):
        if key in filled:
            recorded = filled[key]
            filled[key] = recorded | {name: then for name, then in before.items() if name not in recorded}
    return filled
