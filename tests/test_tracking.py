"""MLflow records: scores logged under names MLflow accepts; a registry without the model asked for."""

from pathlib import Path

import mlflow
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version
from kedro.pipeline import Node
from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.figure import Figure

from crack_pipeline import hooks, settings
from crack_pipeline.datasets import ChampionAliasDataset, RegisteredModelDataset
from crack_pipeline.hooks import ChampionRollbackHook
from crack_pipeline.tracking import (
    REGISTERED_MODEL,
    champion_version,
    flatten,
    log_explanations,
    log_saved_figures,
    mlflow_key,
    set_champion,
)
from crack_pipeline.vision.explain.cam import METHODS as CAM_METHODS
from tests.conftest import new_store

SAVED = Version("2026-12-06T03.00.00.000Z", "2026-12-06T03.00.00.000Z")


@pytest.mark.parametrize(
    ("key", "expected"),
    [("gradcam++", "gradcampp"), ("layercam", "layercam"), ("a b/c:d-e.f", "a b/c:d-e.f"), ("é#", "__")],
)
def test_mlflow_key_keeps_what_mlflow_accepts_and_replaces_the_rest(key, expected):
    assert mlflow_key(key) == expected


def test_flatten_joins_keys_and_refuses_two_that_make_one_name():
    assert flatten({"a": {"b": 1, "gradcam++": {"n": 2}}, "c": 3}) == {"a.b": 1, "a.gradcampp.n": 2, "c": 3}
    with pytest.raises(ValueError, match="'m.gradcampp.n'"):
        flatten({"m": {"gradcam++": {"n": 1}, "gradcampp": {"n": 2}}})


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """A store of its own in tmp_path, its artefacts too (MLflow puts them under the working directory)."""
    monkeypatch.chdir(tmp_path)
    # No experiment another test of the worker made active (set_experiment): this store has none of it.
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(new_store(tmp_path / "mlflow.db"))
    yield mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(previous)


def test_every_cam_methods_scores_are_logged(empty_store, tmp_path):
    """gradcam++ stopped `explain` after its maps were made: MLflow refuses "+" in a metric name."""
    quality = {
        "methods": {method: {"pointing_game": 0.5, "photo": {"n": 2}} for method in CAM_METHODS},
    }
    with mlflow.start_run(experiment_id=mlflow.create_experiment("explain")) as run:
        files = {"index.html": b"<html></html>", "grid_9.png": b"png", "panels/a.png": b"png"}
        log_explanations(files, quality)
    assert (tmp_path / "mlruns").is_dir(), "the test's artefacts stay in its folder"
    logged_files = mlflow.MlflowClient().list_artifacts(run.info.run_id, "explanations")
    assert [file.path for file in logged_files] == ["explanations/grid_9.png"], "no gallery with broken links"
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["explain.gradcampp.pointing_game"] == 0.5
    assert logged["explain.gradcampp.photo.n"] == 2
    assert len(logged) == 2 * len(CAM_METHODS)


@pytest.mark.parametrize("parameter", ["explain.model", "evaluate_folder.model"])
def test_no_champion_yet_names_the_store_and_the_setting_that_names_a_variant(empty_store, parameter):
    with pytest.raises(DatasetError) as raised:
        RegisteredModelDataset(parameter=parameter).load()
    message = str(raised.value)
    assert f"registry {empty_store} has no 'champion' model" in message
    assert message.endswith(
        f"or name a trained variant: --params={parameter}=<variant>; its versions: none yet"
    )
    assert RegisteredModelDataset(required=False).load() is None


def test_a_misspelt_variant_is_told_which_variants_are_trained(empty_store, tmp_path):
    """`--params=evaluate_folder.model=smal_cnn` was told only to train smal_cnn, which no variant is."""
    client = mlflow.MlflowClient()
    client.create_registered_model(REGISTERED_MODEL)
    client.create_model_version(REGISTERED_MODEL, str(tmp_path), tags={"variant": "small_cnn"})
    with pytest.raises(DatasetError) as raised:
        RegisteredModelDataset(variant="smal_cnn", parameter="evaluate_folder.model").load()
    assert "has no variant 'smal_cnn'" in str(raised.value)
    assert str(raised.value).endswith("; its versions: 1 (small_cnn)")


def test_an_entry_of_another_registered_model_lists_that_models_versions(empty_store, tmp_path):
    """A catalog entry with its own `model_name` was told the versions of the project's default model."""
    client = mlflow.MlflowClient()
    for name, variant in ((REGISTERED_MODEL, "small_cnn"), ("site-b", "resnet18")):
        client.create_registered_model(name)
        client.create_model_version(name, str(tmp_path), tags={"variant": variant})
    client.set_registered_model_alias("site-b", "champion", "1")
    with pytest.raises(DatasetError) as raised:
        RegisteredModelDataset(model_name="site-b", variant="resnet").load()
    assert str(raised.value).endswith("; its versions: 1 (resnet18, champion)")


def test_a_failed_run_gives_the_alias_back_unless_it_was_moved_since(empty_store, tmp_path, caplog):
    client = mlflow.MlflowClient()
    client.create_registered_model(REGISTERED_MODEL)
    for _ in range(3):
        client.create_model_version(REGISTERED_MODEL, str(tmp_path))
    hook = ChampionRollbackHook()

    def promoted_then_failed(moved_to: str | None = None) -> None:
        set_champion("1")
        hook.before_pipeline_run()
        set_champion("2")  # the promotion node
        hook.after_dataset_saved("champion", {"promote": True, "version": "2", "replaces": "1"})
        if moved_to:
            set_champion(moved_to)  # another run, or a person, meanwhile
        hook.on_pipeline_error()

    promoted_then_failed()
    assert champion_version() == "1" and "the champion is again model version 1" in caplog.text
    promoted_then_failed(moved_to="3")
    assert champion_version() == "3", "a choice made since stands"
    assert "the champion is now version 3, set since by another run or by hand: left as it is" in caplog.text


def test_a_variant_is_logged_and_registered_only_once_its_checkpoint_is_saved(monkeypatch):
    """A checkpoint whose save fails (a full disk) leaves no registered model version without a file."""
    logged = []
    monkeypatch.setattr(
        "crack_pipeline.tracking.log_variant_run", lambda *outputs, data_version: logged.append(outputs)
    )
    monkeypatch.setattr(hooks.mlflow, "active_run", lambda: object())
    hook = hooks.MlflowVariantRunHook()
    for variant in ("small_cnn", "resnet18"):
        outputs = {f"{variant}.{name}": f"{variant} {name}" for name in ("checkpoint", "training_history")}
        outputs[f"{variant}.training_curves"] = f"{variant} training_curves"
        node = Node(lambda: None, None, list(outputs), tags="train_variant", namespace=variant)
        hook.after_node_run(node=node, outputs=outputs)
    assert logged == [], "nothing before the checkpoint is saved"
    hook.after_dataset_saved(dataset_name="resnet18.training_history", data=None)
    assert logged == []
    hook.after_dataset_saved(dataset_name="resnet18.checkpoint", data=None)
    assert logged == [("resnet18 checkpoint", "resnet18 training_history")]
    hook.after_dataset_saved(dataset_name="resnet18.checkpoint", data=None)
    assert len(logged) == 1, "once"


def test_a_variant_s_run_names_the_version_its_checkpoint_was_saved_as(monkeypatch, tmp_path):
    """Only the Kedro run's own MLflow run named it: from a registered version's run, the folder of its
    checkpoint (data/06_models/<variant>/checkpoint.pt/<version>/) was a search."""
    from kedro.io import DataCatalog
    from kedro.io.core import Version

    from crack_pipeline.datasets import TorchCheckpointDataset

    tagged = []
    monkeypatch.setattr(
        "crack_pipeline.tracking.log_variant_run",
        lambda *outputs, data_version: tagged.append(data_version),
    )
    monkeypatch.setattr(hooks.mlflow, "active_run", lambda: object())
    saved = TorchCheckpointDataset(
        filepath=str(tmp_path / "c.pt"), version=Version(None, "2026-12-05T22.06.18.661Z")
    )
    hook = hooks.MlflowVariantRunHook()
    hook.before_pipeline_run(catalog=DataCatalog({"net.checkpoint": saved}))
    outputs = {f"net.{name}": name for name in ("checkpoint", "training_history", "training_curves")}
    hook.after_node_run(
        node=Node(lambda: None, None, list(outputs), tags="train_variant", namespace="net"), outputs=outputs
    )
    hook.after_dataset_saved(dataset_name="net.checkpoint", data=None)
    assert tagged == ["2026-12-05T22.06.18.661Z"]


def drawn_and_saved(monkeypatch, tmp_path, name: str, figures) -> tuple[list, DataCatalog]:
    """A catalog that saves `name` as versioned PNG files the way conf/base does (its save version pinned
    for loading, as OwnVersionsHook does), and a list that counts each figure drawn into a file."""
    drawn = []
    draw = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda figure, *a, **k: drawn.append(figure) or draw(figure, *a, **k)
    )
    path = tmp_path / ("plots" if isinstance(figures, dict) else "training_curves.png")
    plots = MatplotlibDataset(filepath=str(path), save_args={"format": "png", "dpi": 110}, version=SAVED)
    return drawn, DataCatalog({name: plots})


def saved_files(tmp_path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in tmp_path.glob(f"*/{SAVED.save}/**/*.png")}


def logged_files(run_id: str, folder: str = "") -> dict[str, bytes]:
    found = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=folder or None)
    return {p.name: p.read_bytes() for p in Path(found).glob("*.png")}


@pytest.mark.parametrize("curves_first", [False, True])  # the runner's order; --async's may be either
def test_training_curves_reach_mlflow_as_the_file_the_catalog_saved_drawn_once(
    empty_store, monkeypatch, tmp_path, curves_first
):
    """MLflow drew its own copy (0.1-0.2 s a figure), at its default 100 dpi against the catalog's 110."""
    figure = Figure()
    figure.subplots().plot([1, 2, 3])
    drawn, catalog = drawn_and_saved(monkeypatch, tmp_path, "net.training_curves", figure)
    with mlflow.start_run():
        with mlflow.start_run(nested=True) as variant:
            pass
        monkeypatch.setattr(
            "crack_pipeline.tracking.log_variant_run", lambda *_, data_version: variant.info.run_id
        )
        hook = hooks.MlflowVariantRunHook()
        hook.before_pipeline_run(catalog=catalog)
        outputs = {"net.checkpoint": {}, "net.training_history": [], "net.training_curves": figure}
        hook.after_node_run(
            node=Node(lambda: None, None, list(outputs), tags="train_variant", namespace="net"),
            outputs=outputs,
        )
        for name in sorted(outputs, key=lambda name: curves_first != name.endswith("curves")):
            if name.endswith("curves"):
                catalog.save(name, figure)
            hook.after_dataset_saved(dataset_name=name, data=outputs[name])
    assert logged_files(variant.info.run_id) == saved_files(tmp_path) != {}
    assert len(drawn) == 1


def test_evaluation_plots_reach_mlflow_as_the_files_the_catalog_saved_drawn_once(
    empty_store, monkeypatch, tmp_path
):
    figures = {"roc_pr.png": Figure(), "confusion_matrix.png": Figure()}
    drawn, catalog = drawn_and_saved(monkeypatch, tmp_path, "net.evaluation_plots", figures)
    metrics = {"checkpoint_id": "c1", "accuracy": 0.9}
    with mlflow.start_run():
        with mlflow.start_run(nested=True, tags={"checkpoint_id": "c1"}) as variant:
            pass
        hook = hooks.MlflowEvaluationHook()
        hook.before_pipeline_run(catalog=catalog)
        outputs = {"net.evaluation_metrics": metrics, "net.evaluation_plots": figures}
        hook.after_node_run(
            node=Node(lambda: None, None, list(outputs), tags="evaluate_variant", namespace="net"),
            outputs=outputs,
        )
        metrics_logged = mlflow.get_run(variant.info.run_id).data.metrics
        assert metrics_logged["test.accuracy"] == 0.9, "at once: a failed save of the plots keeps them"
        for name, data in outputs.items():
            if name.endswith("plots"):
                catalog.save(name, data)
            hook.after_dataset_saved(dataset_name=name, data=data)
    assert logged_files(variant.info.run_id, "evaluation") == saved_files(tmp_path)
    assert sorted(saved_files(tmp_path)) == sorted(figures) and len(drawn) == 2


def test_a_plots_folder_not_versioned_gives_mlflow_only_the_figures_of_this_save(empty_store, tmp_path):
    """An `evaluation_plots` entry with `versioned: false` keeps the files of earlier saves (the dataset
    writes over only those it saves): a run with train.cam_progress left a cam_progress.png that every
    later run's record got too."""
    folder = tmp_path / "evaluation"
    MatplotlibDataset(filepath=str(folder)).save({"roc_pr.png": Figure(), "cam_progress.png": Figure()})
    figures = {"roc_pr.png": Figure()}
    MatplotlibDataset(filepath=str(folder)).save(figures)
    with mlflow.start_run() as run:
        log_saved_figures(figures, folder, "evaluation")
    assert sorted(logged_files(run.info.run_id, "evaluation")) == ["roc_pr.png"]


def test_figures_a_catalog_keeps_in_a_pickle_reach_mlflow_as_png_files(empty_store, tmp_path):
    """A catalog entry of another kind than PNG files (a pickle of the figures): its file reached MLflow
    as the plots, `evaluation/plots.pkl`."""
    from kedro_datasets.pickle import PickleDataset

    figures = {"roc_pr.png": Figure()}
    catalog = DataCatalog({"net.evaluation_plots": PickleDataset(filepath=str(tmp_path / "plots.pkl"))})
    catalog.save("net.evaluation_plots", figures)
    with mlflow.start_run() as run:
        log_saved_figures(figures, hooks.saved_path(catalog, "net.evaluation_plots"), "evaluation")
    assert sorted(logged_files(run.info.run_id, "evaluation")) == ["roc_pr.png"]


def test_a_variants_resume_state_is_removed_once_its_checkpoint_is_saved(tmp_path):
    hook = hooks.ResumeStateHook()
    hook.before_pipeline_run(
        catalog=type("Catalog", (), {"load": lambda self, name: {"train": {"resume_dir": str(tmp_path)}}})()
    )
    for variant in ("small_cnn", "resnet18"):
        (tmp_path / f"{variant}.pt").write_bytes(b"state")
    hook.after_dataset_saved(dataset_name="resnet18.training_history", data=None)
    hook.after_dataset_saved(dataset_name="small_cnn.checkpoint.extra", data=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet18.pt", "small_cnn.pt"], "kept until saved"
    hook.after_dataset_saved(dataset_name="resnet18.checkpoint", data=None)
    assert [p.name for p in tmp_path.iterdir()] == ["small_cnn.pt"]


def test_a_resume_state_is_removed_only_after_the_variants_registration_which_may_fail():
    """pluggy calls the hook registered last first."""
    order = [type(hook) for hook in settings.HOOKS]
    assert order.index(hooks.ResumeStateHook) < order.index(hooks.MlflowVariantRunHook)


def test_a_promotion_leaves_a_champion_set_since_the_run_compared_against_another(
    empty_store, tmp_path, caplog
):
    """A person rolls back to version 2 (set_champion) while a retrain re-evaluates champion 1 against its
    candidate: the promotion moved the alias to the candidate all the same, undoing the roll-back, and a
    failure after it gave the alias back to version 1."""
    client = mlflow.MlflowClient()
    client.create_registered_model(REGISTERED_MODEL)
    for number in range(1, 4):
        client.create_model_version(REGISTERED_MODEL, str(tmp_path), tags={"checkpoint_id": f"c{number}"})
    promotion = {"promote": True, "checkpoint_id": "c3", "variant": "small_cnn", "replaces": "1"}
    hook = ChampionRollbackHook()
    set_champion("1")
    hook.before_pipeline_run()
    set_champion("2")  # by hand, after the run compared its candidate with version 1
    ChampionAliasDataset().save(promotion)
    hook.after_dataset_saved("champion", promotion)
    hook.on_pipeline_error()
    assert champion_version() == "2", "the choice made by hand stands"
    assert "the champion is now model version 2, set since this run compared against version 1" in caplog.text
    set_champion("1")
    hook.before_pipeline_run()
    ChampionAliasDataset().save(promotion)
    assert champion_version() == "3", "promoted over the champion it was compared with"
    hook.after_dataset_saved("champion", promotion)
    hook.on_pipeline_error()
    assert champion_version() == "1", "and given back by a failure after it"
