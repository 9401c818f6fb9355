"""MLflow records of explanations: every method's scores are logged under names MLflow accepts."""

import mlflow
import pytest

from crack_pipeline.tracking import log_explanations, mlflow_key
from crack_pipeline.vision.explain.cam import METHODS as CAM_METHODS


@pytest.mark.parametrize(
    ("key", "expected"),
    [("gradcam++", "gradcampp"), ("layercam", "layercam"), ("a b/c:d-e.f", "a b/c:d-e.f"), ("é#", "__")],
)
def test_mlflow_key_keeps_what_mlflow_accepts_and_replaces_the_rest(key, expected):
    assert mlflow_key(key) == expected


def test_every_cam_methods_scores_are_logged(tmp_path):
    """gradcam++ stopped `explain` after its maps were made: MLflow refuses "+" in a metric name."""
    quality = {
        "methods": {method: {"pointing_game": 0.5, "photo": {"n": 2}} for method in CAM_METHODS},
    }
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with mlflow.start_run() as run:
            log_explanations({"index.html": b"<html></html>"}, quality)
        logged = mlflow.get_run(run.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri(previous)
    assert logged["explain.gradcampp.pointing_game"] == 0.5
    assert logged["explain.gradcampp.photo.n"] == 2
    assert len(logged) == 2 * len(CAM_METHODS)
