"""Is a folder like the images a model was trained on: a reference of validation features, distances to it."""

import io

import numpy as np
import pytest
import torch

from crack_pipeline.vision.transfer.familiarity import (
    feature_reference,
    reference_distances,
    references_by_views,
    unfamiliar_share,
)


def clustered(centres: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` feature vectors around the given centres, non-negative as after a ReLU."""
    chosen = centres[np.arange(count) % len(centres)]
    return np.maximum(chosen + 0.3 * rng.normal(size=chosen.shape), 0).astype(np.float32)


def test_images_like_the_validation_ones_are_familiar_and_others_are_not():
    rng = np.random.default_rng(0)
    seen, unseen = np.abs(rng.normal(size=(4, 64))), np.abs(rng.normal(size=(4, 64)))
    reference = feature_reference(clustered(seen, 400, rng))
    same = unfamiliar_share(reference, reference_distances(reference, clustered(seen, 400, rng)))
    other = unfamiliar_share(reference, reference_distances(reference, clustered(unseen, 400, rng)))
    assert same["n"] == other["n"] == 400 and same["expected"] == pytest.approx(0.01)
    assert same["share"] < 0.05, "about the 1 % of validation images beyond the limit"
    assert other["share"] > 0.9


def test_the_limit_is_the_quantile_of_each_reference_images_distance_to_its_nearest_others():
    rng = np.random.default_rng(1)
    reference = feature_reference(rng.normal(size=(40, 8)), neighbours=3, quantile=0.9)
    vectors = reference["vectors"].float().numpy()
    own = []
    for index, vector in enumerate(vectors):
        others = np.delete(vectors, index, axis=0)
        cosines = others @ vector / (np.linalg.norm(others, axis=1) * np.linalg.norm(vector))
        own.append(1 - np.sort(cosines)[-3:].mean())
    assert reference["limit"] == pytest.approx(np.quantile(own, 0.9), abs=1e-3)
    # A reference vector's direction, scaled: its nearest neighbour is itself (distance 0 at one
    # neighbour); at three, its next two count too.
    scaled = 3 * vectors[:2]
    assert reference_distances({**reference, "neighbours": 1}, scaled) == pytest.approx(0, abs=1e-3)
    assert (reference_distances(reference, scaled) > 1e-3).all()


def test_a_reference_keeps_at_most_its_share_of_images_evenly_spaced_and_none_from_too_few():
    features = np.arange(1, 2001, dtype=np.float32)[:, None] * np.eye(1, 16, dtype=np.float32)
    features += np.random.default_rng(2).random((2000, 16), dtype=np.float32)
    reference = feature_reference(features, most=100)
    assert reference["vectors"].shape == (100, 16) and reference["vectors"].dtype == torch.float16
    spaced = features[np.linspace(0, 1999, 100).round().astype(int)]
    spaced /= np.linalg.norm(spaced, axis=1, keepdims=True)
    np.testing.assert_allclose(reference["vectors"].float().numpy(), spaced, atol=1e-3)
    assert feature_reference(features, most=3)["neighbours"] == 2, "the others kept, not all of them"
    assert feature_reference(features[:1]) is None, "no other image to be near"
    few = feature_reference(features[:4], neighbours=5)
    assert few["neighbours"] == 3, "a small validation split: all the others"


def test_a_reference_survives_a_weights_only_checkpoint_and_a_blank_image_is_unfamiliar():
    rng = np.random.default_rng(3)
    reference = feature_reference(np.abs(rng.normal(size=(50, 32))))
    buffer = io.BytesIO()
    torch.save({"feature_reference": reference}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["feature_reference"]
    assert torch.equal(loaded["vectors"], reference["vectors"]) and loaded["limit"] == reference["limit"]
    blank = np.zeros((1, 32), dtype=np.float32)  # no feature at all: as far as can be, not a NaN
    assert reference_distances(loaded, blank)[0] == pytest.approx(1.0)
    assert unfamiliar_share(loaded, reference_distances(loaded, blank))["share"] == 1.0


def test_each_view_count_has_the_reference_of_its_own_views_features():
    per_view = torch.from_numpy(np.abs(np.random.default_rng(3).normal(size=(8, 30, 16)))).float()
    references = references_by_views(per_view)
    assert sorted(references) == [1, 2, 4, 8]
    for count, reference in references.items():
        expected = feature_reference(per_view[:count].mean(0).numpy())
        assert reference["views"] == count and reference["limit"] == expected["limit"]
        assert torch.equal(reference["vectors"], expected["vectors"])
    assert references[1]["limit"] != references[8]["limit"], "features of fewer views are others"
    assert references_by_views(per_view[:, :1])[2] is None, "one image: nothing to judge by"


def test_a_domain_of_few_validation_images_is_judged_by_its_own_reference_and_limit():
    """README's 'Keep what the model knew': a site's 15 validation images beside the old surface's 600. In
    one shared reference the site lay sparse, its own kind of image far from its 5 nearest, and a folder of
    it was warned of as unlike what the model was chosen on. Judged domain by domain, it is familiar, and a
    surface unlike both is not."""
    rng = np.random.default_rng(0)
    old, site, other = (np.abs(rng.normal(size=(k, 64))) for k in (4, 3, 4))
    validation = np.concatenate([clustered(old, 600, rng), clustered(site, 15, rng)])
    domains = ["ozgenel"] * 600 + ["site_b"] * 15

    def shares(reference):
        return [
            unfamiliar_share(reference, reference_distances(reference, clustered(kind, 300, rng)))["share"]
            for kind in (old, site, other)
        ]

    shared = feature_reference(validation)
    assert shares(shared)[1] > 0.2, "the site's own kind found unfamiliar: the fault"
    reference = feature_reference(validation, domains=domains)
    assert sorted(reference["domains"]) == ["ozgenel", "site_b"] and reference["limit"] == 1.0
    assert len(reference["domains"]["site_b"]["vectors"]) == 15
    assert len(reference["domains"]["ozgenel"]["vectors"]) == 256, "each domain its share of the 512"
    on_old, on_site, on_other = shares(reference)
    assert on_old < 0.05 and on_site < 0.05 and on_other > 0.9
    buffer = io.BytesIO()
    torch.save({"feature_reference": reference}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["feature_reference"]
    sample = clustered(site, 20, rng)
    np.testing.assert_array_equal(reference_distances(loaded, sample), reference_distances(reference, sample))
    one = feature_reference(validation[:600], domains=domains[:600])
    assert "domains" not in one, "one domain: the reference as before"
    assert one["limit"] == feature_reference(validation[:600])["limit"]
