"""Adapting to a new site without labels (batch-norm statistics) and choosing which images to label."""

import logging
import re
import types

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from crack_pipeline.pipelines.evaluate_folder.site_labels import recalibrated
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.evaluation.metrics import threshold_for_recall
from crack_pipeline.vision.models.checkpoint import for_domain
from crack_pipeline.vision.models.inference import crack_probabilities, crack_probabilities_and_features
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import create_model
from crack_pipeline.vision.transfer import active
from crack_pipeline.vision.transfer.active import labelling_order, typical_images, uncertainty
from crack_pipeline.vision.transfer.adaptation import reestimate_batch_norms
from crack_pipeline.vision.transfer.label_noise import (
    group_folds,
    out_of_fold_probabilities,
    suspect_labels,
)
from crack_pipeline.vision.transfer.recalibration import cross_fitted_decisions, recalibrate

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def target_images(count=24, seed=0):
    """A 'new site': brighter and lower in contrast than anything the model saw."""
    generator = torch.Generator().manual_seed(seed)
    return (160 + 40 * torch.rand((count, 3, 32, 32), generator=generator)).to(torch.uint8)


def test_batch_norm_reestimation_changes_only_the_statistics():
    torch.manual_seed(0)
    model = create_model("small_cnn").eval()
    parameters = {k: v.clone() for k, v in model.named_parameters()}
    before = {k: v.clone() for k, v in model.named_buffers()}
    images = target_images()
    first_conv, first_norm = model.features[0], model.features[1]
    with torch.no_grad():
        expected_mean = first_conv((images.float() / 255 - 0.5) / 0.5).mean(dim=(0, 2, 3))

    assert reestimate_batch_norms(model, images, MEAN, STD, batch_size=len(images)) == 5
    assert all(torch.equal(v, parameters[k]) for k, v in model.named_parameters()), "no weight moves"
    torch.testing.assert_close(first_norm.running_mean, expected_mean, rtol=1e-4, atol=1e-5)
    changed = [k for k, v in model.named_buffers() if not torch.equal(v, before[k])]
    assert changed and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed
    )
    assert not model.training and not any(m.training for m in model.modules())
    assert first_norm.momentum == 0.3, "the training momentum is back"


def test_batch_norm_reestimation_averages_over_every_batch():
    torch.manual_seed(0)
    whole, batched = create_model("small_cnn").eval(), create_model("small_cnn").eval()
    batched.load_state_dict(whole.state_dict())
    images = target_images(32)
    reestimate_batch_norms(whole, images, MEAN, STD, batch_size=32)
    reestimate_batch_norms(batched, images, MEAN, STD, batch_size=8)
    torch.testing.assert_close(batched.features[1].running_mean, whole.features[1].running_mean)


def test_batch_norm_reestimation_weighs_every_image_the_same_whatever_the_batches():
    """65 images in batches of 64 gave the 65th image half of the statistics (torch's cumulative average
    weighs each batch the same)."""
    torch.manual_seed(0)
    whole, batched = create_model("small_cnn").eval(), create_model("small_cnn").eval()
    batched.load_state_dict(whole.state_dict())
    images = target_images(33)
    images[32] = 250  # an odd one out, last
    reestimate_batch_norms(whole, images, MEAN, STD, batch_size=33)
    reestimate_batch_norms(batched, images, MEAN, STD, batch_size=32)
    torch.testing.assert_close(batched.features[1].running_mean, whole.features[1].running_mean)


def test_images_listed_kind_by_kind_give_the_statistics_of_all_of_them():
    """A folder listed camera by camera (or its clean images, then its cracks): in order, each batch held one
    kind, whose variance about its own mean missed the spread between the kinds (up to 20 times less)."""
    torch.manual_seed(0)
    whole, batched = create_model("small_cnn").eval(), create_model("small_cnn").eval()
    batched.load_state_dict(whole.state_dict())
    images = torch.cat([target_images(32, seed=1) - 120, target_images(32, seed=2)])  # dark ones, then bright
    reestimate_batch_norms(whole, images, MEAN, STD, batch_size=64)
    reestimate_batch_norms(batched, images, MEAN, STD, batch_size=32)
    for norm in (1, 9):  # the first batch norm and a deeper one
        torch.testing.assert_close(
            batched.features[norm].running_var, whole.features[norm].running_var, rtol=0.1, atol=1e-4
        )


def test_a_model_without_batch_norms_is_left_alone():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten()).train()
    assert reestimate_batch_norms(model, target_images(4), MEAN, STD) == 0 and not model.training


def test_features_are_what_the_classifier_sees():
    torch.manual_seed(1)
    model = create_model("small_cnn").eval()
    images = target_images(10)
    probability, features = crack_probabilities_and_features(
        model, "classifier", images, MEAN, STD, Precision("fp32"), batch_size=4
    )
    assert features.shape == (10, 192)
    np.testing.assert_allclose(probability, crack_probabilities(model, images, MEAN, STD, Precision("fp32")))
    with torch.no_grad():
        logits = model.classifier(torch.from_numpy(features))
    np.testing.assert_allclose(probability, torch.softmax(logits, 1)[:, 1].numpy(), rtol=1e-5, atol=1e-6)


def test_uncertainty_peaks_at_the_threshold():
    values = uncertainty(np.array([0.2, 0.0, 1.0, 0.6, 0.2 + 0.4]), threshold=0.2)
    np.testing.assert_allclose(values, [1.0, 0.0, 0.0, 0.5, 0.5])


def test_the_most_uncertain_comes_first_then_the_uncertain_unlike_it():
    probability = np.array([0.02, 0.49, 0.48, 0.45, 0.97, 0.30])
    features = np.array([[1, 0], [0, 1], [0, 1.01], [1, 0.05], [0.7, 0.7], [0.9, 0.1]], dtype=float)
    order = labelling_order(probability, features, threshold=0.5)
    assert sorted(order) == list(range(6))
    assert order[0] == 1, "the most uncertain first"
    assert order[1] == 3, "then an uncertain one unlike it, before image 2, a near-copy of the first"
    assert set(order[-2:]) == {0, 2}, "near-copies of earlier picks last, after the sure but different 4"
    tail = labelling_order(probability, features, threshold=0.5, pool=2)
    assert tail[:2].tolist() == [1, 2] and tail[2:].tolist() == [3, 5, 4, 0], (
        "beyond the pool: by uncertainty"
    )


def test_features_of_one_direction_are_near_copies_whatever_their_size():
    # Image 1's features are image 0's ten times over (the same surface, in more contrast): a near-copy of
    # the first pick, labelled after image 2, which the model sees otherwise.
    probability = np.array([0.5, 0.45, 0.45])
    features = np.array([[1.0, 0.0], [10.0, 0.1], [0.0, 1.0]])
    assert labelling_order(probability, features, threshold=0.5).tolist() == [0, 2, 1]


def test_on_a_surface_the_model_never_saw_typical_images_of_both_kinds_come_first():
    # Two kinds of image, far apart in the model's features; it calls all of them clean, and its most
    # uncertain are all of one kind (as the Özgenel champion on SDNET's walls put 44 cracks in its first 50).
    rng = np.random.default_rng(0)
    kind = np.repeat([0, 1], 30)
    features = np.where(kind[:, None] == 1, [0.0, 1.0], [1.0, 0.0]) + rng.normal(0, 0.05, (60, 2))
    probability = np.where(kind == 1, rng.uniform(0.1, 0.3, 60), rng.uniform(0.0, 1e-4, 60))
    uncertain = labelling_order(probability, features, threshold=0.75)
    assert set(kind[uncertain[:10]]) == {1}, "the uncertainty ranking leans to one kind"
    order = labelling_order(probability, features, threshold=0.75, typical=4)
    assert sorted(order) == list(range(60))
    assert set(kind[order[:2]]) == {0, 1}, "the first two typical images are of both kinds"
    assert kind[order[:4]].sum() == 2, "and as many of each among the first four"


def test_a_typical_image_is_of_its_cluster_s_dense_middle_not_an_outlier():
    # One cluster: a tight core around (1, 0.2) and images strung out from it; one of the core is picked.
    features = np.array([[1, 0.2], [1, 0.21], [1, 0.19], [1, 0.22], [1, 0.6], [1, 1.0], [1, 1.4]])
    assert typical_images(features, clusters=1).tolist()[0] in {0, 1, 2, 3}
    # More clusters asked than distinct images: one image of each distinct feature vector, no error.
    assert sorted(typical_images(np.array([[1.0, 0], [1.0, 0], [0, 1.0]]), clusters=100)) in ([0, 2], [1, 2])


def test_typical_images_of_a_large_folder_are_clustered_on_a_sample_and_still_one_per_cluster(monkeypatch):
    """k-means ran on all of a folder's features: 40,000 images of 1,280 features took 3.5 minutes."""
    fitted = []

    class CountedKMeans(active.KMeans):
        def fit(self, vectors, *args, **kwargs):
            fitted.append(len(vectors))
            return super().fit(vectors, *args, **kwargs)

    monkeypatch.setattr(active, "KMeans", CountedKMeans)
    rng = np.random.default_rng(0)
    centres = np.eye(8)[rng.integers(0, 8, 3000)]  # 8 well-apart directions, 3,000 images
    features = centres + rng.normal(0, 0.05, centres.shape)
    picks = typical_images(features, clusters=8)
    assert fitted == [8 * 50], "fit on 50 images a cluster (FIT_PER_CLUSTER), not on all 3,000"
    assert sorted(features[picks].argmax(axis=1)) == list(range(8)), "one image of each direction"


def test_auto_ranks_typical_images_first_where_the_folder_was_found_unfamiliar_only():
    from crack_pipeline.pipelines.evaluate_folder.nodes import check_evaluate_folder_settings
    from crack_pipeline.pipelines.evaluate_folder.site_labels import labelling_order_for, order_setting
    from crack_pipeline.vision.settings import ConfigError

    unfamiliar = {"share": 0.25, "warn_from": 0.1}
    assert labelling_order_for(order_setting({}), unfamiliar) == "typical"
    assert labelling_order_for("auto", {"share": 0.05, "warn_from": 0.1}) == "uncertain"
    assert labelling_order_for("auto", {"share": 0.25, "warn_from": None}) == "uncertain", "never warned of"
    assert labelling_order_for("auto", None) == "uncertain", "familiarity not judged"
    assert labelling_order_for("uncertain", unfamiliar) == "uncertain"
    assert labelling_order_for("typical", None) == "typical"
    with pytest.raises(ConfigError, match=r"label_next_order: one of auto, uncertain, typical, not 'random'"):
        check_evaluate_folder_settings({"label_next_order": "random"})
    # The table ranks the unlabelled ones in the order chosen: typical ones of both kinds first.
    from crack_pipeline.pipelines.evaluate_folder.site_labels import labelling_table

    kind = np.repeat([0, 1], 10)
    features = np.where(kind[:, None] == 1, [0.0, 1.0], [1.0, 0.0]) + np.linspace(0, 0.05, 20)[:, None]
    probability = np.where(kind == 1, 0.2, 1e-5)
    data = types.SimpleNamespace(paths=[f"{k}/{i}.png" for i, k in enumerate(kind)])
    unlabelled = np.arange(20) != 3
    table = labelling_table(data, probability, features, unlabelled, 0.75, "typical")
    assert table["rank"].tolist() == list(range(1, 20)) and "0/3.png" not in set(table.file)
    assert {file[0] for file in table.file[:2]} == {"0", "1"}
    assert {file[0] for file in labelling_table(data, probability, features, unlabelled, 0.75).file[:2]} == {
        "1"
    }


def test_a_recalibrated_threshold_is_estimated_on_labels_it_was_not_chosen_on():
    rng = np.random.default_rng(0)
    y = np.array([1] * 20 + [0] * 20)
    p = np.where(y == 1, rng.uniform(0.05, 0.4, 40), rng.uniform(0.0, 0.1, 40))  # a shifted site
    site = recalibrate(y, p, target_recall=0.9)
    assert site["value"] == threshold_for_recall(y, p, 0.9)
    decisions = cross_fitted_decisions(y, p, 0.9, seed=0)
    # Rebuild the halves as the function draws them, and each half's threshold from the other half only.
    halves = np.zeros(40, dtype=bool)
    draw = np.random.default_rng(0)
    for label in (0, 1):
        members = draw.permutation(np.flatnonzero(y == label))
        halves[members[: len(members) // 2]] = True
    for scored in (halves, ~halves):
        expected = p[scored] >= threshold_for_recall(y[~scored], p[~scored], 0.9)
        assert (decisions[scored] == expected).all()
    estimate = site["cross_fitted"]
    assert estimate["recall"] == pytest.approx(decisions[y == 1].mean())
    assert estimate["specificity"] == pytest.approx(1 - decisions[y == 0].mean())
    assert recalibrate(np.array([1, 0, 0]), np.array([0.3, 0.1, 0.2]), 0.99)["cross_fitted"] is None


def test_a_cross_fitted_decision_calls_an_image_at_the_threshold_cracked():
    # Each half's threshold is the other half's crack, 0.6 (no clean image below it): an image at 0.6 is a
    # crack, as everywhere else (p(crack) >= threshold).
    decisions = cross_fitted_decisions(np.array([1, 1, 0, 0]), np.array([0.6, 0.6, 0.7, 0.8]), 1.0)
    assert decisions.tolist() == [1, 1, 1, 1]


def test_folds_keep_each_parent_photo_whole_and_even():
    groups = [f"p{i // 5}" for i in range(50)] + [f"big{i // 20}" for i in range(40)]  # 10 of 5, 2 of 20
    folds = group_folds(groups, 3, seed=1)
    frame = pd.DataFrame({"group": groups, "fold": folds})
    assert frame.groupby("group").fold.nunique().max() == 1
    assert sorted(frame.fold.value_counts().tolist()) == [30, 30, 30]


def test_out_of_fold_models_never_fit_nor_choose_their_epoch_on_the_fold_they_score():
    """bench/label_noise.py chose each fold's epoch on the very images (and labels) it then judged."""
    names = [f"sdnet/{i // 4}-{i}.jpg" for i in range(24)]  # 6 photos of 4 patches
    data = ImageTensors(torch.zeros((24, 3, 4, 4), dtype=torch.uint8), torch.arange(24) % 2, names)
    folds = group_folds([name.split("-")[0] for name in names], 3, seed=0)
    rounds = []

    def fit_and_score(fitted_on, scored):
        rounds.append((set(fitted_on.paths), scored.paths))
        return np.array([float(name.rsplit("-", 1)[1][:-4]) for name in scored.paths])

    probability = out_of_fold_probabilities(data, folds, fit_and_score)
    np.testing.assert_array_equal(probability, np.arange(24)), "each image's own p(crack), in data's order"
    assert len(rounds) == 3 and sorted(n for _, scored in rounds for n in scored) == sorted(names)
    for fitted_on, scored in rounds:
        assert fitted_on == set(names) - set(scored), "fitted (and its epoch chosen) on the other folds only"


def test_suspect_labels_are_those_strongly_contradicted_most_first():
    table = suspect_labels(
        ["a", "b", "c", "d", "e"], [1, 1, 0, 0, 1], [0.02, 0.5, 0.95, 0.3, 0.08], confidence=0.9
    )
    assert table.name.tolist() == ["a", "c", "e"]
    np.testing.assert_allclose(table.contradiction, [0.98, 0.95, 0.92])


def test_a_threshold_recalibrated_on_a_named_domain_s_photos_is_to_be_used_at_that_domain_s_scale(caplog):
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    chosen = {"value": 0.2, "target_recall": 0.99, "chosen_on": "validation"}
    model = {
        "variant": "general",
        "test_time_views": 4,
        "patch_side": 227,
        "patch_sides": {"ozgenel": 227, "sdnet_walls": 256},
        "threshold": {**chosen, "per_domain": {"sdnet_walls": {**chosen, "value": 0.3}}},
    }
    scored = types.SimpleNamespace(labels=torch.tensor([1, 1, 0, 0, 1, 0]))
    p = np.array([0.9, 0.6, 0.1, 0.2, 0.7, 0.3])
    recalibrated(scored, p, for_domain(model, "sdnet_walls", "evaluate_folder.domain"), p)
    assert ",explain.test_time_views=4,explain.domain=sdnet_walls (or the same under" in caplog.text, (
        "its p(crack) came from tiles of sdnet_walls' patch side: the threshold holds there"
    )
    caplog.clear()
    recalibrated(scored, p, model, p)
    assert ",explain.test_time_views=4 (or the same under" in caplog.text, "no domain named: none to add"


def test_a_recalibrated_threshold_pasted_as_the_run_says_decides_every_image_of_the_folder_as_it_does(caplog):
    """Pasted at 4 decimals, 0.51992 (halfway in log-odds between a crack at 0.51994 and a clean image at
    0.51990) became 0.5199, which calls that clean image cracked."""
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    model = {"variant": "m", "test_time_views": 1, "threshold": {"value": 0.3, "target_recall": 0.99}}
    scored = types.SimpleNamespace(labels=torch.tensor([1, 1, 1, 0, 0, 0]))
    labelled = np.array([0.9, 0.8, 0.51994, 0.51990, 0.2, 0.1])
    folder = np.concatenate([labelled, [0.51992000001, 0.7]])  # its unlabelled images are decided too
    site = recalibrated(scored, labelled, model, folder)
    pasted = re.search(r"--params=explain\.threshold=([0-9.]+),", caplog.text).group(1)
    assert ((folder >= float(pasted)) == (folder >= site["value"])).all(), pasted
    assert f"recalibrated threshold {site['value']:.4f} for recall" in caplog.text, "shown as everywhere"
    caplog.clear()
    recalibrated(scored, np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), model, np.array([0.5]))
    assert re.search(r"explain\.threshold=0\.[0-9]{4},", caplog.text), "4 decimals where they keep the sides"


def test_a_recalibrated_threshold_under_the_fourth_decimal_is_pasted_as_it_is_shown():
    """0.00004, no image of the folder between 0 and it, was pasted as 0.0000 (every image cracked, on
    another folder), under a line that now shows it as 4.0e-05."""
    from crack_pipeline.vision.transfer.recalibration import threshold_to_paste

    assert threshold_to_paste(0.00004, np.array([0.5, 0.9])) == "4.0e-05"
    assert threshold_to_paste(0.51992, np.array([0.51994, 0.51990])) == "0.51992"


def test_a_recalibrated_threshold_no_better_than_chance_on_held_out_labels_is_warned_of(caplog):
    """The Özgenel champion on SDNET walls: threshold 0.0040 for recall 0.99, cross-fitted balanced accuracy
    0.500 (specificity 0.010), and the run only said how to use it."""
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    model = {"variant": "m", "test_time_views": 1, "threshold": {"value": 0.3, "target_recall": 0.99}}
    scored = types.SimpleNamespace(labels=torch.tensor([1, 0] * 20))
    alike = np.linspace(0.01, 0.2, 40)[::-1]
    recalibrated(scored, alike, model, alike)  # cracks and clean images alike
    assert "does no better than calling every image one class" in caplog.text
    caplog.clear()
    apart = np.tile([0.9, 0.1], 20)
    recalibrated(scored, apart, model, apart)  # told apart
    assert "recalibrated threshold" in caplog.text and "no better" not in caplog.text
    caplog.clear()
    cracks = np.linspace(0.1, 0.9, 8)
    recalibrated(types.SimpleNamespace(labels=torch.tensor([1] * 8)), cracks, model, cracks)
    assert "no better" not in caplog.text, "no clean label: balanced accuracy undefined, not chance"


def never_scored_folder(tmp_path, monkeypatch, labels: dict[str, str]) -> pd.DataFrame:
    """The image index of a folder of 96-px images labelled `labels` (path -> label, "" unlabelled), whose
    scoring by evaluate_folder fails the test: a setting must stop the run before it."""
    from crack_pipeline.pipelines.evaluate_folder import nodes

    def scored(*args, **kwargs):
        raise AssertionError("the folder was scored")

    monkeypatch.setattr(nodes, "listed_probabilities_and_features", scored)
    return pd.DataFrame(
        {
            "path": list(labels),
            "label": list(labels.values()),
            "status": "ok",
            "duplicate_of": "",
            "sha256": [f"{i + 1}" * 64 for i in range(len(labels))],
            "width": 96,
            "height": 96,
            "root": str(tmp_path),
            "domain": "site",
        }
    )


def test_a_threshold_or_share_out_of_0_1_stops_evaluate_folder_before_the_folder_is_scored(
    trained_checkpoint, tmp_path, monkeypatch
):
    """evaluate_folder.threshold=50 (a percentage) called every image clean, recall 0, without a word;
    unfamiliar_share=10 never warned, "high" failed with a TypeError once the folder was scored."""
    from crack_pipeline.pipelines.evaluate_folder import nodes
    from crack_pipeline.vision.settings import ConfigError

    index = never_scored_folder(tmp_path, monkeypatch, {"Positive/a.png": "crack", "new/c.png": ""})
    for setting, meaning in (
        ("threshold", r"a p\(crack\)"),
        ("unfamiliar_share", "a share of the folder's tiles"),  # 10 (%) never warned
    ):
        for wrong in (50, -0.1, "high", True):
            with pytest.raises(
                ConfigError, match=rf"^evaluate_folder\.{setting}: {meaning} in \[0, 1\], not "
            ):
                nodes.evaluate_folder(index, trained_checkpoint, {setting: wrong}, {}, "cpu")


def test_recalibrating_a_folder_without_crack_labels_stops_before_it_is_scored(
    trained_checkpoint, tmp_path, monkeypatch
):
    """A folder of labelled clean photos only, with evaluate_folder.recalibrate, was scored whole (hours for a
    large folder) before the run stopped, every score lost."""
    from crack_pipeline.pipelines.evaluate_folder import nodes
    from crack_pipeline.vision.errors import InputError

    labels = {"Negative/a.png": "no_crack", "Negative/b.png": "no_crack", "new/c.png": ""}
    index = never_scored_folder(tmp_path, monkeypatch, labels)
    with pytest.raises(InputError, match="recalibrate needs crack images .* 2 labelled no_crack, none crack"):
        nodes.evaluate_folder(index, trained_checkpoint, {"recalibrate": True}, {}, "cpu")


def test_recalibrating_a_folder_of_no_labelled_image_says_it_gives_no_threshold(
    trained_checkpoint, tmp_path, caplog
):
    """It was scored and ranked without a word of the threshold asked for."""
    from PIL import Image

    from crack_pipeline.pipelines.evaluate_folder import nodes

    rng = np.random.default_rng(0)
    for i in range(2):
        (tmp_path / "new").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(tmp_path / f"new/{i}.png")
    index = pd.DataFrame(
        {
            "path": ["new/0.png", "new/1.png"],
            "label": "",
            "status": "ok",
            "duplicate_of": "",
            "sha256": ["1" * 64, "2" * 64],
            "width": 96,
            "height": 96,
            "root": str(tmp_path),
            "domain": "site",
        }
    )
    with caplog.at_level(logging.WARNING):
        metrics, *_ = nodes.evaluate_folder(index, trained_checkpoint, {"recalibrate": True}, {}, "cpu")
    assert "recalibrated_threshold" not in metrics
    assert "recalibrate asked, but no image of the folder is labelled" in caplog.text
