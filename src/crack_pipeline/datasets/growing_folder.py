"""``GrowingFolderDataset``: a folder that saves add files to and nothing ever replaces — a survey's."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from crack_pipeline.datasets.image_folder import safe_relative_path
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.file_modes import file_mode

logger = logging.getLogger(__name__)


class GrowingFolderDataset(AbstractDataset[Mapping[str, bytes], Folder]):
    """Loads the folder as a `Folder` (no files while it does not exist); a save adds `{relative path:
    bytes}` to it.

    Each save is one unit of work whose **last** file marks it finished: files are written in the given
    order, each to a temporary name renamed into place, so a killed save leaves no half-written file and
    no finished mark. A save whose mark exists already changes nothing: finished work is never
    overwritten (a warning says so when the save brought other bytes, e.g. the same photo explained by two
    runs at once). The files of an unfinished save (no mark) are replaced by the save that finishes it.
    Several processes may add to one folder at once.

    Example catalog entry::

        survey_photos:
          type: crack_pipeline.datasets.GrowingFolderDataset
          path: data/07_model_output/surveys/${runtime_params:explain.survey, survey}
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._root = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._root)}

    def load(self) -> Folder:
        """The folder's files but temporary ones (none while it does not exist); a folder another process
        removes meanwhile (a merge's staging folder) is passed over: os.walk ignores what vanishes."""
        found = []
        for folder, _, names in os.walk(self._root):
            relative = Path(folder).relative_to(self._root)
            found.extend((relative / name).as_posix() for name in names if not name.startswith("."))
        return Folder(self._root, tuple(sorted(found)))

    def save(self, data: Mapping[str, bytes]) -> None:
        if not isinstance(data, Mapping) or not data:
            raise DatasetError(
                f"GrowingFolderDataset saves a non-empty mapping of relative path to bytes, got {data!r:.80}"
            )
        names = [safe_relative_path(name) for name in data]
        mark = self._root / names[-1]
        if mark.exists():
            if mark.read_bytes() != data[str(names[-1])]:
                logger.warning("%s was finished already (by another run?): kept; this save's differs", mark)
            return
        mode = file_mode()
        for name in names:
            _write_atomically(self._root / name, data[str(name)], mode)

    def _exists(self) -> bool:
        return self._root.is_dir()


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
