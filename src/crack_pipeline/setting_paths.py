"""The settings that name a file or folder, and how the project reads them: a relative one from the project,
`~` the user's home, an empty one refused (`data_root` too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from crack_pipeline.vision.data.folder import without_dots
from crack_pipeline.vision.settings import ConfigError

# The parameters that name a file or folder ("*": every entry of a mapping or a list). A relative one is
# taken from the project, as Kedro takes the catalog's paths: the same folder in a notebook kernel or a
# run started in a subfolder. `~` is the user's home in these and in the catalog's paths (Kedro would
# have taken `~/photos` as a folder of the project).
PATH_SETTINGS = (
    "data.source_dir",
    "data.sources.*.path",
    "explain.input_dir",
    "explain.masks_dir",
    "explain.scales",
    "evaluate_folder.path",
    "mask_tiles.images_dir",
    "segmenter_adaptation.folder",
    "mask_tiles.masks_dir",
    "train.resume_dir",
    "train.models.*.weights_path",
    "fetch.raw_dir",
    "fetch.lock_file",
)
# The keys Kedro reads as paths in the catalog (kedro.framework.context's own list).
CATALOG_PATH_KEYS = ("filename", "filepath", "path")


def require_data_root(globals_config: dict[str, Any], set_in: Callable[[], str]) -> None:
    """A `ConfigError` for an empty `data_root`, naming the file that set it (`set_in()`, its files read only
    then): the catalog's `${globals:data_root}/02_intermediate` was then `/02_intermediate`, at the file
    system's root."""
    if globals_config.get("data_root") == "":
        raise ConfigError(
            f"data_root ({set_in()}) is empty (''): name the environment's folder (e.g. data/<env>), or "
            "leave it out to share the default environment's (data)"
        )


def in_folder(path: str, project: Path, setting: str) -> str:
    """`path` with `~` expanded, taken from `project` when relative, without steps `.` and `..`; a
    `ConfigError` naming `setting` when it is empty: `Path('')` is the working folder, and an empty
    `data.source_dir` or `explain.input_dir` read the whole project as photos."""
    if not path:
        raise ConfigError(
            f"{setting} is empty (''): name a folder or file, or null where it may be unset (an empty path "
            "names the project folder itself)"
        )
    expanded = home_expanded(path)
    return without_dots(expanded if expanded.is_absolute() else project / expanded)


def home_expanded(path: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # no such user, or no home at all: the name as it is, reported missing if so
        return Path(path)


def anchor_paths(parameters: dict[str, Any], project: Path) -> None:
    """Each setting of PATH_SETTINGS in `parameters` taken from `project` (`in_folder`), in place."""
    for setting in PATH_SETTINGS:
        _anchor(parameters, setting.split("."), project, "")


def _anchor(config: Any, keys: list[str], project: Path, named: str) -> None:
    """The settings at `keys` below `config` (`named`: its own setting) in `project`, named as a user writes
    them (`data.sources[0].path`)."""
    if not keys or not isinstance(config, dict | list):
        return
    key, rest = keys[0], keys[1:]
    if key == "*":
        children = list(config) if isinstance(config, dict) else list(range(len(config)))
    else:
        children = [key] if isinstance(config, dict) and key in config else []
    for child in children:
        child_named = f"{named}[{child}]" if isinstance(child, int) else f"{named}.{child}".lstrip(".")
        if rest:
            _anchor(config[child], rest, project, child_named)
        elif isinstance(config[child], str):
            config[child] = in_folder(config[child], project, child_named)


def expand_home(config: Any) -> None:
    """`~` expanded in every catalog path of `config`, in place."""
    entries = config.values() if isinstance(config, dict) else config if isinstance(config, list) else ()
    for entry in entries:
        expand_home(entry)
    if isinstance(config, dict):
        for key in CATALOG_PATH_KEYS:
            if isinstance(config.get(key), str) and config[key].startswith("~"):
                config[key] = str(home_expanded(config[key]))
