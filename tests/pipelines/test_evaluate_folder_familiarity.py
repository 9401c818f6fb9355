"""evaluate_folder judges how like the model's validation images a folder is, and warns when it is not."""

import logging

import numpy as np
import torch

from crack_pipeline.pipelines.evaluate_folder.folder_familiarity import familiarity, familiarity_reference
from crack_pipeline.vision.models.inference import VIEW_COUNTS, with_views
from crack_pipeline.vision.transfer.familiarity import (
    feature_reference,
    reference_distances,
    references_by_views,
)
from tests.test_familiarity import clustered


def test_an_unlike_folder_is_warned_of_a_like_one_not_and_a_model_without_reference_is_not_judged(caplog):
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    rng = np.random.default_rng(0)
    seen, unseen = np.abs(rng.normal(size=(4, 64))), np.abs(rng.normal(size=(4, 64)))
    reference = feature_reference(clustered(seen, 200, rng))

    unlike = familiarity(reference, clustered(unseen, 50, rng), [], 0.1)
    assert unlike["n"] == 50 and unlike["share"] > 0.9 and unlike["warn_from"] == 0.1
    assert f"unfamiliar={unlike['share']:.3f} of 50 tiles" in caplog.text
    assert "this folder is unlike the images the model was chosen on" in caplog.text
    caplog.clear()
    half = clustered(np.concatenate([seen[:2], unseen[:2]]), 50, rng)  # half of it of an unseen kind
    share = familiarity(reference, half, [], 1.0)["share"]
    assert 0.3 < share < 0.7 and "is unlike" not in caplog.text
    assert familiarity(reference, half, [], share)["share"] == share
    assert "is unlike" in caplog.text, "a warning from that share on"
    caplog.clear()
    photo = reference_distances(reference, clustered(unseen, 30, rng))  # a photo's 30 tiles
    tiles = clustered(seen, 10, rng)  # 10 images of one tile
    mixed = familiarity(reference, tiles, [photo], 0.1)
    each = np.concatenate([reference_distances(reference, tiles), photo]) > reference["limit"]
    assert mixed["n"] == 40 and mixed["share"] == each.mean() > 0.6, "each tile counts, the photo's 30 too"
    caplog.clear()
    like = familiarity(reference, clustered(seen, 50, rng), [], 0.1)
    assert like["share"] < 0.1 and "unfamiliar=" in caplog.text and "is unlike" not in caplog.text
    caplog.clear()
    assert familiarity(reference, clustered(unseen, 50, rng), [], None)["share"] > 0.9
    assert "is unlike" not in caplog.text, "null: never warns"

    assert familiarity(None, clustered(seen, 5, rng), [], 0.1) is None
    nothing = np.empty((0, 0), dtype=np.float32)  # what a folder's tensors give when no image is of one tile
    assert familiarity(reference, nothing, [photo], 0.1)["n"] == 30, "photos alone"
    assert familiarity(reference, nothing, [], 0.1) is None
    assert "familiarity not judged (no image)" in caplog.text


def test_each_view_count_is_judged_by_the_reference_kept_for_it(caplog):
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    rng = np.random.default_rng(0)
    by_views = references_by_views(torch.from_numpy(np.abs(rng.normal(size=(8, 20, 8)))).float())
    model = {
        "variant": "m",
        "test_time_views": 4,
        "feature_reference": by_views[4],
        "feature_references_by_views": by_views,
        "thresholds_by_views": {count: {"value": 0.5} for count in VIEW_COUNTS},
    }
    assert familiarity_reference(model, own_views=4) is by_views[4]
    assert familiarity_reference(with_views(model, 1, "t"), own_views=4) is by_views[1]
    assert "not judged" not in caplog.text
    older = {key: value for key, value in model.items() if key != "feature_references_by_views"}
    assert familiarity_reference(with_views(older, 1, "t"), own_views=4) is None
    assert (
        "familiarity not judged (the model keeps no reference for 1 views: it was trained before references "
        "were kept for every count)" in caplog.text
    )
    # A count set by hand, not through with_views, is not judged by another count's reference.
    assert familiarity_reference({**model, "test_time_views": 2}, own_views=4) is None
    assert "familiarity not judged (the reference holds for 4 views, not 2)" in caplog.text
    own_only = {**older, "feature_reference": {k: v for k, v in by_views[4].items() if k != "views"}}
    assert familiarity_reference(own_only, own_views=4) is not None, "a reference of old: the model's count"
    assert familiarity_reference({"test_time_views": 4}, own_views=4) is None
    assert "familiarity not judged (the model records no feature reference)" in caplog.text


def test_a_model_of_several_domains_judges_a_folder_domain_by_domain(caplog):
    """A site's photos, the kind a model of two domains was fine-tuned on, are not warned of as unlike
    what it was chosen on (README, "Keep what the model knew"); the log says how they were judged."""
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    rng = np.random.default_rng(0)
    old, site = np.abs(rng.normal(size=(4, 64))), np.abs(rng.normal(size=(3, 64)))
    validation = np.concatenate([clustered(old, 600, rng), clustered(site, 15, rng)])
    reference = feature_reference(validation, domains=["ozgenel"] * 600 + ["site_b"] * 15)
    found = familiarity(reference, clustered(site, 100, rng), [], 0.1)
    assert found["share"] < 0.1 and found["limit"] == 1.0
    assert "than 99 % of those, domain by domain (ozgenel, site_b): beyond each one's limit" in caplog.text
    assert "is unlike" not in caplog.text
