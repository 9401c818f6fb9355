"""Whether a run's images hold the classes its variants train on: refused as soon as that is known (from the
class folders' names, before any image is decoded), not at the split after a whole folder's decoding."""

from __future__ import annotations

from typing import Any

import pandas as pd

from crack_pipeline.vision.data.labels import NO_CRACK
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.registry import REGISTRY, get_spec


def classifier_variants(train: dict[str, Any]) -> list[str]:
    """The variants of `train.variants` that learn from both classes: all but the one-class ones (fitted on
    clean images alone, README "A model trained without crack photos")."""
    models = train.get("models") or {}
    # An entry without a known architecture is a classifier here: its own check names what is wrong with it.
    architectures = {
        name: (models.get(name) or {}).get("architecture") for name in train.get("variants") or []
    }
    return [
        name
        for name, arch in architectures.items()
        if arch not in REGISTRY or get_spec(arch).kind != "one_class"
    ]


def require_usable_classes(image_index: pd.DataFrame, folders: str, train: dict[str, Any]) -> None:
    """`require_trainable_classes` of the images ingest kept in `folders`: a class all of whose files were
    skipped (damaged, too small) is known once they are decoded."""
    counts = image_index.groupby("label").size().to_dict()
    found = f"files per label found by ingest, skipped ones included: {counts}; its report says why any were"
    labels = set(image_index.label[image_index.status == OK])
    require_trainable_classes(labels, folders, train, found + " skipped", images="usable image")


def require_indexed_classes(image_index: pd.DataFrame, train: dict[str, Any]) -> None:
    """`require_usable_classes` of an index an earlier run saved (the split's, retrain's too: a run resumed
    from it, or an index saved before ingest checked), of the folders it records."""
    require_usable_classes(image_index, ", ".join(sorted(set(image_index["root"].astype(str)))), train)


def require_trainable_classes(
    labels: set[str], folders: str, train: dict[str, Any], found: str, images: str = "image"
) -> None:
    """An `InputError` when the images of `folders` (their `labels`, as `found`) are all of one class that no
    variant of `train.variants` can train on: cracks alone train none; clean images alone the one-class
    variants only (a crack classifier trained on one class scored F1 0, and was promoted)."""
    classifiers = classifier_variants(train)
    if len(labels) != 1 or labels == {NO_CRACK} and not classifiers:
        return
    (label,) = labels
    which, hint = "", ""
    if label == NO_CRACK:
        which = f" (train.variants: {', '.join(classifiers)})"
        hint = (
            "; clean photos alone train a one-class variant only: train.variants: [patch_memory] (README: "
            "'A model trained without crack photos')"
        )
    needs = f"a crack classifier needs both classes{which}"
    raise InputError(f"every {images} in {folders} is {label!r}: {needs} ({found}){hint}")
