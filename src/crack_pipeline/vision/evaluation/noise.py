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


def few_images_note(crack: int, clean: int, few: int = FEW, classes: int | None = None) -> str | None:
    """What a domain's figures on `crack` and `clean` test images rest on, where a class it holds has fewer
    than `few` (None where each has enough): the counts and how far one image moves its balanced accuracy,
    or, test images of one class, its share of that class decided right. A domain of one class on purpose
    (a folder of hard negatives, clean only) was warned of as too few to judge, with 'no balanced accuracy
    (one class)', however many images it held. `classes`: how many the whole domain holds, where known: a
    test split left without one of its two is said."""
    held = [count for count in (crack, clean) if count]
    note = f"{crack + clean} test images ({crack} crack, {clean} clean)"
    if classes == 2 and len(held) == 1:
        return note + ": no balanced accuracy (its other class has no test image)"
    if not held or min(held) >= few:
        return None
    if len(held) == 1:
        share = "cracks the model finds" if crack else "clean images the model calls clean"
        return note + f": one image moves the share of {share} by {1 / held[0]:.3f}"
    return note + f": one image moves its balanced accuracy by up to {1 / (2 * min(crack, clean)):.3f}"


def one_class_note(crack: int, clean: int) -> str | None:
    """How a model is judged on a domain of `crack` and `clean` images where it holds one class only (None
    where it holds both): by that class alone, its balanced accuracy undefined."""
    if crack and clean:
        return None
    return (
        "crack images only: the model is judged there by the cracks it finds"
        if crack
        else "clean images only: the model is judged there by its false alarms"
    ) + ", no balanced accuracy"


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
