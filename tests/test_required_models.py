"""require_registered_models: a registered model a run reads but cannot make stops it before its first node;
one the run makes (a champion it promotes, a variant it trains) does not."""

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import DatasetError
from kedro.pipeline import Node, Pipeline

from crack_pipeline.datasets.registered_model import (
    ModelRegistryDataset,
    RegisteredModelDataset,
    require_registered_models,
)
from crack_pipeline.datasets.starting_models import require_init_from_models
from crack_pipeline.tracking import CHAMPION_ALIAS, DOMAINS_TAG, REGISTERED_MODEL
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError
from tests.conftest import new_store


def _explain(model):
    return model


def _train():
    return {}


@pytest.fixture
def empty_registry(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(new_store(tmp_path / "mlflow.db"))  # the registry's too (none set apart)
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
        require_registered_models(explain, _catalog(), {})
    with pytest.raises(DatasetError, match="has no variant 'small_cnn'"):
        require_registered_models(explain, _catalog("small_cnn"), {})


def test_a_variant_the_run_trains_is_left_to_its_nodes(empty_registry):
    """`kedro run --pipelines=train,explain --params=explain.model=small_cnn`: the training registers
    small_cnn (MlflowVariantRunHook, once its checkpoint is saved) before explain reads it."""
    train_and_explain = Pipeline(
        [
            Node(_train, None, "small_cnn.checkpoint", name="small_cnn.train"),
            Node(_explain, "explain_model", "explanations", name="explain"),
        ]
    )
    require_registered_models(train_and_explain, _catalog("small_cnn"), {})
    with pytest.raises(DatasetError, match="has no variant 'resnet18'"):  # another variant: still required
        require_registered_models(train_and_explain, _catalog("resnet18"), {})


def test_a_domain_the_model_was_not_trained_on_stops_the_run_before_its_first_node(empty_registry, tmp_path):
    """`kedro run --pipelines=explain --params=explain.domain=walls` on a model of ozgenel and sdnet_walls:
    stopped before the folder is read, from the registered version's tags (its checkpoint not downloaded)."""
    client = mlflow.MlflowClient()
    client.create_registered_model(REGISTERED_MODEL)
    tags = {"variant": "general", DOMAINS_TAG: '["ozgenel", "sdnet_walls"]'}
    version = client.create_model_version(REGISTERED_MODEL, str(tmp_path), tags=tags)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version.version)
    explain = Pipeline([Node(_explain, "explain_model", "explanations", name="explain")])
    for named in ({}, {"explain": {"domain": None}}, {"explain": {"domain": "sdnet_walls"}}):
        require_registered_models(explain, _catalog(), named)
    with pytest.raises(
        ConfigError,
        match=r"^explain\.domain: 'walls', but model general was trained on ozgenel, sdnet_walls$",
    ):
        require_registered_models(explain, _catalog(), {"explain": {"domain": "walls"}})
    older = client.create_model_version(REGISTERED_MODEL, str(tmp_path), tags={"variant": "old"})
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, older.version)
    require_registered_models(explain, _catalog(), {"explain": {"domain": "walls"}})  # left to its node


def test_a_model_a_variant_starts_from_that_the_registry_lacks_stops_the_run_before_its_first_node(
    empty_registry, tmp_path
):
    """`init_from: champoin` (or a champion not made yet) stopped the run only once that variant's training
    began: after the folder's ingest, the split's decoding and every variant trained before it. A run that
    promotes a champion is checked too: its promotion comes after the training that reads it."""
    catalog = DataCatalog({"registered_models": ModelRegistryDataset()})
    run = Pipeline(
        [
            Node(_train, None, "small_cnn.checkpoint", name="small_cnn.train"),
            Node(_explain, "registered_models", "site_b.checkpoint", name="site_b.train"),
            Node(_explain, "site_b.checkpoint", "champion", name="promote_champion"),
        ]
    )

    def starting_from(reference):
        return {"train": {"models": {"site_b": {"architecture": "small_cnn", "init_from": reference}}}}

    for missing in ("champion", "champoin", 3):
        with pytest.raises(DatasetError, match=f"train.models.site_b.init_from: '{missing}' names no model"):
            require_init_from_models(run, catalog, starting_from(missing))
    require_init_from_models(run, catalog, starting_from("small_cnn"))  # trained in this run: left to it
    require_init_from_models(run, catalog, starting_from(None))
    client = mlflow.MlflowClient()
    client.create_registered_model(REGISTERED_MODEL)
    version = client.create_model_version(REGISTERED_MODEL, str(tmp_path), tags={"variant": "small_cnn"})
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version.version)
    for present in ("champion", version.version, "small_cnn"):
        require_init_from_models(run, catalog, starting_from(present))


def test_a_model_of_another_architecture_a_variant_starts_from_stops_the_run_before_its_first_node(
    empty_registry, tmp_path
):
    """README's site recipe in conf/local/ (efficientnet_lite0 from `champion`) where the default run's
    champion is a small_cnn: the run ingested the folder, wrote a new split and decoded it before the
    training said the architectures differ. Now said before the first node, from the version's run's tags."""
    catalog = DataCatalog({"registered_models": ModelRegistryDataset()})
    run = Pipeline([Node(_explain, "registered_models", "site_b.checkpoint", name="site_b.train")])
    client = mlflow.MlflowClient()
    trained = client.create_run(client.create_experiment("runs"), tags={"architecture": "small_cnn"})
    client.create_registered_model(REGISTERED_MODEL)
    tags = {"variant": "small_cnn"}
    version = client.create_model_version(REGISTERED_MODEL, str(tmp_path), trained.info.run_id, tags=tags)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version.version)

    def starting_from(architecture):
        return {"train": {"models": {"site_b": {"architecture": architecture, "init_from": "champion"}}}}

    with pytest.raises(
        InputError,
        match=r"^train\.models\.site_b\.init_from: 'champion' \(version 1, small_cnn\) "
        r"has architecture small_cnn, but variant site_b has efficientnet_lite0: initialise from a model of "
        r"the same architecture",
    ):
        require_init_from_models(run, catalog, starting_from("efficientnet_lite0"))
    require_init_from_models(run, catalog, starting_from("small_cnn"))
    by_hand = client.create_model_version(REGISTERED_MODEL, str(tmp_path), tags={"variant": "small_cnn"})
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, by_hand.version)
    require_init_from_models(run, catalog, starting_from("efficientnet_lite0"))  # no run: left to training


def test_a_champion_the_store_lacks_is_named_with_the_store_and_where_another_environments_is_found(
    empty_registry, tmp_path
):
    """README's 'Keep what the model knew' in conf/local/ (the default environment's store) from the Özgenel
    champion (KEDRO_ENV=ozgenel's): the message told to use 'champion', the reference given, and named no
    store, so nothing said that the champion was in another environment's."""
    with pytest.raises(DatasetError) as raised:
        ModelRegistryDataset().load().version("champion", "train.models.site_b.init_from")
    assert str(tmp_path / "mlflow.db") in str(raised.value) and "versions: none yet" in str(raised.value)
    assert "KEDRO_ENV=<env> is found in runs of it, set in conf/<env>/, not conf/local/" in str(raised.value)
