"""Project settings (Kedro defaults except where a comment says why)."""

import os
import warnings
from pathlib import Path

import yaml
from kedro.framework.project import configure_logging
from kedro.utils import find_config_file

from crack_pipeline.config import ProjectConfigLoader, project_of
from crack_pipeline.guard_hooks import (
    InterruptHook,
    MlflowRunStackHook,
    RetrainGuardHook,
    VersionsInUseHook,
)
from crack_pipeline.hooks import (
    ActiveConfigHook,
    ChampionRollbackHook,
    MlflowEvaluationHook,
    MlflowVariantRunHook,
    OwnVersionsHook,
    ResumeStateHook,
    SettingsCheckHook,
)
from crack_pipeline.live_runs import LiveRunHook
from crack_pipeline.mlflow_params import PLUGIN_NAMES, OncePerRunMlflowHook
from crack_pipeline.quiet_lines import leave_unsaid
from crack_pipeline.saved_where import SavedWhereHook

# Deprecation notices from inside kedro and kedro-mlflow about their own use of OmegaConf:
# nothing a user of this project can act on, and they bury the pipeline's own output.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)


def project_logging() -> None:
    """conf/logging.yml of the project, wherever kedro starts. Kedro reads it from the working folder only
    (KEDRO_LOGGING_CONFIG aside): started in a folder inside the project (notebooks/), a run logged through
    Kedro's own rich handler, every record wrapped to the terminal's width and cut across lines."""
    if os.environ.get("KEDRO_LOGGING_CONFIG") or find_config_file("conf/logging") is not None:
        return
    path = project_of(Path.cwd(), Path(__file__).resolve().parent) / "conf" / "logging.yml"
    if path.is_file():
        configure_logging(yaml.safe_load(path.read_text(encoding="utf-8")))


project_logging()
leave_unsaid()

# Among hooks of equal priority pluggy calls the last registered first: the settings check before the
# retrain lock and before any MLflow run.
RUN_STACK = MlflowRunStackHook()  # which MLflow runs are the session's to end, for the hooks that end them
HOOKS = (
    LiveRunHook(),  # the last hook called before a run and after it: around kedro-mlflow's run
    VersionsInUseHook(),
    ActiveConfigHook(),
    InterruptHook(),
    RetrainGuardHook(RUN_STACK),
    RUN_STACK,
    ResumeStateHook(),  # after the variant's registration (registered later: called earlier), which may fail
    MlflowVariantRunHook(),
    ChampionRollbackHook(),
    MlflowEvaluationHook(),
    OwnVersionsHook(),
    SavedWhereHook(),
    SettingsCheckHook(),
    # kedro-mlflow's, registered after the project's hooks as the plugin's own was: called before them
    OncePerRunMlflowHook(),
)
DISABLE_HOOKS_FOR_PLUGINS = PLUGIN_NAMES  # its hook, which OncePerRunMlflowHook replaces

# A relative local MLflow store lies in the project wherever Kedro starts (config.ProjectConfigLoader).
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local/parameters*.yml overrides single settings (e.g. train.defaults.epochs)
    # instead of replacing whole top-level sections.
    "merge_strategy": {"parameters": "soft"},
}
