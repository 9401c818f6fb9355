"""How much a figure on few images can say: a domain's test images too few to judge a model by there.

A site's 100 labels split 70 / 15 / 15 leave it 14 test images, where one image moves its balanced accuracy
by 0.07 (README, "Keep what the model knew"); it was reported beside the old surface's 600 as if as sure."""

from __future__ import annotations

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
