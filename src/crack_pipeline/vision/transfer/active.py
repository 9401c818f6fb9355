"""Which unlabelled images to label next: those the model is least sure of, spread over what it sees.

Uncertainty alone picks many near-copies of one confusing surface; diversity alone picks images the model
already gets right. The ranking is greedy: each next image is the one whose uncertainty times its distance
(in the model's own feature space) to the images already picked is largest, so the first is the most
uncertain and each later one is uncertain *and* unlike the earlier picks.

On a surface the model never saw, its uncertainty means little: the Özgenel champion called nearly all of
SDNET's wall photos clean, and its most uncertain were the few it scored high, nearly all cracks. There the
first ranks go to typical images instead (`typical_images`: the cold start of uncertainty sampling; Hacohen
et al. 2022, "Active learning on a budget", TypiClust), then the ranking above.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

TYPICAL = 100  # clusters whose typical images come first, when asked for
NEIGHBOURS = 20  # an image's typicality: 1 / its mean distance to this many nearest in its cluster
# k-means and typicality on at most this many images a cluster, drawn at random (seeded): on all of 40,000
# images of 1,280 features, the clusters of `typical_images` took 3.5 minutes; a cluster of 50 still has its
# dense middle, and its nearest NEIGHBOURS.
FIT_PER_CLUSTER = 50


def uncertainty(probability: np.ndarray, threshold: float) -> np.ndarray:
    """1 at the decision threshold, falling linearly to 0 at the far end of [0, 1] on either side."""
    probability = np.asarray(probability, dtype=float)
    span = np.where(probability >= threshold, 1 - threshold, threshold)
    return 1 - np.abs(probability - threshold) / np.maximum(span, 1e-12)


def unit_vectors(features: np.ndarray) -> np.ndarray:
    vectors = np.asarray(features, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def spread_out(scores: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Positions of all `vectors`, greedily: first the highest score, then each next the one whose score
    times its distance to those picked (over the largest such distance) is largest."""
    distance = np.full(len(vectors), np.inf)
    chosen = np.zeros(len(vectors), dtype=bool)
    order = []
    for step in range(len(vectors)):
        spread = 1.0 if step == 0 else distance / max(distance[~chosen].max(initial=0), 1e-12)
        gain = np.where(chosen, -np.inf, scores * spread)
        pick = int(np.argmax(gain))
        order.append(pick)
        chosen[pick] = True
        distance = np.minimum(distance, np.linalg.norm(vectors - vectors[pick], axis=1))
    return np.array(order, dtype=int)


def typical_images(features: np.ndarray, clusters: int = TYPICAL, seed: int = 0) -> np.ndarray:
    """Indices of one image of each of `clusters` k-means clusters of the features (as unit vectors; at
    most one a distinct image), the most typical of its cluster (nearest its cluster's others), ordered so
    that any first few are spread: the largest cluster's first, then each next the farthest from those
    before. Clustered on a random `FIT_PER_CLUSTER` images a cluster where there are more."""
    vectors = unit_vectors(features)
    drawn = _drawn(len(vectors), FIT_PER_CLUSTER * clusters, seed)
    count = min(clusters, len(np.unique(vectors[drawn], axis=0)))
    if count < 1:
        return np.zeros(0, dtype=int)
    found = KMeans(n_clusters=count, n_init=3, random_state=seed).fit(vectors[drawn])
    members = [drawn[found.labels_ == c] for c in range(count)]
    members.sort(key=len, reverse=True)
    picks = np.array([most_typical(vectors, m) for m in members])
    return picks[spread_out(np.ones(len(picks)), vectors[picks])]


def _drawn(count: int, most: int, seed: int) -> np.ndarray:
    """Indices of `most` of `count` images drawn at random (seeded), in order; all of them where no more."""
    if count <= most:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=most, replace=False))


def most_typical(vectors: np.ndarray, members: np.ndarray) -> int:
    near = min(NEIGHBOURS, len(members) - 1)
    if near < 1:
        return int(members[0])
    inside = vectors[members]  # sklearn's neighbours in chunks: a cluster of 20 000 is no 3 GB matrix
    distance, _ = NearestNeighbors(n_neighbors=near + 1).fit(inside).kneighbors(inside)
    return int(members[np.argmin(distance[:, 1:].mean(axis=1))])  # past itself


def labelling_order(
    probability: np.ndarray, features: np.ndarray, threshold: float, pool: int = 2000, typical: int = 0
) -> np.ndarray:
    """Indices of all images, best to label first.

    With `typical` > 0, the first ranks are `typical_images` of that many clusters. The greedy
    uncertainty x diversity ranking runs over the `pool` most uncertain images (it costs pool x N); the
    others follow by uncertainty alone.
    """
    scores = uncertainty(probability, threshold)
    by_uncertainty = np.argsort(-scores, kind="stable")
    candidates = by_uncertainty[:pool]
    ranked = candidates[spread_out(scores[candidates], unit_vectors(np.asarray(features)[candidates]))]
    order = np.concatenate([ranked, by_uncertainty[pool:]]).astype(int)
    if typical <= 0 or len(order) == 0:
        return order
    first = typical_images(features, typical)
    return np.concatenate([first, order[~np.isin(order, first)]]).astype(int)
