"""Which unlabelled images to label next: those the model is least sure of, spread over what it sees.

Uncertainty alone picks many near-copies of one confusing surface; diversity alone picks images the model
already gets right. The ranking is greedy: each next image is the one whose uncertainty times its distance
(in the model's own feature space) to the images already picked is largest, so the first is the most
uncertain and each later one is uncertain *and* unlike the earlier picks.
"""

from __future__ import annotations

import numpy as np


def uncertainty(probability: np.ndarray, threshold: float) -> np.ndarray:
    """1 at the decision threshold, falling linearly to 0 at the far end of [0, 1] on either side."""
    probability = np.asarray(probability, dtype=float)
    span = np.where(probability >= threshold, 1 - threshold, threshold)
    return 1 - np.abs(probability - threshold) / np.maximum(span, 1e-12)


def labelling_order(
    probability: np.ndarray, features: np.ndarray, threshold: float, pool: int = 2000
) -> np.ndarray:
    """Indices of all images, best to label first.

    The greedy uncertainty x diversity ranking runs over the `pool` most uncertain images (it costs
    pool x N); the others follow by uncertainty alone.
    """
    scores = uncertainty(probability, threshold)
    by_uncertainty = np.argsort(-scores, kind="stable")
    candidates = by_uncertainty[:pool]
    vectors = np.asarray(features, dtype=np.float64)[candidates]
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    distance = np.full(len(candidates), np.inf)
    chosen = np.zeros(len(candidates), dtype=bool)
    order = []
    for step in range(len(candidates)):
        spread = 1.0 if step == 0 else distance / max(distance[~chosen].max(initial=0), 1e-12)
        gain = np.where(chosen, -np.inf, scores[candidates] * spread)
        pick = int(np.argmax(gain))
        order.append(pick)
        chosen[pick] = True
        distance = np.minimum(distance, np.linalg.norm(vectors - vectors[pick], axis=1))
    return np.concatenate([candidates[order], by_uncertainty[pool:]]).astype(int)
