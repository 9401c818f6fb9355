"""Every metric against scikit-learn (or by hand) on fixed inputs, and the recall-first threshold search."""

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.calibration import expected_calibration_error, reliability
from crack_pipeline.vision.evaluation.metrics import (
    binary_metrics,
    format_metric,
    threshold_for_recall,
)
from crack_pipeline.vision.training.log_lines import figures_line

Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
P = np.array([0.9, 0.8, 0.45, 0.6, 0.3, 0.55, 0.1, 0.2, 0.65, 0.95])


def test_metrics_match_scikit_learn():
    m = binary_metrics(Y, P, 0.5)
    predicted = (P >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(Y, predicted))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(Y, predicted))
    assert m["precision"] == pytest.approx(sk.precision_score(Y, predicted))
    assert m["recall"] == pytest.approx(sk.recall_score(Y, predicted))
    assert m["f1"] == pytest.approx(sk.f1_score(Y, predicted))
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(Y, P))
    assert m["pr_auc"] == pytest.approx(sk.average_precision_score(Y, P))
    assert m["brier"] == pytest.approx(sk.brier_score_loss(Y, P))
    # By hand: predicted crack at 0.9 0.8 0.6 0.55 0.65 0.95 -> tp 4, fp 2, fn 1 (0.45), tn 3.
    assert (m["tp"], m["fp"], m["fn"], m["tn"], m["n"]) == (4, 2, 1, 3, 10)
    assert m["specificity"] == pytest.approx(3 / 5)


def test_threshold_changes_the_counts():
    m = binary_metrics(Y, P, 0.7)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 0, 2, 5)


def test_expected_calibration_error_is_computed_on_the_reliability_plots_bins():
    # Ten bins of p(crack): 0.92 x4 (3 cracks) in [0.9, 1], 0.35 x2 (1 crack) in [0.3, 0.4), 0.05 x2 (none).
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    p = np.array([0.92, 0.92, 0.92, 0.92, 0.35, 0.35, 0.05, 0.05])
    observed, predicted, counts = reliability(y, p)
    np.testing.assert_allclose(observed, [0.0, 0.5, 0.75])
    np.testing.assert_allclose(predicted, [0.05, 0.35, 0.92])
    assert counts.tolist() == [2, 2, 4]
    expected = 2 / 8 * 0.05 + 2 / 8 * abs(0.5 - 0.35) + 4 / 8 * abs(0.75 - 0.92)
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0
    # Agrees with scikit-learn's own display, which draws the reliability plot.
    from sklearn.calibration import calibration_curve

    sk_observed, sk_predicted = calibration_curve(y, p, n_bins=10)
    np.testing.assert_allclose(sk_observed, observed)
    np.testing.assert_allclose(sk_predicted, predicted)


def test_one_class_gives_undefined_not_a_number():
    m = binary_metrics(np.ones(4), np.array([0.9, 0.8, 0.2, 0.7]), 0.5)
    assert m["roc_auc"] is None and m["pr_auc"] is None and m["balanced_accuracy"] is None
    assert m["specificity"] is None and m["recall"] == 0.75
    assert format_metric(m["roc_auc"]) == "undefined (one class)" and format_metric(0.91234) == "0.9123"
    # Clean images only: no crack to find, so no recall nor F1 (scikit-learn's 0 read as "missed them all").
    clean = binary_metrics(np.zeros(4), np.array([0.9, 0.8, 0.2, 0.7]), 0.5)
    assert clean["recall"] is None and clean["f1"] is None and clean["specificity"] == 0.25


def _log_odds(p):
    return np.log(p / (1 - p))


def test_threshold_for_recall_sits_mid_margin_below_the_last_crack_needed():
    # Crack probabilities sorted: 0.95 0.9 0.8 0.6 0.45; clean ones: 0.65 0.55 0.3 0.2 0.1
    for target, last_needed, clean_below in (
        (1.0, 0.45, 0.3),
        (0.8, 0.6, 0.55),
        (0.79, 0.6, 0.55),
        (0.2, 0.95, 0.65),
    ):
        threshold = threshold_for_recall(Y, P, target)
        middle = (_log_odds(last_needed) + _log_odds(clean_below)) / 2
        assert threshold == pytest.approx(1 / (1 + np.exp(-middle)), abs=1e-12)
        assert clean_below < threshold < last_needed
        # The same false alarms as at the last crack needed, and at least its recall.
        at_bound, chosen = binary_metrics(Y, P, last_needed), binary_metrics(Y, P, threshold)
        assert chosen["specificity"] == at_bound["specificity"] and chosen["recall"] >= at_bound["recall"]
        assert chosen["recall"] >= target - 1e-12
    for target in (0.2, 0.5, 0.8, 0.99, 1.0):
        assert binary_metrics(Y, P, threshold_for_recall(Y, P, target))["recall"] >= target - 1e-12


def test_a_separable_validation_split_gets_a_threshold_between_the_classes_not_at_its_top():
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([1.0, 0.99999, 0.9999, 1e-6, 0.0])
    threshold = threshold_for_recall(y, p, 0.99)
    assert 1e-6 < threshold < 0.9999, "between the classes, as far in log-odds from either"
    assert threshold == pytest.approx(1 / (1 + np.exp(-(_log_odds(0.9999) + _log_odds(1e-6)) / 2)))
    # No clean image below the last crack needed: the bound itself.
    assert threshold_for_recall(np.array([1, 1, 0]), np.array([0.4, 0.7, 0.9]), 1.0) == 0.4


@pytest.mark.parametrize(
    "cracks, clean",
    [
        ([1.0, 1.0], [0.0]),  # saturated at both ends
        ([1.0], [1 - 1e-13]),  # a few ulps below 1
        ([1e-14], [1e-16]),  # a new site's p(crack) collapsed towards 0
        ([0.3], [np.nextafter(0.3, 0)]),  # one ulp apart
    ],
)
def test_the_threshold_never_leaves_the_margin_however_extreme_the_probabilities(cracks, clean):
    y, p = np.array([1] * len(cracks) + [0] * len(clean)), np.array(cracks + clean, dtype=float)
    threshold = threshold_for_recall(y, p, 1.0)
    assert max(clean) < threshold <= min(cracks)
    assert (
        binary_metrics(y, p, threshold)["recall"] == 1.0
        and binary_metrics(y, p, threshold)["specificity"] == 1.0
    )


def test_a_confident_models_saturated_cracks_get_a_threshold_below_1():
    # float32 logits as a confident model gives them: validation cracks at margins 18-30 (p(crack) exactly 1),
    # clean images at -30 to -2; the test's cracks a little less confident, at 10-17 (p(crack) 0.99995-1).
    from crack_pipeline.vision.models.inference import crack_probability_of

    def p_crack(margins):
        return crack_probability_of(torch.tensor(np.stack([np.zeros(len(margins)), margins], 1)).float())

    rng = np.random.default_rng(0)
    y = np.array([1] * 100 + [0] * 100)
    p = p_crack(np.concatenate([rng.uniform(18, 30, 100), rng.uniform(-30, -2, 100)]))
    assert (p[y == 1] == 1.0).all()
    threshold = threshold_for_recall(y, p, 0.99)
    assert p[y == 0].max() < threshold < 1.0, "mid-margin, not at the saturated bound"
    assert binary_metrics(np.ones(50), p_crack(rng.uniform(10, 17, 50)), threshold)["recall"] == 1.0


def test_threshold_needs_crack_images():
    with pytest.raises(ValueError, match="no crack image"):
        threshold_for_recall(np.zeros(4), np.full(4, 0.3), 0.9)
    with pytest.raises(ValueError, match="target_recall"):
        threshold_for_recall(Y, P, 0.0)


def test_promotion_needs_strictly_better():
    from crack_pipeline.pipelines.evaluate.comparison import is_better

    assert is_better(0.9, None)  # no champion yet: the best variant becomes one
    assert is_better(0.91, 0.90)
    assert not is_better(0.90, 0.90)  # a tie keeps the current champion
    assert not is_better(0.89, 0.90)
    assert is_better(0.02, 0.03, higher_is_better=False)  # e.g. ECE or Brier score
    assert not is_better(0.03, 0.03, higher_is_better=False)


def test_comparison_ranks_the_variants_of_this_split_and_keeps_a_tied_champion(monkeypatch, caplog):
    import pandas as pd

    from crack_pipeline.pipelines.evaluate import champion as deciding
    from crack_pipeline.pipelines.evaluate.nodes import compare_variants
    from crack_pipeline.provenance import learned_images, split_fingerprint

    manifest = pd.DataFrame(
        {
            "domain": ["site"] * 2,
            "path": ["a.jpg", "b.jpg"],
            "sha256": ["1", "2"],
            "label": ["crack", "no_crack"],
            "split": ["test"] * 2,
        }
    )

    current_split = split_fingerprint(manifest)

    def metrics(variant, f1, checkpoint_id, split=current_split):
        block = {
            "accuracy": 0.9,
            "balanced_accuracy": 0.9,
            "roc_auc": 0.95,
            "pr_auc": 0.94,
            "ece": 0.05,
            "recall": 0.99,
            "precision": 0.8,
            "f1": f1,
        }
        return {
            "variant": variant,
            "checkpoint_id": checkpoint_id,
            "split_fingerprint": split,
            "threshold": {"value": 0.3, "target_recall": 0.99},
            "at_half": block,
            "at_threshold": block,
            "training": {
                "architecture": variant,
                "pretrained": False,
                "epochs": 2,
                "best_epoch": 2,
                "input_size": 64,
                "train_seconds": 1.0,
                "train_images_per_second": 10.0,
            },
        }

    settings, train = {"champion_metric": "at_threshold.f1"}, {"target_recall": 0.99}
    evaluated = [
        metrics("a", 0.8, "ca"),
        metrics("b", 0.9, "cb"),
        None,
        metrics("c", 0.99, "cc", split="old"),
        *[None] * 4,  # their predictions: none needed while no champion learned from a test image
    ]
    table, markdown, decision = compare_variants(settings, train, None, None, manifest, {}, "cpu", *evaluated)
    assert table.variant.tolist() == ["b", "a"], "never trained (None) and another split's variant left out"
    assert "| b " in markdown and decision["candidate"] == "b" and decision["promote"]
    current = {"checkpoint_id": "cb", "variant": "b", "model_version": "7"}
    _, _, again = compare_variants(settings, train, current, None, manifest, {}, "cpu", *evaluated)
    assert again["current_value"] == again["candidate_value"] and not again["promote"]
    with pytest.raises(InputError, match="champion_metric.*at_threshold.f2"):
        compare_variants(
            {"champion_metric": "at_threshold.f2"}, train, None, None, manifest, {}, "cpu", *evaluated
        )
    with pytest.raises(InputError, match="no model variant has been evaluated on the current split"):
        compare_variants(
            settings,
            train,
            None,
            None,
            manifest,
            {},
            "cpu",
            None,
            metrics("c", 0.99, "cc", split="old"),
            None,
            None,
        )
    # A champion re-evaluated on a split made after it: how many test images it learned from is recorded.
    asked = []

    def scored_again(*_, **options):
        asked.append(options)
        return metrics("o", 0.95, "co"), None, None

    monkeypatch.setattr(deciding, "evaluate_checkpoint", scored_again)
    monkeypatch.setattr(deciding, "at_input_size", lambda tensors, *_: tensors)
    older = {
        "checkpoint_id": "co",
        "variant": "o",
        "learned_images": learned_images(manifest.head(1).assign(split="train")),
    }
    _, _, decision = compare_variants(
        settings, train, {**older, "input_size": 64}, None, manifest, {}, "cpu", *evaluated
    )
    assert decision["current_value"] == 0.95 and decision["current_learned_test_images"] == 1
    assert asked == [{"figures": False}], "scored for its metrics; figures drawn there were thrown away"
    assert (
        "the champion's re-evaluation: 1 of the 2 test images are images model o learned from" in caplog.text
    )


def test_a_champion_that_learned_from_test_images_is_compared_on_the_others_only(monkeypatch, caplog):
    """A folder grown since the champion was trained: a new split tests it on images it learned from, where
    it scores well, so it kept its place against a better model (0.80 against 0.69 on the whole test split,
    22 of its 44 images learned). Both are compared on the images the champion never saw."""
    import pandas as pd

    from crack_pipeline.pipelines.evaluate import champion as deciding
    from crack_pipeline.pipelines.evaluate.nodes import compare_variants
    from crack_pipeline.provenance import learned_images, split_fingerprint

    labels = ["crack", "no_crack"] * 4
    manifest = pd.DataFrame(
        {
            "domain": "site",
            "path": [f"{i}.jpg" for i in range(8)],
            "sha256": [f"{i + 10:x}" for i in range(8)],
            "label": labels,
            "split": "test",
        }
    )
    keys = [f"site/{i}.jpg" for i in range(8)]

    def evaluation(variant, checkpoint_id, probability):
        y = np.array([label == "crack" for label in labels], dtype=int)
        scores = binary_metrics(y, np.array(probability), 0.5)
        return {
            "variant": variant,
            "checkpoint_id": checkpoint_id,
            "split_fingerprint": split_fingerprint(manifest),
            "threshold": {"value": 0.5, "target_recall": 0.99},
            "at_half": scores,
            "at_threshold": scores,
            "training": dict.fromkeys(
                ["architecture", "pretrained", "epochs", "best_epoch", "input_size", "train_seconds"], 1
            )
            | {"train_images_per_second": 1.0},
        }, pd.DataFrame({"file": keys, "true_label": labels, "crack_probability": probability})

    # The champion is right on the 4 images it learned from (0-3) and wrong on 2 of the other 4; the
    # candidate is wrong on 2 of the first 4 and right on the other 4.
    champion_scores = [0.9, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.1]
    candidate_scores = [0.1, 0.9, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1]
    champion, champion_predictions = evaluation("old", "co", champion_scores)
    candidate, candidate_predictions = evaluation("new", "cn", candidate_scores)
    scored_again = (champion, champion_predictions, None)
    monkeypatch.setattr(deciding, "evaluate_checkpoint", lambda *_, **__: scored_again)
    monkeypatch.setattr(deciding, "at_input_size", lambda tensors, *_: tensors)
    current = {
        "checkpoint_id": "co",
        "variant": "old",
        "input_size": 64,
        "learned_images": learned_images(manifest.head(4).assign(split="train")),
    }
    train = {"target_recall": 0.99}

    def decide(metric, predictions):
        return compare_variants(
            {"champion_metric": metric}, train, current, None, manifest, {}, "cpu", candidate, predictions
        )[2]

    assert (champion["at_threshold"]["accuracy"], candidate["at_threshold"]["accuracy"]) == (0.75, 0.75)
    decision = decide("at_threshold.accuracy", candidate_predictions)
    assert decision["compared_on"] == "the 4 test images champion old did not learn from"
    assert (decision["candidate_value"], decision["current_value"]) == (1.0, 0.5) and decision["promote"]
    assert "evaluate: compared on the 4 test images champion old did not learn from" in caplog.text

    without = decide("at_threshold.accuracy", None)  # an evaluation from before predictions were read
    assert without["compared_on"] == "the test split" and not without["promote"], "a tie keeps the champion"
    assert "the candidate's predictions on the test images old did not learn from are missing" in (
        caplog.text
    )

    # Where the metric is undefined on the images the champion did not learn (one class), both are compared
    # by accuracy there. Before, the candidate won against no value, however many false alarms it raised.
    def only_unlearned(index, metric, higher=True):
        current["learned_images"] = learned_images(manifest.drop(index=[index]).assign(split="train"))
        settings = {"champion_metric": metric, "champion_higher_is_better": higher}
        return compare_variants(
            settings, train, current, None, manifest, {}, "cpu", candidate, candidate_predictions
        )[2]

    one_class = only_unlearned(4, "at_half.roc_auc")  # a crack: the champion misses it, the candidate not
    assert one_class["compared_by"] == "at_threshold.accuracy" and one_class["promote"]
    assert (one_class["candidate_value"], one_class["current_value"]) == (1.0, 0.0)
    assert "at_half.roc_auc is undefined on the 1 test images champion old did not learn from" in caplog.text
    false_alarm = only_unlearned(1, "at_threshold.f1")  # a clean image the candidate calls cracked
    assert (false_alarm["candidate_value"], false_alarm["current_value"]) == (0.0, 1.0)
    assert not false_alarm["promote"], "more false alarms where the champion is fairly measured"
    both_right = only_unlearned(7, "at_threshold.f1")
    assert both_right["current_value"] == 1.0 and not both_right["promote"], "a tie keeps the champion"
    # Accuracy decides higher-is-better even for a metric ranked lower-is-better
    assert not only_unlearned(1, "at_threshold.f1", higher=False)["promote"]
    assert only_unlearned(5, "at_threshold.f1", higher=False)["promote"]


def test_a_split_without_test_images_is_named_as_such_not_a_key_error():
    """A manifest split with `split.ratios.test: 0` (allowed for a split alone) then evaluated: a KeyError."""
    from crack_pipeline.pipelines.evaluate.checkpoint_scores import evaluate_checkpoint

    with pytest.raises(InputError, match=r"no test images \(made with split\.ratios\.test: 0\)"):
        evaluate_checkpoint({"variant": "net"}, {"train": None, "val": None}, 0.99, "cpu")


def test_a_clean_image_tied_with_the_last_crack_needed_does_not_pull_the_threshold_up_to_it():
    # The clean image at 0.6 is a false alarm at any threshold that finds the crack at 0.6: the margin runs
    # down to the next clean image, 0.3, and the threshold sits mid-way, not at the bound.
    y, p = np.array([1, 1, 1, 0, 0]), np.array([0.9, 0.8, 0.6, 0.6, 0.3])
    threshold = threshold_for_recall(y, p, 1.0)
    assert threshold == pytest.approx(1 / (1 + np.exp(-(_log_odds(0.6) + _log_odds(0.3)) / 2)))
    assert binary_metrics(y, p, threshold)["fp"] == binary_metrics(y, p, 0.6)["fp"] == 1


def _float32_saturation(at_one: bool) -> float:
    """The least extreme log-odds at which a float32 softmax gives p(crack) exactly 1 (or 0), by bisection."""
    from crack_pipeline.vision.models.inference import crack_probability_of

    def saturated(margin):
        p = crack_probability_of(torch.tensor([[0.0, margin if at_one else -margin]], dtype=torch.float32))[0]
        return p == (1.0 if at_one else 0.0)

    low, high = 1.0, 200.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if saturated(middle) else (middle, high)
    return high if at_one else -high


@pytest.mark.parametrize("at_one", [True, False])
def test_a_saturated_probability_counts_at_the_log_odds_a_float32_softmax_saturates_from(at_one):
    # Cracks at exactly 1 against a clean image at 0.5, or a crack at 0.5 against a clean image at exactly 0:
    # the threshold sits mid-way between 0.5 and where the float32 softmax starts giving 1 (or 0). (They were
    # taken ln 2 off: at 25 ln 2, where 1 - p would round to 1, and at the smallest float32, not half of it.)
    y = np.array([1, 0])
    p = np.array([1.0, 0.5]) if at_one else np.array([0.5, 0.0])
    middle = _float32_saturation(at_one) / 2
    assert _log_odds(threshold_for_recall(y, p, 1.0)) == pytest.approx(middle, abs=0.01)


def test_a_false_alarm_rate_allows_the_share_rounded_down_never_more():
    # 10 clean images, 15 % allowed: 1.5 false alarms rounds down to 1, the lowest threshold giving 1.
    from crack_pipeline.vision.evaluation.metrics import threshold_for_false_alarms

    clean = np.linspace(0.05, 0.5, 10)
    y, p = np.array([0] * 10 + [1]), np.append(clean, 0.9)
    chosen = threshold_for_false_alarms(y, p, 0.15)
    assert (clean >= chosen["value"]).sum() == 1
    assert clean[-2] < chosen["value"] <= np.nextafter(clean[-2], 1), "the lowest giving one false alarm"


def test_a_threshold_records_what_binary_metrics_gives_there_from_the_counts_alone(monkeypatch):
    """Choosing a threshold computed every metric at it (ROC and PR curves, calibration, scikit-learn's
    input checks: 28 ms a call, four per trained variant) to record four of them."""
    from crack_pipeline.vision.evaluation import metrics
    from crack_pipeline.vision.evaluation.metrics import threshold_for_false_alarms, threshold_on_validation

    class NoScikitLearn:
        def __getattr__(self, name):
            raise AssertionError(f"sklearn.metrics.{name} called")

    domains = np.array(["a"] * 5 + ["b"] * 5)
    with monkeypatch.context() as without:
        without.setattr(metrics, "sk", NoScikitLearn())
        by_recall = threshold_on_validation(Y, P, 0.75, domains=domains)
        by_false_alarms = threshold_for_false_alarms(Y, P, 0.2)
    in_a = domains == "a"
    for chosen, y, p in (
        (by_recall, Y, P),
        (by_recall["per_domain"]["a"], Y[in_a], P[in_a]),
        (by_false_alarms, Y, P),
    ):
        reached = binary_metrics(y, p, chosen["value"])
        assert chosen["validation_recall"] == reached["recall"]
        assert chosen["validation_precision"] == reached["precision"]
    reached = binary_metrics(Y, P, by_recall["value"])
    assert by_recall["validation_specificity"] == reached["specificity"]
    assert by_recall["validation_cracks"] == reached["tp"] + reached["fn"] == 5


def test_a_variant_is_evaluated_only_on_the_split_it_was_trained_on():
    """`--from-nodes=<variant>.evaluate_variant` after a new split scored the model on images it may have
    learned from, and logged that into its training run under its own split's fingerprint."""
    import pandas as pd

    from crack_pipeline.pipelines.evaluate.nodes import evaluate_variant
    from crack_pipeline.provenance import require_split_of, split_fingerprint

    manifest = pd.DataFrame(
        {
            "path": ["a.png", "b.png"],
            "sha256": ["0" * 64, "1" * 64],
            "label": ["crack"] * 2,
            "split": ["train", "test"],
        }
    )
    resplit = manifest.assign(split=["test", "train"])
    trained = {"variant": "net", "split_fingerprint": split_fingerprint(manifest)}
    with pytest.raises(InputError, match=r"^net was trained on another split than the current one: train it"):
        evaluate_variant(trained, {}, resplit, {"target_recall": 0.99}, "cpu")
    require_split_of(trained, manifest)
    require_split_of({"variant": "older"}, resplit)  # one from before fingerprints were recorded


def test_figures_are_said_as_name_value_pairs_not_as_a_dict():
    """A variant's best epoch was logged as `best epoch 2 {'val_loss': 0.6647809147834778, ...} {...}`."""
    figures = {"epoch": 2, "val_loss": 0.6647809147834778, "test_roc_auc": None, "lr": 1e-5, "grad": 0.0}
    line = figures_line(figures)
    assert line == "val_loss=0.6648 test_roc_auc=undefined lr=1.00e-05 grad=0.0000"
    assert all(pair.count("=") == 1 for pair in line.split()), "each value one word, as grep and awk split"
