"""``GrowingFolderDataset``: a folder that saves add files to and nothing ever replaces — a survey's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from crack_pipeline.datasets.image_folder import file_creation_mask, safe_relative_path
from crack_pipeline.vision.data.folder import Folder


class GrowingFolderDataset(AbstractDataset[Mapping[str, bytes], Folder]):
    """Loads the folder as a `Folder` (no files while it does not exist); a save adds `{relative path:
    bytes}` to it.

    Each save is one unit of work whose **last** file marks it finished: files are written in the given
    order, each to a temporary name renamed into place, so a killed save leaves no half-written file and
    no finished mark. A save whose mark exists already changes nothing when it brings the same bytes and
    is an error otherwise: finished work is never overwritten. The files of an unfinished save (no mark)
    are replaced by the save that finishes it. Several processes may add to one folder at once.

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
        if not self._root.exists():
            return Folder(self._root, ())
        return Folder(
            self._root,
            tuple(
                sorted(
                    p.relative_to(self._root).as_posix()
                    for p in self._root.rglob("*")
                    if p.is_file() and not p.name.startswith(".")
                )
            ),
        )

    def save(self, data: Mapping[str, bytes]) -> None:
        if not isinstance(data, Mapping) or not data:
            raise DatasetError(
                f"GrowingFolderDataset saves a non-empty mapping of relative path to bytes, got {data!r:.80}"
            )
        names = [safe_relative_path(name) for name in data]
        mark = self._root / names[-1]
        if mark.exists():
            if mark.read_bytes() == data[str(names[-1])]:
                return
            raise DatasetError(
                f"{mark} exists already with other content: finished work is never overwritten"
            )
        for name in names:
            _write_atomically(self._root / name, data[str(name)])

    def _exists(self) -> bool:
        return self._root.is_dir()


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o666 & ~file_creation_mask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
