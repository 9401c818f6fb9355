"""`kedro prune --models` keeps the registered version a run started from by number given on the command
line (`--params=train.models.<name>.init_from=N`): only the configuration's files were read, so the nightly
`retrain --params=...init_from=3` line lost its starting model to the prune that followed it, and failed
from the next night on."""

from __future__ import annotations

import mlflow

from crack_pipeline.tracking import REGISTERED_MODEL
from tests.conftest import kedro


def test_a_version_a_run_started_from_by_params_is_kept(kedro_project):
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    mlflow.set_experiment("crack_pipeline")
    client = mlflow.MlflowClient()
    client.create_registered_model(REGISTERED_MODEL)
    for _ in range(4):  # versions 1 … 4 of one variant
        client.create_model_version(REGISTERED_MODEL, str(kedro_project), tags={"variant": "small_cnn"})
    # The parameters kedro-mlflow records of a run given --params=train.models.small_cnn.init_from=2, and of
    # an earlier one that started resnet18 from version 1, spaces around it (flattened, as mlflow.yml says).
    with mlflow.start_run():
        mlflow.log_params(
            {"train.models.small_cnn.architecture": "small_cnn", "train.models.small_cnn.init_from": 2}
        )
    with mlflow.start_run():
        mlflow.log_params({"train.models.resnet18.init_from": " 1 ", "train.models.resnet18.pretrained": 3})

    listed = kedro(kedro_project, "prune", "--keep", "1", "--models", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert "registered version 3 (small_cnn): removes it" in listed.output, "named by no setting"
    assert "registered version 2 " not in listed.output and "registered version 1 " not in listed.output
