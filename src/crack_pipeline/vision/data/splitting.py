"""Seeded, stratified train/val/test split that keeps groups (e.g. one parent photo) together."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from crack_pipeline.vision.errors import InputError

SPLITS = ("train", "val", "test")

logger = logging.getLogger(__name__)


class SplitError(InputError):
    """The requested split cannot be made from these images: `problem` says why, `remedy` (if any) what the
    pipeline's settings can do about it, so that a caller that does not read those settings (a benchmark)
    can say its own."""

    def __init__(self, problem: str, remedy: str = "") -> None:
        super().__init__(f"{problem}. {remedy}" if remedy else problem)
        self.problem = problem


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


def check_subset_fraction(fraction: object) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise SplitError(f"split.subset_fraction must be in (0, 1], got {fraction!r}")


def check_split_settings(split: Mapping[str, object] | None) -> None:
    """`split.ratios` and `split.subset_fraction` as `stratified_group_split` checks them, before a run: a
    run that trains the crack segmenter first learned of impossible ratios only after it."""
    split = split or {}
    if check_ratios(split.get("ratios") or {})["val"] <= 0:
        # Training would run every epoch for nothing: without validation images no epoch is better than
        # the starting weights, and no decision threshold can be chosen.
        raise SplitError(
            "split.ratios.val must be above 0: training keeps the epoch of lowest validation loss and "
            "chooses each model's decision threshold on the validation images"
        )
    seed = split.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SplitError(f"split.seed must be a whole number, e.g. 42, not {seed!r}")
    check_subset_fraction(split.get("subset_fraction", 1.0))


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
    already: Mapping[str, Mapping[str, int]] | None = None,
) -> np.ndarray:
    """One split name per item ("" for items left out by `subset_fraction`).

    Per class, groups are shuffled with `seed` and each goes to the split furthest below its
    target image count; a group's class is its majority label. With `every_split`, raises
    `SplitError` when a class has too few images (or groups) to put at least one in every split
    with a ratio above 0; without it, a handful of items simply go where the ratios say.
    `already` ({class: {split: images}}) counts images split before: the targets are of those and these
    together, so images that arrive a few at a time still fill every split by the ratios.
    """
    ratios = check_ratios(ratios)
    check_subset_fraction(subset_fraction)
    frame = pd.DataFrame({"label": list(labels), "group": list(groups)})
    if frame.empty:
        raise SplitError("there are no usable images to split")
    rng = np.random.default_rng(seed)
    # Each group's most frequent label (ties: the first by name), in one pass over all groups.
    counts = frame.groupby(["group", "label"]).size().reset_index(name="n")
    majority = counts.sort_values(["group", "n", "label"], ascending=[True, False, True]).drop_duplicates(
        "group"
    )
    group_label = majority.set_index("group")["label"]
    group_size = frame.groupby("group").size()
    needed = [name for name in SPLITS if ratios[name] > 0]
    # Placed first, with a generator of their own (the other groups are shuffled as before).
    placed = _minority_holders(counts, group_label, needed, seed) if every_split else {}
    assignment: dict[str, str] = dict(placed)
    for label in sorted(group_label.unique()):
        members = sorted(group_label.index[group_label == label])
        members = [members[i] for i in rng.permutation(len(members))]
        own_placed = [group for group in members if group in placed]
        members = [group for group in members if group not in placed]
        empty = [name for name in needed if name not in {placed[group] for group in own_placed}]
        if subset_fraction < 1:
            everyone = group_size[members].sum() + group_size[own_placed].sum()
            keep_images = max(len(needed), round(everyone * subset_fraction)) - group_size[own_placed].sum()
            kept, total = [], 0
            for group in members:
                # enough images, and a group for each split no placed group of the class holds
                if total >= keep_images and (not every_split or len(kept) >= len(empty)):
                    break
                kept.append(group)
                total += group_size[group]
            members = kept
        members_with_placed = len(members) + len(own_placed)
        if every_split and members_with_placed >= len(needed) and len(members) < len(empty):
            # two of its groups went to one split, each carrying a class the majority of no group
            raise SplitError(
                f"class {label!r} has {members_with_placed} image group(s), but "
                f"{len(own_placed)} of them hold classes the majority of no group and went to "
                f"{sorted({placed[group] for group in own_placed})}: {' and '.join(empty[len(members) :])} "
                f"would have none of it",
                "Add images, or group the images otherwise (ingest.group_pattern).",
            )
        if every_split and members_with_placed < len(needed):
            holding = counts.group[counts.label == label].nunique()
            mixed = (
                f" ({holding - members_with_placed} more hold some of its images, but more of another class: "
                f"a group counts for the class most of its images have)"
                if holding > members_with_placed and subset_fraction == 1
                else ""
            )
            raise SplitError(
                f"class {label!r} has {members_with_placed} image group(s){mixed}; at least {len(needed)} "
                f"are needed to put one in each of {needed}",
                "Add images, raise split.subset_fraction, or change split.ratios.",
            )
        before = (already or {}).get(label, {})
        total_images = int(group_size[members].sum() + group_size[own_placed].sum()) + sum(before.values())
        targets = _allocate(total_images, ratios)
        filled = {name: int(before.get(name, 0)) for name in SPLITS}
        for group in own_placed:
            filled[placed[group]] += group_size[group]
        seeded = len(empty) if every_split else 0
        # Seed every needed split with one group first, so small classes still reach all splits.
        for name, group in zip(reversed(empty), members[:seeded], strict=False):
            assignment[group] = name
            filled[name] += group_size[group]
        for group in members[seeded:]:
            name = max(needed, key=lambda n: (targets[n] - filled[n]) / max(targets[n], 1))
            assignment[group] = name
            filled[name] += group_size[group]
    split_of = frame["group"].map(assignment).fillna("")
    if every_split:
        _require_every_class_everywhere(frame.label, split_of, needed, group_label)
    return split_of.to_numpy()


def _minority_holders(
    counts: pd.DataFrame, group_label: pd.Series, needed: list[str], seed: int
) -> dict[str, str]:
    """{group: split}: for each class the majority of no group (cracks in wall photos whose patches are
    mostly clean), which stratifying by majority never places, one group holding some of it in each of the
    `needed` splits, chosen at random (`seed`); fewer where fewer groups hold it (`_require_every_class_
    everywhere` then says so)."""
    rng = np.random.default_rng((seed, 1))
    placed: dict[str, str] = {}
    for label in sorted(set(counts.label) - set(group_label)):
        holders = sorted(set(counts.group[counts.label == label]))
        free = [holders[i] for i in rng.permutation(len(holders)) if holders[i] not in placed]
        reached = {placed[group] for group in holders if group in placed}
        for name in needed:
            if name not in reached and free:
                # rather a group whose class no group placed before holds in this split (two minority
                # classes could otherwise send two groups of a class to one split and leave another
                # without it); the random order otherwise
                used = {group_label[group] for group, split in placed.items() if split == name}
                pick = next((group for group in free if group_label[group] not in used), free[0])
                free.remove(pick)
                placed[pick] = name
    return placed


def _require_every_class_everywhere(
    labels: pd.Series, split_of: pd.Series, needed: list[str], group_label: pd.Series
) -> None:
    """A `SplitError` for a class the majority of no group whose images still miss one of the `needed`
    splits (`_minority_holders` found fewer groups holding it than splits): a test split without cracks
    scores nothing, a validation split without them chooses no threshold."""
    for label in sorted(set(labels) - set(group_label)):
        present = set(split_of[(labels == label) & (split_of != "")])
        missing = [name for name in needed if name not in present]
        if missing:
            raise SplitError(
                f"class {label!r} is the majority of none of its image groups (a group counts for the class "
                f"most of its images have), and its images fall only in {sorted(present) or 'no split'}: "
                f"{' and '.join(missing)} would have none (at least {len(needed)} groups must hold some of "
                f"it)",
                "Add images of it, or group the images otherwise (ingest.group_pattern)",
            )


def extend_split(
    labels: Sequence[str],
    groups: Sequence[str],
    previous: Sequence[str],
    ratios: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """A split of grown data that keeps every earlier assignment.

    `previous` holds each item's split in the earlier manifest ("" for new items). Every earlier image
    keeps its split, so no image the champion was trained on reaches test and every earlier test image
    stays there. A new image of a group with earlier members joins them (test first, then val, then
    train: a group whose earlier members span several splits, after its grouping changed, is warned of).
    The new groups are split as `stratified_group_split` does, towards `ratios` of all the images of their
    class, earlier ones included.
    """
    frame = pd.DataFrame({"label": list(labels), "group": list(groups), "previous": list(previous)})
    unknown = set(frame.previous) - {"", *SPLITS}
    if unknown:
        raise SplitError(f"the previous split names unknown splits {sorted(unknown)}")
    rank = {name: i for i, name in enumerate(("test", "val", "train"))}
    earlier = frame[frame.previous != ""].groupby("group")["previous"]
    spanning = int((earlier.nunique() > 1).sum())
    if spanning:
        logger.warning(
            "split: %d image group(s) already span several splits (their grouping changed: a new "
            "group_pattern, or a copy of an image that joins two groups); each earlier image keeps its "
            "split, and a new image of such a group goes to the first of test, val, train it spans",
            spanning,
        )
    joined = frame.group.map(earlier.agg(lambda s: min(s, key=rank.get))).fillna("")
    assigned = frame.previous.where(frame.previous != "", joined).to_numpy(dtype=object)
    new = assigned == ""
    if new.any():
        counted = pd.crosstab(frame.label[~new].to_numpy(), assigned[~new])
        already = {label: counted.loc[label].to_dict() for label in counted.index}
        assigned[new] = stratified_group_split(
            frame.label[new], frame.group[new], ratios=ratios, seed=seed, every_split=False, already=already
        )
    return assigned.astype(str)
