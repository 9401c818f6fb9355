"""A new site's own decision threshold from its labels (`evaluate_folder.recalibrate`), any model's."""

import logging
import types

import numpy as np
import pandas as pd
import pytest
import torch

from crack_pipeline.pipelines.evaluate_folder.site_labels import check_recalibration, recalibrated
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.metrics import threshold_for_false_alarms


def test_a_one_class_model_s_site_threshold_is_chosen_for_its_false_alarm_rate_on_clean_labels(caplog):
    """With a one-class model (its threshold chosen for a false-alarm rate, no recall recorded),
    evaluate_folder.recalibrate failed with a raw TypeError once the whole folder was scored, and a site of
    clean photos only was refused for having no crack."""
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    rng = np.random.default_rng(0)
    y_val = np.array([0] * 50)
    model = {
        "variant": "patch_memory",
        "test_time_views": 1,
        "threshold": threshold_for_false_alarms(y_val, rng.uniform(0, 0.3, 50), 0.1),
    }
    y = np.array([0] * 20)
    p = rng.uniform(0.2, 0.6, 20)  # a site whose clean surface scores higher
    site = recalibrated(types.SimpleNamespace(labels=torch.from_numpy(y)), p, model, p)
    assert site["value"] == threshold_for_false_alarms(y, p, 0.1)["value"]
    assert site["false_alarm_rate"] == 0.1 and site["target_recall"] is None
    estimate = site["cross_fitted"]
    assert estimate["n"] == 20 and estimate["recall"] is None and 0 < estimate["specificity"] < 1
    assert f"recalibrated threshold {site['value']:.4f} for false alarms 0.10 on 20 labelled" in caplog.text
    check_recalibration(pd.Series(["no_crack"] * 20 + [""] * 3), model)  # clean photos are what it needs
    with pytest.raises(InputError, match="needs no_crack images .* 2 labelled crack, none no_crack; model"):
        check_recalibration(pd.Series(["crack", "crack", ""]), model)
