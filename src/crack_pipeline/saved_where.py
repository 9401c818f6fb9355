"""Where a run put what a user opens next: a catalog entry whose metadata has `said_where: <prefix>` is said,
once saved, as `<prefix>: <file> in <path>` with its path relative to the project (the version the run
saved), a folder of figures with the files it holds. Kedro's own line names the entry only (`Saving data to
evaluate_folder_metrics (WholeJSONDataset)`), and the files lie under the environment's data_root
(data/general/... in `--env=general`) and a version folder named by the run's start."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset, DatasetError

logger = logging.getLogger(__name__)


def saved_where(dataset: Any) -> Path | None:
    """The file or folder `dataset` was just saved to (a versioned one: the version OwnVersionsHook pinned
    to the one saved), or None where it is kept elsewhere than on the local disk."""
    try:
        if isinstance(dataset, AbstractVersionedDataset):
            path = Path(dataset._get_load_path())  # Kedro has no public way to ask
        else:
            path = Path(str(getattr(dataset, "_filepath", "")))
    except DatasetError:
        return None
    return path if str(path) not in ("", ".") and path.exists() else None


def shown(path: Path, project: Path) -> str:
    """`path` relative to the project where it lies in it (as the README names them), else as it is."""
    path, project = path.resolve(), project.resolve()
    return os.path.relpath(path, project) if path.is_relative_to(project) else str(path)


def saved_line(prefix: str, path: Path, project: Path) -> str:
    if path.is_dir():
        files = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
        return f"{prefix}: {path.name} in {shown(path, project)}/ ({', '.join(files) or 'empty'})"
    return f"{prefix}: {path.name} in {shown(path, project)}"


class SavedWhereHook:
    """Logs where each catalog entry with `said_where` in its metadata was saved (`saved_line`)."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._project = Path.cwd()

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        self._catalog, self._project = catalog, Path(run_params.get("project_path") or Path.cwd())

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        prefix = (getattr(dataset, "metadata", None) or {}).get("said_where")
        if prefix and (path := saved_where(dataset)) is not None:
            logger.info(saved_line(prefix, path, self._project))
