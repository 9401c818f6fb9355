"""Seeded, stratified train/val/test split that keeps groups (e.g. one parent photo) together."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from crack_pipeline.vision.errors import InputError

SPLITS = ("train", "val", "test")


class SplitError(InputError):
    """The requested split cannot be made from these images."""


def check_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    unknown = set(ratios) - set(SPLITS)
    if unknown:
        raise SplitError(f"split.ratios has unknown splits {sorted(unknown)}; use {list(SPLITS)}")
    values = {name: float(ratios.get(name, 0.0)) for name in SPLITS}
    if any(v < 0 for v in values.values()) or values["train"] <= 0:
        raise SplitError(f"split.ratios must be non-negative with train > 0, got {values}")
    if not math.isclose(sum(values.values()), 1.0, abs_tol=1e-6):
        raise SplitError(f"split.ratios must sum to 1, got {values} (sum {sum(values.values()):.4f})")
    return values


def _allocate(count: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Whole-image targets per split for one class; every split with a ratio above 0 gets at least 1."""
    targets = {name: round(count * ratios[name]) for name in ("val", "test")}
    targets["train"] = count - targets["val"] - targets["test"]
    return targets


def stratified_group_split(
    labels: Sequence[str],
    groups: Sequence[str],
    ratios: Mapping[str, float],
    seed: int,
    subset_fraction: float = 1.0,
    every_split: bool = True,
) -> np.ndarray:
    """One split name per item ("" for items left out by `subset_fraction`).

    Per class, groups are shuffled with `seed` and each goes to the split furthest below its
    target image count; a group's class is its majority label. With `every_split`, raises
    `SplitError` when a class has too few images (or groups) to put at least one in every split
    with a ratio above 0; without it, a handful of items simply go where the ratios say.
    """
    ratios = check_ratios(ratios)
    if not 0 < subset_fraction <= 1:
        raise SplitError(f"split.subset_fraction must be in (0, 1], got {subset_fraction}")
    frame = pd.DataFrame({"label": list(labels), "group": list(groups)})
    if frame.empty:
        raise SplitError("there are no usable images to split")
    rng = np.random.default_rng(seed)
    group_label = frame.groupby("group")["label"].agg(lambda s: s.value_counts().sort_index().idxmax())
    group_size = frame.groupby("group").size()
    assignment: dict[str, str] = {}
    needed = [name for name in SPLITS if ratios[name] > 0]
    for label in sorted(group_label.unique()):
        members = sorted(group_label.index[group_label == label])
        members = [members[i] for i in rng.permutation(len(members))]
        if subset_fraction < 1:
            keep_images = max(len(needed), round(group_size[members].sum() * subset_fraction))
            kept, total = [], 0
            for group in members:
                if total >= keep_images:
                    break
                kept.append(group)
                total += group_size[group]
            members = kept
        if every_split and len(members) < len(needed):
            raise SplitError(
                f"class {label!r} has {len(members)} image group(s); at least {len(needed)} are needed to "
                f"put one in each of {needed}. Add images, raise split.subset_fraction, or change "
                f"split.ratios."
            )
        targets = _allocate(int(group_size[members].sum()), ratios)
        filled = dict.fromkeys(SPLITS, 0)
        seeded = len(needed) if every_split else 0
        # Seed every needed split with one group first, so small classes still reach all splits.
        for name, group in zip(reversed(needed), members[:seeded], strict=False):
            assignment[group] = name
            filled[name] += group_size[group]
        for group in members[seeded:]:
            name = max(needed, key=lambda n: (targets[n] - filled[n]) / max(targets[n], 1))
            assignment[group] = name
            filled[name] += group_size[group]
    return frame["group"].map(assignment).fillna("").to_numpy()


def extend_split(
    labels: Sequence[str],
    groups: Sequence[str],
    previous: Sequence[str],
    ratios: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """A split of grown data that keeps every earlier assignment.

    `previous` holds each item's split in the earlier manifest ("" for new items). A group with
    any earlier member keeps that member's split (test first, then val, then train), so no image
    the champion was trained on reaches test and every earlier test image stays there; the new
    groups are split by `ratios` as `stratified_group_split` does.
    """
    frame = pd.DataFrame({"label": list(labels), "group": list(groups), "previous": list(previous)})
    unknown = set(frame.previous) - {"", *SPLITS}
    if unknown:
        raise SplitError(f"the previous split names unknown splits {sorted(unknown)}")
    rank = {name: i for i, name in enumerate(("test", "val", "train"))}
    earlier = frame[frame.previous != ""].groupby("group")["previous"].agg(lambda s: min(s, key=rank.get))
    assigned = frame.group.map(earlier).fillna("").to_numpy(dtype=object)
    new = assigned == ""
    if new.any():
        assigned[new] = stratified_group_split(
            frame.label[new], frame.group[new], ratios=ratios, seed=seed, every_split=False
        )
    return assigned.astype(str)
