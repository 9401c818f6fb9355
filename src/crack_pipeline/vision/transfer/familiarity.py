"""Is a folder like the images a model was trained on? Distances in the model's own features.

On a surface it never saw, a model's p(crack) shifts and its decision threshold may not hold (README,
"Several data sets in one run"), yet nothing in its p(crack) says so. What its classifier sees may: an image
far from every validation image, in those features, is of a kind the model was not chosen on (a small net
trained on synthetic patches alone does not see real surfaces as far: README). A reference
of the validation images' features is kept in the checkpoint; a folder is then judged by the share of its
images farther from it than all but 1 % of the validation images themselves; a photo cut into tiles, by each
of its tiles (what the model classifies; their features averaged would hide an unfamiliar part).

Distance: 1 - the mean cosine similarity to the `neighbours` nearest reference images. Measured on the
Özgenel champion (README): a per-feature (diagonal Mahalanobis) distance to the validation mean did not
tell SDNET's walls from Özgenel's (0.8 % vs 1.2 % beyond its 99th percentile); the nearest neighbours did.
A model of several domains keeps each domain's reference and limit (`feature_reference`): measured after a
site's fine-tuning (README), its held-out photos 17 % beyond one shared limit, 3 % domain by domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from crack_pipeline.vision.models.inference import VIEW_COUNTS

NEIGHBOURS = 5
QUANTILE = 0.99  # of the validation images' own distances: the limit past which an image is unfamiliar
MOST = 512  # reference images kept (evenly spaced over validation): 1.3 MB at 1,280 features in float16


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, np.finfo(np.float32).tiny)


def _distance(similarity: np.ndarray, neighbours: int) -> np.ndarray:
    """Per row: 1 - the mean of its `neighbours` highest similarities."""
    nearest = np.partition(similarity, -neighbours, axis=1)[:, -neighbours:]
    return 1 - nearest.mean(axis=1)


def feature_reference(
    features: np.ndarray,
    neighbours: int = NEIGHBOURS,
    quantile: float = QUANTILE,
    most: int = MOST,
    domains: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """What a checkpoint keeps of its validation images' N x D features (loadable with `weights_only`):
    up to `most` of them as unit vectors (float16), and `limit`, the `quantile` of each one's distance to its
    `neighbours` nearest others (all the others when there are fewer). None under 2 images: no distance to
    judge by.

    With the `domains` of the N images, several: each domain's own reference (`domains`, up to `most` over
    their count each, with its own limit), and `limit` 1: an image is judged by its distance to the nearest
    domain in units of that domain's limit (`reference_distances`). In one shared reference, a domain of few
    validation images (a site's 15 beside the old surface's 600) lay sparse: its own kind of image was far
    from its nearest 5 and found unfamiliar (README, "Keep what the model knew")."""
    names = sorted(set(domains)) if domains is not None else []
    if len(names) < 2:
        return _one_reference(features, neighbours, quantile, most)
    features, domains = np.asarray(features), np.asarray(domains)
    each = max(most // len(names), 2)
    kept = {name: _one_reference(features[domains == name], neighbours, quantile, each) for name in names}
    kept = {name: reference for name, reference in kept.items() if reference is not None}
    if not kept:
        return None
    return {"domains": kept, "neighbours": int(neighbours), "quantile": float(quantile), "limit": 1.0}


def _one_reference(
    features: np.ndarray, neighbours: int, quantile: float, most: int
) -> dict[str, Any] | None:
    kept = np.linspace(0, len(features) - 1, min(most, len(features))).round().astype(int)
    if len(kept) < 2:
        return None
    neighbours = min(neighbours, len(kept) - 1)
    unit = _unit(np.asarray(features)[kept])
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)  # an image is not its own neighbour
    return {
        "vectors": torch.from_numpy(unit.astype(np.float16)),
        "neighbours": int(neighbours),
        "quantile": float(quantile),
        "limit": float(np.quantile(_distance(similarity, neighbours), quantile)),
    }


def references_by_views(
    features: torch.Tensor, domains: Sequence[str] | None = None
) -> dict[int, dict[str, Any] | None]:
    """For every view count (VIEW_COUNTS), the `feature_reference` of the features that many views give
    (the mean of the first of `features`, 8 x N x D, `checkpoint_views`; the images' `domains`, if known),
    with its count as `views`.
    Features averaged over fewer views lie farther from a reference of more, so each count is judged by
    its own (README, "Evaluate any folder": a model's own surface beyond the limit at 11 % with 1 view
    against its 4-view reference, 3 % against its 1-view one)."""
    references = {
        count: feature_reference(features[:count].mean(0).numpy(), domains=domains) for count in VIEW_COUNTS
    }
    return {
        count: None if reference is None else {**reference, "views": count}
        for count, reference in references.items()
    }


def reference_distances(reference: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """Each of the N x D `features`' distance to the reference images (see the module's docstring); for a
    reference of several domains, to the nearest domain's over that domain's limit."""
    if "domains" in reference:
        tiny = np.finfo(np.float32).tiny
        return np.min(
            [
                reference_distances(own, features) / max(own["limit"], tiny)
                for own in reference["domains"].values()
            ],
            axis=0,
        )
    vectors = reference["vectors"].float().numpy()
    return _distance(_unit(features) @ vectors.T, reference["neighbours"])


def unfamiliar_share(reference: dict[str, Any], distances: np.ndarray) -> dict[str, Any]:
    """How many of these N >= 1 `reference_distances` lie beyond the reference's `limit`: `n`,
    `share`, and `expected`, the share of validation images beyond it (1 - its quantile)."""
    beyond = np.asarray(distances) > reference["limit"]
    return {
        "n": int(len(beyond)),
        "share": float(beyond.mean()),
        "expected": round(1 - reference["quantile"], 6),
        "limit": float(reference["limit"]),
    }
