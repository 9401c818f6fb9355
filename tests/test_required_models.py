"""require_registered_models: a registered model a run reads but cannot make stops it before its first node;
one the run makes (a champion it promotes, a variant it trains) does not."""

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import DatasetError
from kedro.pipeline import Node, Pipeline

from crack_pipeline.datasets.registered_model import RegisteredModelDataset, require_registered_models


def _explain(model):
    return model


def _train():
    return {}


@pytest.fixture
def empty_registry(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the registry's too (none set apart)
    yield
    mlflow.set_tracking_uri(previous)


def _catalog(variant=None):
    return DataCatalog(
        {
            "explain_model": RegisteredModelDataset(variant=variant, parameter="explain.model"),
            "small_cnn.checkpoint": MemoryDataset(),
        }
    )


def test_a_model_no_node_makes_stops_the_run_before_its_first_node(empty_registry):
    explain = Pipeline([Node(_explain, "explain_model", "explanations", name="explain")])
    with pytest.raises(DatasetError, match="explain_model: the MLflow registry .* has no 'champion' model"):
        require_registered_models(explain, _catalog())
    with pytest.raises(DatasetError, match="has no variant 'small_cnn'"):
        require_registered_models(explain, _catalog("small_cnn"))


def test_a_variant_the_run_trains_is_left_to_its_nodes(empty_registry):
    """`kedro run --pipelines=train,explain --params=explain.model=small_cnn`: the training registers
    small_cnn (MlflowVariantRunHook, once its checkpoint is saved) before explain reads it."""
    train_and_explain = Pipeline(
        [
            Node(_train, None, "small_cnn.checkpoint", name="small_cnn.train"),
            Node(_explain, "explain_model", "explanations", name="explain"),
        ]
    )
    require_registered_models(train_and_explain, _catalog("small_cnn"))
    with pytest.raises(DatasetError, match="has no variant 'resnet18'"):  # another variant: still required
        require_registered_models(train_and_explain, _catalog("resnet18"))
