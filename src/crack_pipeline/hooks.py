"""Project hooks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro.pipeline import Node, Pipeline

from crack_pipeline.config import base_parameters, require_environment, use_session_config

# What the hooks call is imported where they call it: settings.py imports this module for every kedro
# command (`kedro --help`, `kedro prune`, `kedro viz`), and torch, torchvision and the pipelines took 3 s
# of their start.

logger = logging.getLogger(__name__)


def mlflow_settings(context: KedroContext) -> dict[str, Any]:
    """The session's mlflow.yml; empty without one (kedro-mlflow's defaults then)."""
    try:
        return context.config_loader["mlflow"]
    except MissingConfigException:
        return {}


class ActiveConfigHook:
    """Hands the session's config loader (its `--env`, its `--params`) to `crack_pipeline.config` before any
    pipeline is built: the variant lists shape the pipelines. An environment with no folder stops it, and
    an MLflow file store MLflow will refuse."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        from crack_pipeline.store_check import require_usable_store

        require_environment(context.config_loader)  # before kedro-mlflow reads its mlflow.yml
        require_usable_store(mlflow_settings(context))  # before kedro-mlflow opens it
        use_session_config(context.config_loader)


class SettingsCheckHook:
    """Checks every setting the run's nodes read, that the MLflow store's files are where it says,
    and that the versions it is asked to read (`--load-versions`), the models its variants start from and the
    registered models it reads but cannot make exist, and that an image index an earlier run saved still
    lists its folders' files, before anything starts (`settings_check`, `require_pinned_versions`,
    `require_current_index`, `require_init_from_models`, `require_registered_models`): no MLflow run, no
    lock, no node's work for a typo, a model not trained yet or photos added since ingest."""

    def __init__(self) -> None:
        self._experiment = "crack_pipeline"  # the MLflow experiment of the session's runs (mlflow.yml)

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        from crack_pipeline.store_check import experiment_name

        self._experiment = experiment_name(mlflow_settings(context))

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        from crack_pipeline.current_index import require_current_index
        from crack_pipeline.datasets.previous_version import require_pinned_versions
        from crack_pipeline.datasets.registered_model import require_registered_models
        from crack_pipeline.datasets.starting_models import require_init_from_models
        from crack_pipeline.pipeline_registry import check_combined_pipelines, require_own_folder
        from crack_pipeline.settings_check import check_run_settings
        from crack_pipeline.store_check import require_artefact_folder

        parameters = catalog.load("parameters")
        check_combined_pipelines(pipeline)
        check_run_settings(pipeline, parameters, base_parameters())
        require_own_folder(run_params.get("pipeline_names"), catalog, parameters)
        require_artefact_folder(Path(run_params["project_path"]), self._experiment)
        require_pinned_versions(pipeline, catalog, run_params.get("load_versions"))
        require_current_index(pipeline, catalog, run_params)
        require_init_from_models(pipeline, catalog, parameters)
        require_registered_models(pipeline, catalog, parameters)


class OwnVersionsHook:
    """A versioned output a run saved is what its later nodes load: its own version, not the newest on disk.
    Versions are named by the time their run started, so one started later that saved the same entry first
    (an evaluate run during an hours-long retrain) had the newest, and Kedro's "latest" read it with only a
    warning: the retrain promoted that run's candidate instead of deciding on its own. A version asked for
    (`--load-versions`) stays as asked."""

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        if isinstance(dataset, AbstractVersionedDataset) and dataset._version and not dataset._version.load:
            # Kedro has no public way to pin a catalog dataset's load version once the catalog is made.
            saved = dataset.resolve_save_version()
            dataset._version = Version(saved, saved)


class MlflowVariantRunHook:
    """Gives every trained model variant its own MLflow run, nested under the Kedro run's run.

    kedro-mlflow makes one run per `kedro run`; variants are namespaces inside it. The training
    node logs nothing to MLflow itself: its outputs are logged here once its checkpoint is saved, so that
    a save that fails (a full disk) registers no model version without a checkpoint.
    """

    def __init__(self) -> None:
        self._trained: dict[str, tuple[Any, Any]] = {}  # checkpoint entry -> what to log once saved
        # Training-curves entry -> its variant's MLflow run ("run") and the curves saved ("saved"): logged
        # once both are known, in either order (`kedro run --async` saves a node's outputs at once).
        self._curves: dict[str, dict[str, Any]] = {}
        self._catalog: Any = None

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        self._trained.clear()  # a failed save's, of an earlier run in this process: never logged
        self._curves.clear()
        self._catalog = catalog

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._trained.clear()  # its weights, not held while the process lives on (a notebook)
        self._curves.clear()

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        if "train_variant" not in node.tags or mlflow.active_run() is None:
            return
        prefix = f"{node.namespace}." if node.namespace else ""
        self._trained[f"{prefix}checkpoint"] = (
            outputs[f"{prefix}checkpoint"],
            outputs[f"{prefix}training_history"],
        )
        self._curves[f"{prefix}training_curves"] = {}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if (trained := self._trained.pop(dataset_name, None)) is not None:
            from crack_pipeline.tracking import log_variant_run

            # The folder its files are in (data/06_models/<variant>/checkpoint.pt/<version>/): only the
            # Kedro run's own MLflow run named it.
            dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
            saved = dataset.resolve_save_version() if isinstance(dataset, AbstractVersionedDataset) else None
            run_id = log_variant_run(*trained, data_version=saved)
            self._log_curves(f"{dataset_name.removesuffix('checkpoint')}training_curves", run=run_id)
        elif dataset_name in self._curves:
            figures = {"training_curves.png": data}
            self._log_curves(dataset_name, saved=(figures, saved_path(self._catalog, dataset_name)))

    def _log_curves(self, entry: str, **known: Any) -> None:
        state = self._curves[entry] | known
        if "run" not in state or "saved" not in state:
            self._curves[entry] = state
            return
        from crack_pipeline.tracking import log_saved_figures_into

        del self._curves[entry]
        log_saved_figures_into(state["run"], *state["saved"])


def saved_path(catalog: Any, name: str) -> Path | None:
    """Where catalog entry `name` was just saved (the version OwnVersionsHook pinned), or None for an entry
    kept elsewhere than in a local file or folder, or not as image files (a pickle's file reached MLflow as
    the plots)."""
    from kedro_datasets.matplotlib import MatplotlibDataset

    dataset = catalog.get(name) if catalog is not None else None
    if not isinstance(dataset, MatplotlibDataset):
        return None
    try:
        path = Path(dataset._get_load_path())
    except DatasetError:
        return None
    return path if path.exists() else None


class ResumeStateHook:
    """A variant's per-epoch resume state (`train.resume_dir`) is removed once its checkpoint is saved, not
    when its training ends: a save that fails (a full disk) keeps it, and the run started again returns the
    trained model from it instead of training again."""

    def __init__(self) -> None:
        self._train: dict[str, Any] = {}

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        self._train = catalog.load("parameters").get("train") or {}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        from crack_pipeline.pipelines.train.variants import resume_state_path

        variant, _, entry = dataset_name.rpartition(".")
        if entry == "checkpoint" and variant and (state := resume_state_path(self._train, variant)):
            state.unlink(missing_ok=True)


class ChampionRollbackHook:
    """The champion is promoted by a node (`promote_champion` -> the `champion` entry); a run that fails
    after it gives the alias back to the model it replaced, so a failed run never leaves a new champion
    (unless another run or a person has moved the alias since: that choice stands).
    """

    _NOT_PROMOTED = object()

    def __init__(self) -> None:
        self._replaced: Any = self._NOT_PROMOTED
        self._promoted: str | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._replaced = self._NOT_PROMOTED

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if dataset_name != "champion" or not data["promote"]:
            return
        from crack_pipeline.tracking import champion_version, model_version_of

        asked = str(data["version"]) if data.get("version") is not None else None
        # A promotion not made (the alias moved since the run compared: ChampionAliasDataset) gives nothing
        # back: the alias is someone else's choice.
        if (now := champion_version()) == (asked or model_version_of(data["checkpoint_id"])):
            self._replaced, self._promoted = data["replaces"], now

    @hook_impl
    def on_pipeline_error(self) -> None:
        if self._replaced is self._NOT_PROMOTED:
            return
        from crack_pipeline.tracking import champion_version, set_champion

        now = champion_version()
        if now == self._promoted:
            set_champion(self._replaced)
            logger.warning("the run failed: the champion is again model version %s", self._replaced)
        else:
            logger.warning(
                "the run failed after promoting model version %s, but the champion is now version %s, set "
                "since by another run or by hand: left as it is",
                self._promoted,
                now,
            )
        self._replaced = self._NOT_PROMOTED


class MlflowEvaluationHook:
    """Puts each variant's test metrics and plots into its own MLflow run, the comparison table on the
    Kedro run's run, and the explanation gallery, grids and localisation scores on the Kedro run's run."""

    def __init__(self) -> None:
        self._plots_run: dict[str, str] = {}  # evaluation-plots entry -> its variant's MLflow run
        self._catalog: Any = None

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        self._plots_run.clear()
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        # Logged once saved: MLflow gets the very PNG files the catalog wrote, drawn once (not twice).
        if (run_id := self._plots_run.pop(dataset_name, None)) is not None:
            from crack_pipeline.tracking import log_saved_figures_into

            log_saved_figures_into(run_id, data, saved_path(self._catalog, dataset_name), "evaluation")

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        from crack_pipeline.tracking import log_evaluation, log_explanations

        prefix = f"{node.namespace}." if node.namespace else ""
        if "evaluate_variant" in node.tags:
            # The metrics at once (a failed save of the plots keeps them), the plots once saved.
            if (run_id := log_evaluation(outputs[f"{prefix}evaluation_metrics"])) is not None:
                self._plots_run[f"{prefix}evaluation_plots"] = run_id
        elif "compare_variants" in node.tags:
            table = outputs["variant_comparison"]  # a pandas DataFrame
            mlflow.log_text(outputs["variant_comparison_markdown"], "variant_comparison.md")
            mlflow.log_table(table, "variant_comparison.json")
        elif "explain" in node.tags:
            log_explanations(outputs["explanations"], outputs["explain_quality"])
