"""Settings as validated dataclasses: one bad key or value in a configuration file is named, with its
section, instead of surfacing as a bare `TypeError` deep inside a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from crack_pipeline.vision.errors import InputError

T = TypeVar("T")

# Unknown keys are errors (a typo must not be silently ignored); values are checked against the types.
STRICT = ConfigDict(extra="forbid")


def settings_dataclass(cls: type[T]) -> type[T]:
    """A frozen dataclass whose fields pydantic validates on construction."""
    return dataclass(frozen=True, config=STRICT)(cls)


class ConfigError(InputError):
    """A setting is unknown or has a value of the wrong kind."""


def settings_from(
    cls: type[T], values: Mapping[str, Any] | None, section: str, also: tuple[str, ...] = ()
) -> T:
    """`cls` built from a section of the configuration, or a `ConfigError` naming every bad key as
    `<section>.<key>` and what is wrong with it (`also`: the section's settings read elsewhere, left out
    of `cls` here and listed with its own where a setting is unknown)."""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(f"bad settings: {section}: a mapping of settings, not {values!r}")
    try:
        return cls(**{key: value for key, value in (values or {}).items() if key not in also})
    except ValidationError as error:
        known = [*(field.name for field in fields(cls)), *also]
        problems = [_problem(section, problem, known) for problem in error.errors()]
        raise ConfigError("bad settings: " + "; ".join(problems)) from None


# Pydantic's types for a required setting left out (its message: `Field required (got ArgsKwargs(...))`).
_MISSING = {"missing", "missing_argument"}


def _problem(section: str, problem: dict[str, Any], known: list[str]) -> str:
    """One bad setting as `<section>.<key>: what is wrong`; a missing one is named at the entry that lacks
    it, which a parameter file holds (the setting itself is in none: where it was set went unsaid). An
    unknown one of the section itself is named with the `known` settings, as the sections a run reads are
    (`tiling.tile_sze` was named alone)."""
    *entry, key = [section, *map(str, problem["loc"])]
    if problem["type"] in _MISSING:
        return f"{'.'.join(entry)}: {key} is required, and missing"
    listed = problem["type"] == "unexpected_keyword_argument" and len(problem["loc"]) == 1
    among = f"; {section}'s settings: {', '.join(known)}" if listed else ""
    return f"{'.'.join([*entry, key])}: {_reason(problem)}{among}"


def _reason(problem: dict[str, Any]) -> str:
    if problem["type"] == "unexpected_keyword_argument":
        return "unknown setting (a typo?)"
    message = problem["msg"].removeprefix("Value error, ")
    return (
        f"{message} (got {problem['input']!r})"
        if "input" in problem and problem["type"] != "value_error"
        else message
    )


def share_setting(value: Any, setting: str, meaning: str) -> float:
    """`value` as a number in [0, 1], or a `ConfigError` naming `setting` and what it is (`meaning`): a
    percentage (50 for a half) otherwise passed without a word."""
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 <= number <= 1:
        raise ConfigError(f"{setting}: {meaning} in [0, 1], not {value!r}")
    return number


def count_setting(value: Any, setting: str, least: int = 1, unset: str | None = None) -> int | None:
    """`value` as a whole number of at least `least`, or a `ConfigError` naming `setting`; None passes where
    null means something (`unset`: what, e.g. "all cores"). A negative count was otherwise taken for none
    or for one, without a word."""
    if value is None and unset is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        meaning = f" (null: {unset})" if unset is not None else ""
        raise ConfigError(f"{setting}: a whole number, at least {least}{meaning}, not {value!r}")
    return value


def differences(
    values: Mapping[str, Any], other: Mapping[str, Any], at: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any, Any]]:
    """(path of keys, value, other's) of every setting that differs between two tables, down to the one
    value in a nested table, in key order; a setting one of them lacks reads null there."""
    found = []
    for key in sorted(set(values) | set(other)):
        mine, theirs = values.get(key), other.get(key)
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            found += differences(mine, theirs, (*at, key))
        elif mine != theirs:
            found.append(((*at, key), mine, theirs))
    return found


class _OneLineDumper(yaml.SafeDumper):
    """YAML's safe dumper, a string with a line break in it double-quoted, the break written `\\n`."""


def _one_line_string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Plain or single-quoted, YAML writes a line break as a blank line and indents the rest: a message
    # quoting the value ran over three lines.
    broken = any(character in text for character in "\n\r\x85\u2028\u2029")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"' if broken else None)


_OneLineDumper.add_representer(str, _one_line_string)


def as_yaml(value: Any) -> str:
    """`value` on one line as a user writes it in YAML (`true`, `null`, `[gradcam, eigencam]`, `{flip:
    true}`, `"two\\nlines"`), not as Python shows it (`True`, `None`, `['gradcam', 'eigencam']`); what YAML
    cannot hold, as Python shows it."""
    try:
        text = yaml.dump(
            value, Dumper=_OneLineDumper, default_flow_style=True, width=float("inf"), sort_keys=False
        )
    except yaml.YAMLError:
        return repr(value)
    return text.removesuffix("...\n").strip()
