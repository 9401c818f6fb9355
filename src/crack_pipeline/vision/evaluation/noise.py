"""How much a figure on few images can say: a domain's test images too few to judge a model by there, and a
fall in balanced accuracy between two models scored on the same images, beyond noise or within it.

A site's 100 labels split 70 / 15 / 15 leave it 14 test images, where one image moves its balanced accuracy
by 0.07; and a champion's 0.9983 against a candidate's 0.9950 on 600 images is two images decided the
other way (README, "Keep what the model knew"). Each was reported as if it were a measurement."""

from __future__ import annotations

import math

import numpy as np

# Images of a class under which a domain's test figures are too rough to judge it by: one image of that
# class then moves its balanced accuracy by more than 1/60 (0.017).
FEW = 30


def few_images_note(crack: int, clean: int, few: int = FEW) -> str | None:
    """What a domain's figures on `crack` and `clean` test images rest on, where a class has fewer than
    `few` (None where both have enough): the counts and how far one image moves its balanced accuracy."""
    if min(crack, clean) >= few:
        return None
    note = f"{crack + clean} test images ({crack} crack, {clean} clean)"
    if not (crack and clean):
        return note + ": no balanced accuracy (one class)"
    return note + f": one image moves its balanced accuracy by up to {1 / (2 * min(crack, clean)):.3f}"


def balanced_accuracy_change(
    cracked: np.ndarray, right_before: np.ndarray, right_after: np.ndarray
) -> dict[str, float | None]:
    """From one model to another decided on the same images (whether each image is a crack, and whether
    each model decided it right): the `change` in balanced accuracy and its `standard_error`. Balanced
    accuracy is the mean of the two classes' shares decided right, so its change is the mean of each
    class's mean paired difference, with the standard error of those means (an image both decide alike
    adds no noise). Both None where a class has fewer than two images."""
    cracked = np.asarray(cracked, dtype=bool)
    difference = np.asarray(right_after, dtype=float) - np.asarray(right_before, dtype=float)
    classes = [difference[cracked], difference[~cracked]]
    if min(len(part) for part in classes) < 2:
        return {"change": None, "standard_error": None}
    return {
        "change": float(np.mean([part.mean() for part in classes])),
        "standard_error": 0.5 * math.sqrt(sum(part.var(ddof=1) / len(part) for part in classes)),
    }


def beyond_noise(change: float, standard_error: float | None) -> bool | None:
    """Whether a change lies more than two standard errors from none (None where it cannot be judged)."""
    return None if standard_error is None else abs(change) > 2 * standard_error
