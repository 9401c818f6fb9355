"""Configuration that shapes the pipelines themselves (read when they are built, before a run)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kedro.config import AbstractConfigLoader, MissingConfigException, OmegaConfigLoader
from kedro.framework.project import settings
from kedro.utils import find_kedro_project
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from crack_pipeline.setting_paths import (
    PATH_SETTINGS,
    anchor_paths,
    expand_home,
    in_folder,
    require_data_root,
)
from crack_pipeline.vision.settings import ConfigError

UNSET = object()  # no such setting


def setting_at(values: Any, path: Iterable[str | int]) -> Any:
    """The setting at `path` in `values` (keys of nested tables, indices of lists), or UNSET."""
    for key in path:
        if isinstance(values, dict) and isinstance(key, str):
            values = values.get(key, UNSET)
        elif isinstance(values, list) and isinstance(key, int) and 0 <= key < len(values):
            values = values[key]
        else:
            return UNSET
    return values


# The config loader of the session being run (set by `ActiveConfigHook`), so that `kedro run --env=X`
# shapes the pipelines exactly as KEDRO_ENV=X does.
_session_config: AbstractConfigLoader | None = None


def use_session_config(loader: AbstractConfigLoader | None) -> None:
    global _session_config
    _session_config = loader


def require_environment(loader: AbstractConfigLoader) -> None:
    """A configuration environment (`--env`, KEDRO_ENV) with no folder stops the session, named: Kedro read
    conf/base alone without a word, and kedro-mlflow, finding no mlflow.yml there, stopped on a page of
    MLflow's traceback about a file store in mlruns/. A `--conf-source` archive is left to Kedro."""
    env = getattr(loader, "env", None) or getattr(loader, "default_run_env", None)
    conf = Path(loader.conf_source)
    if not env or not conf.is_dir() or (conf / env).is_dir():
        return
    base = getattr(loader, "base_env", None)
    known = sorted(folder.name for folder in conf.iterdir() if folder.is_dir() and folder.name != base)
    raise ConfigError(
        f"environment '{env}' (--env or KEDRO_ENV): there is no {conf / env}; "
        f"the project's: {', '.join(known)}"
    )


def project_parameters() -> dict:
    """The parameters of the session of the project that holds the working directory (its `--env`); without
    one (a script, another project's session earlier in this process), those of conf/base merged with
    KEDRO_ENV (default `local`)."""
    if (
        _session_config is not None
        and Path(_session_config.conf_source).resolve() == _conf_source().resolve()
    ):
        return _session_config["parameters"]  # read once a run (ProjectConfigLoader)
    return environment_parameters(os.environ.get("KEDRO_ENV", "local"))


def base_parameters() -> dict:
    """The parameters of conf/base alone, of the session's project when one runs: every setting there is."""
    source = _session_config.conf_source if _session_config is not None else _conf_source()
    return environment_config("base", conf_source=source)["parameters"]


def environment_parameters(env: str) -> dict:
    """The parameters of conf/base merged with the environment `env`, as a run with `--env=env` sees them."""
    return environment_config(env)["parameters"]


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader, except that:
    - `${runtime_params:X}` in the catalog is the setting X as the run sees it: from `--params`, else from
      the parameter files (Kedro reads only `--params` there, so `explain: {model: resnet18}` in
      conf/local/ was ignored by the catalog while the nodes read it);
    - what is named by a relative path lies in the project (`_paths_project`) wherever Kedro was started (a
      notebook kernel in notebooks/, a run started in a subfolder, a `--conf-source` elsewhere):
      - the folders and files of PATH_SETTINGS in the parameters, `~` expanded there and in the catalog;
      - a local MLflow store (`sqlite:///mlflow.db`), and the artefacts of an experiment it creates there
        (`mlruns/`; MLflow puts them under the working directory). Elsewhere the relative path opened an
        empty store, with no champion. It reads mlflow.yml itself (kedro-mlflow's pattern, which
        kedro-mlflow keeps when present), so the project's own tools see the store a run uses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._read: dict[str, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)
        self.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
        self._run_parameters: dict[str, Any] = {}

    # Kedro's resolver of `${runtime_params:X}` (OmegaConfigLoader._get_runtime_value, kedro 1.7): its own
    # lookup of --params first (which keeps its record of what --params chose), then the parameter files.
    # A folder of PATH_SETTINGS is the one the parameters hold, taken from the project without its `..`: given
    # with --params it reached the catalog as typed, and every message naming its folder showed `<...>/../x`.
    # explain.input_dir stays as typed: a survey begun named `..` goes on when its folder is given so again.
    def _get_runtime_value(self, variable: str, default_value: Any = UNSET) -> Any:
        try:
            value = super()._get_runtime_value(variable)
        except InterpolationResolutionError:
            found = setting_at(self._run_parameters, variable.strip().split("."))
            if found is not UNSET:
                return found
            if default_value is not UNSET:
                return default_value
            raise
        normalised = variable.strip() in PATH_SETTINGS and variable.strip() != "explain.input_dir"
        if normalised and isinstance(value, str):
            return in_folder(value, _paths_project(Path(self.conf_source)), variable.strip())
        return value

    def __getitem__(self, key: str) -> dict[str, Any]:
        # Read once a loader (a run), each caller given its own copy to change: Kedro, kedro-mlflow and the
        # project asked for the parameters a dozen times a run, each a read of every file (0.1 s).
        if key not in self._read:
            self._read[key] = self._read_anew(key)
        return copy.deepcopy(self._read[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self._read.pop(key, None)
        super().__setitem__(key, value)

    def _read_anew(self, key: str) -> dict[str, Any]:
        if key == "catalog":
            return self._catalog()
        config = super().__getitem__(key)
        if key == "parameters":
            anchor_paths(config, _paths_project(Path(self.conf_source)))
        elif key == "globals":
            require_data_root(config, lambda: self._file_setting(key, "data_root"))
        elif key == "mlflow":
            _anchor_store(config, _paths_project(Path(self.conf_source)))
        return config

    def _file_setting(self, key: str, setting: str) -> str:
        """The file of `key` (e.g. globals) that sets its top-level `setting`, as the run reads it: the run
        environment's, else the base environment's, from the project's folder (conf/ozgenel/globals.yml).
        Its pattern (globals.yml) where none is found (a conf_source archive). The message of an empty
        data_root named globals.yml wherever it was set."""
        conf = Path(self.conf_source)
        for env in (self.env or self.default_run_env, self.base_env):
            for pattern in self.config_patterns[key]:
                for path in sorted((conf / env).glob(pattern)) if (conf / env).is_dir() else []:
                    if setting in (OmegaConf.load(path) or {}):
                        return str(path.relative_to(conf.parent))
        return ", ".join(self.config_patterns[key])

    def _catalog(self) -> dict[str, Any]:
        """The catalog, its `${runtime_params:X}` answered from the parameter files too (set only while the
        catalog is read: the files never read each other), `~` expanded in its paths."""
        try:
            self._run_parameters = self["parameters"]
        except MissingConfigException:  # a configuration without parameters: --params alone
            self._run_parameters = {}
        try:
            config = super().__getitem__("catalog")
        finally:
            self._run_parameters = {}
        expand_home(config)
        return config


def _anchor_store(config: dict[str, Any], project: Path) -> None:
    """mlflow.yml's relative SQLite store, and the artefacts of an experiment it creates, in `project`."""
    server = config.get("server") or {}
    anchored = False
    for name in ("mlflow_tracking_uri", "mlflow_registry_uri"):
        if server.get(name):
            uri = in_project(server[name], project)
            anchored |= uri != server[name]
            server[name] = uri
    experiment = ((config.get("tracking") or {}).get("experiment") or {}).get("create_experiment_kwargs")
    if anchored and isinstance(experiment, dict) and not experiment.get("artifact_location"):
        experiment["artifact_location"] = (project / "mlruns").as_posix()


def project_of(*places: Path) -> Path:
    """The first Kedro project that holds one of `places`, else, as KedroSession, the working directory."""
    found = next((project for place in places if (project := find_kedro_project(place))), None)
    return Path(found or Path.cwd()).resolve()


def _paths_project(conf_source: Path) -> Path:
    """The project Kedro takes the catalog's paths from: the one holding `conf_source`, else (a
    `--conf-source` elsewhere, an archive too) the one Kedro was started in."""
    return project_of(conf_source, Path.cwd())


def in_project(uri: str, project: Path) -> str:
    """A relative SQLite store's URI made absolute, from `project`; any other URI (an in-memory store
    too) as it is."""
    relative = uri.removeprefix("sqlite:///")
    if relative == uri or relative.startswith("/") or relative.startswith(":memory:"):
        return uri
    return f"sqlite:///{(Path(project).resolve() / relative).as_posix()}"


def environment_config(
    env: str, runtime_params: dict[str, Any] | None = None, conf_source: str | Path | None = None
) -> OmegaConfigLoader:
    """The configuration of conf/base merged with the environment `env` (parameters, catalog, ...), with
    `runtime_params` as `--params` gives them, from `conf_source` (default: the project's conf/)."""
    from crack_pipeline.settings import CONFIG_LOADER_ARGS  # not at the top: settings imports the hooks

    return ProjectConfigLoader(
        conf_source=str(conf_source or _conf_source()),
        runtime_params=runtime_params,
        **{**CONFIG_LOADER_ARGS, "default_run_env": env},
    )


def tracking_uri(env: str) -> str:
    """The MLflow store of environment `env` (`server.mlflow_tracking_uri` of its mlflow.yml)."""
    return environment_config(env)["mlflow"]["server"]["mlflow_tracking_uri"]


def _conf_source() -> Path:
    """conf/ of the project the working directory is in, else of the one this package runs from (an
    Airflow worker, a script started elsewhere)."""
    return project_of(Path.cwd(), Path(__file__).resolve().parent) / settings.CONF_SOURCE


def model_names() -> list[str]:
    """Every defined model variant: the keys of `train.models` in parameters_train.yml."""
    return list(project_parameters().get("train", {}).get("models", {}))


def variant_names() -> list[str]:
    """The variants that the default and `from_folder` runs train: `train.variants`."""
    train = project_parameters().get("train", {})
    names = train.get("variants", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        # A name alone (--params=train.variants=resnet18) was taken letter by letter: variants 'r', 'e', ...
        raise ConfigError(
            f"train.variants: a list of names under train.models, e.g. [small_cnn] "
            f"(--params=train.variants=[small_cnn]), not {names!r}"
        )
    unknown = [name for name in names if name not in train.get("models", {})]
    if unknown:
        raise ConfigError(f"train.variants names {unknown}, which have no entry under train.models")
    return names
