"""Test-time views chosen after training: the default run's models carry a threshold for every view count,
and explain, surveys and evaluate_folder score with another count at its own threshold when asked."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logit

from crack_pipeline.datasets.registered_model import ModelRegistry
from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import png_bytes
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo, render_sample
from crack_pipeline.vision.data.tensor_cache import decode_listed
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.evaluate import (
    checkpoint_probabilities,
    checkpoint_probabilities_and_features,
)
from crack_pipeline.vision.explain.photos import classify_photos
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import threshold_text
from crack_pipeline.vision.models.inference import VIEW_COUNTS, with_views
from crack_pipeline.vision.transfer.familiarity import reference_distances, unfamiliar_share
from tests.conftest import checkpoint_of, client_of, versions, write


def champion(project) -> dict:
    client_of(project)  # the project's registry
    return ModelRegistry().checkpoint("champion", "test")


def test_training_keeps_a_threshold_and_a_feature_reference_for_every_view_count(default_run):
    checkpoint = checkpoint_of(default_run.project, "small_cnn_b")
    by_views = checkpoint["thresholds_by_views"]
    assert sorted(by_views) == list(VIEW_COUNTS)
    assert by_views[2] == checkpoint["threshold"], "the model's own count: its threshold"
    assert all(by_views[count]["chosen_on"] == "validation" for count in VIEW_COUNTS)
    references = checkpoint["feature_references_by_views"]
    assert sorted(references) == list(VIEW_COUNTS)
    own = checkpoint["feature_reference"]
    assert torch.equal(references[2]["vectors"], own["vectors"]) and references[2]["limit"] == own["limit"]
    assert not torch.equal(references[1]["vectors"], references[8]["vectors"]), "each of its count's features"


def test_explain_scores_with_fewer_views_at_the_threshold_chosen_for_them(default_run, run_again, tmp_path):
    wall = render_photo(SynthConfig(image_size=64, seed=2, difficulty=0.0), 150, 200, cracks=0)
    write(tmp_path / "wall", "wall.png", png_bytes(wall.image))
    settings = {"input_dir": str(tmp_path / "wall"), "test_time_views": 1}
    lines = run_again({"explain": settings}, "explain")
    model = champion(default_run.project)
    one = model["thresholds_by_views"][1]["value"]
    assert any(
        f"p(crack) of each image as it is (explain.test_time_views; the model's own: 2), threshold "
        f"{threshold_text(one)}" in line
        for line in lines
    )
    project = default_run.project
    quality = json.loads(versions(project, "data/08_reporting/explain_quality.json")[-1].read_text())
    assert quality["threshold"]["value"] == pytest.approx(one) and quality["test_time_views"] == 1
    (row,) = pd.read_csv(versions(project, "data/07_model_output/explain_predictions.csv")[-1]).itertuples()
    ref = [ImageRef("wall.png", tmp_path / "wall" / "wall.png")]
    found = {}
    for count in (1, 2):
        scored, _ = classify_photos(with_views(model, count, "t"), ref, TilingConfig(), precision="fp32")
        found[count] = scored["wall.png"]
    assert row.crack_probability == pytest.approx(found[1], abs=1e-6)
    log_odds = {count: math.log(p / (1 - p)) for count, p in found.items()}  # p(crack) may be near 0 or 1
    assert abs(log_odds[1] - log_odds[2]) > 1e-3, "the count changes p(crack)"
    with pytest.raises(InputError, match=r"explain\.test_time_views: 3; one of 1, 2, 4, 8"):
        run_again({"explain": {**settings, "test_time_views": 3}}, "explain")


def test_a_survey_keeps_the_views_it_began_with(run_again, tmp_path):
    photo = render_photo(SynthConfig(image_size=64, seed=4, difficulty=0.0), 120, 150, cracks=1)
    write(tmp_path / "site", "IMG_0.png", png_bytes(photo.image))
    survey = {"input_dir": str(tmp_path / "site"), "survey": "fast_pass", "test_time_views": 1}
    run_again({"explain": survey}, "survey")
    lines = run_again({"explain": survey}, "survey")
    assert any("1 photos, 1 done before, 0 to explain" in line for line in lines)
    for other in (None, 2):  # 2: the model's own, as when unset
        # The threshold, chosen for each view count, may differ too.
        with pytest.raises(
            InputError, match=r"other settings \(explain\.test_time_views: 1 then, null now[;)]"
        ):
            run_again({"explain": {**survey, "test_time_views": other}}, "survey")
    # Given its own count explicitly, a survey begun without the setting goes on.
    unset = {**survey, "survey": "own_views", "test_time_views": None}
    run_again({"explain": unset}, "survey")
    lines = run_again({"explain": {**unset, "test_time_views": 2}}, "survey")
    assert any("1 photos, 1 done before, 0 to explain" in line for line in lines)


def test_evaluate_folder_scores_with_fewer_views_at_their_threshold_and_reference(
    default_run, run_again, tmp_path
):
    folder = tmp_path / "site"
    patches = SynthConfig(image_size=64, seed=5)
    for i in range(3):
        write(folder, f"Positive/c{i}.png", png_bytes(render_sample(patches, True, i).image))
        write(folder, f"Negative/n{i}.png", png_bytes(render_sample(patches, False, i).image))
    settings = {"path": str(folder), "test_time_views": 1, "recalibrate": True}
    lines = run_again({"evaluate_folder": settings}, "evaluate_folder")
    model = champion(default_run.project)
    one = model["thresholds_by_views"][1]["value"]
    assert any(
        f"p(crack) of each image as it is (evaluate_folder.test_time_views; the model's own: 2), threshold "
        f"{threshold_text(one)}" in line
        for line in lines
    )
    assert not any("familiarity not judged" in line for line in lines)
    assert any("explain.threshold=" in line and "explain.test_time_views=1 " in line for line in lines)
    project = default_run.project
    metrics = json.loads(versions(project, "data/08_reporting/evaluate_folder/metrics.json")[-1].read_text())
    assert metrics["test_time_views"] == 1 and metrics["unfamiliar"]["n"] == 6
    assert metrics["threshold"]["value"] == pytest.approx(one)
    predictions = pd.read_csv(versions(project, "data/07_model_output/evaluate_folder/predictions.csv")[-1])
    rows = predictions.assign(
        root=str(folder), path=predictions.file, domain="site", label=predictions.true_label
    )
    images = decode_listed(rows, model["input_size"], names=predictions.file.tolist())
    found = {
        count: checkpoint_probabilities(with_views(model, count, "t"), images, "fp32") for count in (1, 2)
    }
    np.testing.assert_allclose(predictions.crack_probability, found[1], atol=1e-6)
    assert np.nanmax(np.abs(logit(found[1]) - logit(found[2]))) > 1e-3, "the count changes p(crack)"
    one_view = with_views(model, 1, "t")
    _, features = checkpoint_probabilities_and_features(one_view, images, "fp32")
    reference = model["feature_references_by_views"][1]
    judged = unfamiliar_share(reference, reference_distances(reference, features))
    assert metrics["unfamiliar"] == {**judged, "warn_from": 0.1}, "judged by the 1-view reference"
    assert reference["limit"] != model["feature_reference"]["limit"], "not by the model's own (2 views)"
    with pytest.raises(InputError, match=r"evaluate_folder\.test_time_views: 3; one of 1, 2, 4, 8"):
        run_again({"evaluate_folder": {**settings, "test_time_views": 3}}, "evaluate_folder")
