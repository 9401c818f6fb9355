"""Configuration that shapes the pipelines themselves (read when they are built, before a run)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.config import AbstractConfigLoader, OmegaConfigLoader
from kedro.framework.project import settings
from kedro.utils import find_kedro_project

from crack_pipeline.vision.settings import ConfigError

# The config loader of the session being run (set by `ActiveConfigHook`), so that `kedro run --env=X`
# shapes the pipelines exactly as KEDRO_ENV=X does.
_session_config: AbstractConfigLoader | None = None


def use_session_config(loader: AbstractConfigLoader | None) -> None:
    global _session_config
    _session_config = loader


def project_parameters() -> dict:
    """The parameters of the session of the project that holds the working directory (its `--env`); without
    one (a script, another project's session earlier in this process), those of conf/base merged with
    KEDRO_ENV (default `local`)."""
    if (
        _session_config is not None
        and Path(_session_config.conf_source).resolve() == _conf_source().resolve()
    ):
        return _session_config["parameters"]
    return environment_parameters(os.environ.get("KEDRO_ENV", "local"))


def environment_parameters(env: str) -> dict:
    """The parameters of conf/base merged with the environment `env`, as a run with `--env=env` sees them."""
    return environment_config(env)["parameters"]


def environment_config(env: str, runtime_params: dict[str, Any] | None = None) -> OmegaConfigLoader:
    """The configuration of conf/base merged with the environment `env` (parameters, catalog, ...), with
    `runtime_params` as `--params` gives them."""
    from crack_pipeline.settings import CONFIG_LOADER_ARGS  # not at the top: settings imports the hooks

    return OmegaConfigLoader(
        conf_source=str(_conf_source()),
        runtime_params=runtime_params,
        **{**CONFIG_LOADER_ARGS, "default_run_env": env},
    )


def tracking_uri(env: str) -> str:
    """The MLflow store of environment `env` (`server.mlflow_tracking_uri` of its mlflow.yml)."""
    config = environment_config(env)
    config.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**"])  # as kedro-mlflow reads it
    return config["mlflow"]["server"]["mlflow_tracking_uri"]


def _conf_source() -> Path:
    return Path(find_kedro_project(Path.cwd()) or Path.cwd()) / settings.CONF_SOURCE


def model_names() -> list[str]:
    """Every defined model variant: the keys of `train.models` in parameters_train.yml."""
    return list(project_parameters().get("train", {}).get("models", {}))


def variant_names() -> list[str]:
    """The variants that the default and `from_folder` runs train: `train.variants`."""
    train = project_parameters().get("train", {})
    names = list(train.get("variants", []))
    unknown = [name for name in names if name not in train.get("models", {})]
    if unknown:
        raise ConfigError(f"train.variants names {unknown}, which have no entry under train.models")
    return names
