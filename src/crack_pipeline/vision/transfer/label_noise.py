"""Suspect labels: images whose given label a model that never saw their photo strongly contradicts.

Cross-validated by parent photo (every image scored by a model trained on the other folds' photos), so a
model cannot vouch for a label it memorised; SDNET2018's labels are known to be noisy, and a few wrong ones in
a test split move a balanced accuracy by points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from crack_pipeline.vision.data.tensor_cache import ImageTensors


def group_folds(groups: Sequence[str], folds: int, seed: int = 0) -> np.ndarray:
    """A fold number (0..folds-1) per item; all items of a group share one, folds as even in size as the
    groups allow (largest groups placed first, each into the smallest fold so far)."""
    frame = pd.DataFrame({"group": list(groups)})
    sizes = frame.group.value_counts()
    order = np.random.default_rng(seed).permutation(len(sizes))
    ranked = sorted(zip(sizes.index[order], sizes.values[order], strict=True), key=lambda g: -g[1])
    load = np.zeros(folds, dtype=int)
    fold_of = {}
    for group, size in ranked:
        fold = int(np.argmin(load))
        fold_of[group] = fold
        load[fold] += size
    return frame.group.map(fold_of).to_numpy()


def out_of_fold_probabilities(
    data: ImageTensors,
    folds: np.ndarray,
    fit_and_score: Callable[[ImageTensors, ImageTensors], np.ndarray],
) -> np.ndarray:
    """Each image's p(crack) (in `data`'s order) from a model that never saw its fold (`folds`, one number
    per image, `group_folds`): `fit_and_score(fitted_on, scored)` fits a model on `fitted_on` alone, its
    epoch chosen on those images too, and returns p(crack) of `scored`. Chosen on the scored fold, the
    epoch was the one that best agreed with the very labels it is to judge."""
    folds = np.asarray(folds)
    probability = np.full(len(data), np.nan)
    for fold in np.unique(folds):
        held_out = folds == fold
        fitted_on = data.subset([p for p, out in zip(data.paths, held_out, strict=True) if not out])
        scored = data.subset([p for p, out in zip(data.paths, held_out, strict=True) if out])
        probability[held_out] = fit_and_score(fitted_on, scored)
    return probability


def suspect_labels(
    names: Sequence[str],
    labels: Sequence[int],
    out_of_fold_crack_probability: Sequence[float],
    confidence: float = 0.9,
) -> pd.DataFrame:
    """The images whose out-of-fold p(opposite of the given label) is at least `confidence`, most
    contradicted first: name, given_label (1 = crack), crack_probability, contradiction."""
    labels = np.asarray(labels).astype(int)
    p = np.asarray(out_of_fold_crack_probability, dtype=float)
    contradiction = np.where(labels == 1, 1 - p, p)
    table = pd.DataFrame(
        {"name": list(names), "given_label": labels, "crack_probability": p, "contradiction": contradiction}
    )
    return table[table.contradiction >= confidence].sort_values(
        "contradiction", ascending=False, ignore_index=True
    )
