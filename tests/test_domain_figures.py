"""Each test domain's figures with what they rest on: too few test images warned of, at split and at
evaluate."""

import numpy as np
import pandas as pd

from crack_pipeline.pipelines.evaluate.domain_figures import report_test_domains
from crack_pipeline.pipelines.split.nodes import split_counts
from crack_pipeline.vision.evaluation.evaluate import labelled_metrics
from crack_pipeline.vision.evaluation.noise import few_images_note


def _predictions(cracks: int, clean: int, missed: int, false_alarms: int, domain: str = "ozgenel"):
    """A model's predictions as evaluate records them (a `correct` column), on `cracks` + `clean` images
    of `domain`, the first `missed` cracks and the first `false_alarms` clean ones decided wrong."""
    labels = ["crack"] * cracks + ["no_crack"] * clean
    correct = [i >= missed for i in range(cracks)] + [i >= false_alarms for i in range(clean)]
    keys = [f"{domain}/{i}.jpg" for i in range(cracks + clean)]
    return pd.DataFrame({"file": keys, "domain": domain, "true_label": labels, "correct": correct})


def test_a_domain_of_few_test_images_is_warned_of_at_split_and_at_evaluate_with_its_counts(caplog):
    """The recipe's site: 100 labels split 70 / 15 / 15 left it 14 test images, its balanced accuracy
    reported beside Özgenel's 600 with nothing to say it rests on so few."""
    assert few_images_note(300, 300) is None
    assert (
        few_images_note(6, 8)
        == "14 test images (6 crack, 8 clean): one image moves its balanced accuracy by up to 0.083"
    )
    manifest = pd.DataFrame(
        {
            "domain": ["ozgenel"] * 80 + ["site_b"] * 14,
            "label": (["crack", "no_crack"] * 40) + ["crack"] * 6 + ["no_crack"] * 8,
            "split": ["test"] * 94,
        }
    )
    split_counts(manifest)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("split: domain site_b keeps 14 test images (6 crack, 8 clean): one image")
    caplog.clear()
    caplog.set_level("INFO", logger="crack_pipeline")
    both = pd.concat([_predictions(40, 40, 0, 0), _predictions(6, 8, 1, 0, domain="site_b")])
    y = (both.true_label == "crack").to_numpy(dtype=int)
    metrics, _ = labelled_metrics(
        y, np.where(both.correct, y, 1 - y).astype(float), 0.5, both.domain.tolist()
    )
    report_test_domains("lite0", metrics)
    [warning] = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        "evaluate: lite0 test domain site_b: its figures rest on 14 test images (6 crack"
    )
    assert "evaluate_folder.domain=site_b" in warning
