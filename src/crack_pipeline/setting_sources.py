"""Where a setting an error names was set: `--params`, or the parameter file of the run's environment (else of
conf/base) that holds it. An error named the setting only, and a project's settings are spread over a dozen
files in two or more environments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# A dotted setting as errors name it: `train.processes`, `data.sources[0].path`.
_SETTING = re.compile(r"(?<![\w./-])([a-z_]\w*(?:\.[A-Za-z_][\w-]*|\[\d+\])+)")
_PARAMETER_FILE_SUFFIXES = (".yml", ".yaml")


def where_set(message: str, conf_source: Path, env: str, base_env: str, given: dict[str, Any]) -> str | None:
    """Where each setting `message` names was set, by source: "from conf/local/parameters_train.yml:
    train.processes; from --params: explain.methods" (`given`: --params). None when no parameter file and no
    --params holds any (defaults of the code)."""
    named: dict[str, list[str]] = {}
    for setting in dict.fromkeys(_SETTING.findall(message)):
        if (source := _source(_keys(setting), conf_source, env, base_env, given)) is not None:
            named.setdefault(source, []).append(setting)
    return "; ".join(f"from {source}: {', '.join(settings)}" for source, settings in named.items()) or None


def _source(keys: list[str | int], conf_source: Path, env: str, base_env: str, given: dict) -> str | None:
    """--params, else the first parameter file of `env`, else of `base_env`, that holds `keys`."""
    if _holds(given, keys):
        return "--params"
    for folder in (conf_source / env, conf_source / base_env):
        for path in _parameter_files(folder):
            if _holds(_read(path), keys):
                return _shown(path, conf_source)
    return None


def _keys(setting: str) -> list[str | int]:
    parts = re.findall(r"\[\d+\]|[^.[]+", setting)
    return [int(part[1:-1]) if part.startswith("[") else part for part in parts]


def _holds(config: Any, keys: list[str | int]) -> bool:
    for key in keys:
        in_list = isinstance(key, int) and isinstance(config, list) and key < len(config)
        if not (in_list or (isinstance(key, str) and isinstance(config, dict) and key in config)):
            return False
        config = config[key]
    return True


def _parameter_files(folder: Path) -> list[Path]:
    """Kedro's parameter files of an environment: named parameters*, or in a folder so named."""
    if not folder.is_dir():
        return []
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.suffix in _PARAMETER_FILE_SUFFIXES
        and any(part.startswith("parameters") for part in path.relative_to(folder).parts)
    ]


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # Kedro's own message says what is wrong there
        return None


def _shown(path: Path, conf_source: Path) -> str:
    """The file as the user knows it: from the project's folder (conf/local/parameters_train.yml)."""
    try:
        return str(path.relative_to(conf_source.parent))
    except ValueError:
        return str(path)
