"""``ImageFolderDataset``: a (optionally versioned) local folder of files, such as images and masks."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from crack_pipeline.vision.folder import Folder


def safe_relative_path(name: str) -> PurePosixPath:
    """`name` as a relative path that stays inside its folder, or a `DatasetError`."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts) or "\\" in name:
        raise DatasetError(f"refusing to write {name!r}: not a plain relative path inside the folder")
    return path


class ImageFolderDataset(AbstractVersionedDataset[Mapping[str, bytes], Folder]):
    """Loads a folder as a `Folder` (root + sorted relative file paths); saves `{relative path: bytes}`.

    A save writes everything into a temporary sibling folder and renames it into place, so a
    failed save leaves nothing half-written. Versioned: every save is a new version folder and
    none is ever overwritten. Not versioned: a save replaces the whole folder (for generated data
    that its recorded parameters reproduce exactly).

    Example catalog entry::

        synthetic_images:
          type: crack_pipeline.datasets.ImageFolderDataset
          path: data/01_raw/synthetic/images
    """

    def __init__(
        self,
        *,
        path: str,
        version: Version | None = None,
        optional: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        self._optional = optional  # a missing folder loads as None (e.g. masks that may not exist)
        super().__init__(
            filepath=PurePosixPath(Path(path).as_posix()),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}

    def load(self) -> Folder | None:
        try:
            if self._optional and not self._exists():
                return None
            return Folder.scan(Path(self._get_load_path()))
        except OSError as error:
            raise DatasetError(str(error)) from error

    def save(self, data: Mapping[str, bytes]) -> None:
        if not isinstance(data, Mapping):
            raise DatasetError(
                f"ImageFolderDataset saves a mapping of relative path to bytes, got {type(data)}"
            )
        target = Path(self._get_save_path())
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name, content in data.items():
                destination = staging / safe_relative_path(name)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(content)
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
                target.rename(retired / target.name)
                staging.rename(target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False
