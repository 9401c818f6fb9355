"""Where a setting an error names was set: `--params`, or the parameter file of the run's environment (else of
conf/base) that holds it. An error named the setting only, and a project's settings are spread over a dozen
files in two or more environments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from crack_pipeline.config import UNSET, setting_at

# A dotted setting as errors name it: `train.processes`, `data.sources[0].path`; not the section a list of
# settings follows (`split.ratios's settings: train, val, test`), which the problem's own setting names.
_SETTING = re.compile(
    r"(?<![\w./-])([a-z_]\w*(?:\.[A-Za-z_][\w-]*|\[\d+\])+)"
    r"(?![\w-]|\.[A-Za-z_]|\[\d|'s settings)"  # whole, not a shorter part of it
)
# A top-level setting (`device`) where a problem begins with it ("bad settings: device: cuda:1, but ..."):
# a bare word elsewhere is prose. Counted only where a source holds it as a value, not a section (`train`).
_LEADING = re.compile(r"(?:^bad settings: |^|; )([a-z_]\w*)(?=:? )")
_PARAMETER_FILE_SUFFIXES = (".yml", ".yaml")


def where_set(message: str, conf_source: Path, env: str, base_env: str, given: dict[str, Any]) -> str | None:
    """Where each setting `message` names was set, by source: "from conf/local/parameters_train.yml:
    train.processes; from --params: explain.methods" (`given`: --params). None when no parameter file and no
    --params holds any (defaults of the code)."""
    leading = _LEADING.findall(message)
    if not (named_settings := dict.fromkeys(_SETTING.findall(message) + leading)):
        return None
    # The sources in the order they win: --params, then `env`'s files, then `base_env`'s, each read once.
    # A null in `base_env` is the project's default of a setting left unset (`data.sources: null`): a
    # message naming it as the other way to set something said it came from there.
    sources = [("--params", given, False)] + [
        (_shown(path, conf_source), _read(path), folder.name == base_env)
        for folder in (conf_source / env, conf_source / base_env)
        for path in _parameter_files(folder)
    ]
    by_source: dict[str, list[str]] = {}
    for setting in named_settings:
        keys = _keys(setting)
        holding = [
            name
            for name, config, is_base in sources
            if (value := setting_at(config, keys)) is not UNSET
            and not (is_base and value is None)
            and not (setting in leading and isinstance(value, dict))
        ]
        if holding:
            by_source.setdefault(holding[0], []).append(setting)
    return "; ".join(f"from {source}: {', '.join(names)}" for source, names in by_source.items()) or None


def _keys(setting: str) -> list[str | int]:
    parts = re.findall(r"\[\d+\]|[^.[]+", setting)
    return [int(part[1:-1]) if part.startswith("[") else part for part in parts]


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
