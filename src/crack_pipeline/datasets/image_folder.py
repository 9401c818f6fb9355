"""``ImageFolderDataset``: a (optionally versioned) local folder of files, such as images and masks."""

from __future__ import annotations

import glob
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from PIL import Image

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.file_modes import file_creation_mask


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
    that its recorded parameters reproduce exactly), or, with `replace: false`, fails when the
    folder holds other files (for data that later runs read by its path, such as a patch set
    trained on); the same files again leave it as it is, and so do images of the same pixels in
    other bytes (another zlib, after a Pillow upgrade, writes other PNG bytes).

    Example catalog entry::

        synthetic_images:
          type: crack_pipeline.datasets.ImageFolderDataset
          path: data/01_raw/synthetic/images
    """

    def __init__(
        self,
        *,
        path: str | None,
        default: dict[str, str] | None = None,
        parameter: str | None = None,
        required: bool = True,
        listed_instead: list | None = None,
        replace: bool = True,
        named_by: str | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """
        Args:
            path: the folder; None when the user did not give one (see `default`).
            default: {"path": the folder used when `path` is None, if it exists} (a mapping, so that
                Kedro makes its relative path absolute like any catalog path).
            parameter: the setting that gives `path` (e.g. explain.input_dir), named in error messages.
            required: without a folder (neither `path` nor an existing default), fail (True) or
                load as None (False). A `path` that was given but does not exist always fails.
            listed_instead: the folders the run reads instead when set (`data.sources`): without a
                `path` given, loads as None, its default not even scanned.
            replace: unversioned, whether a save may replace a folder that holds other files.
            named_by: the setting that names the folder saved (mask_tiles.name), which a save refused for
                `replace` says to change.
        """
        self.metadata = metadata
        self._given, self._parameter, self._required = path, parameter, required
        self._listed_instead = bool(listed_instead)
        self._replace, self._named_by = replace, named_by
        self._default = (default or {}).get("path")
        super().__init__(
            filepath=PurePosixPath(Path(path or self._default or ".").as_posix()),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )

    def folder_read(self) -> str | None:
        """The folder a load reads: the one given, else the default; None where the folders listed instead
        are read."""
        return None if self._given is None and self._listed_instead else self._given or self._default

    def _describe(self) -> dict[str, Any]:
        return {"path": self._given, "default": self._default, "version": self._version}

    def load(self) -> Folder | None:
        setting = self._parameter or "the folder"
        if self._given is None and self._listed_instead:
            return None
        if self._given is None and (self._default is None or not self._exists()):
            if not self._required:
                return None
            default = f" and the default {self._default} does not exist" if self._default else ""
            raise DatasetError(
                f"{setting} is not set{default}: pass --params={self._parameter or 'PARAMETER'}=DIR"
            )
        try:
            return Folder.scan(Path(self._get_load_path()))
        except OSError as error:  # missing, a file, empty: the message names the folder
            raise DatasetError(f"{setting}: {error}") from None

    def save(self, data: Mapping[str, bytes]) -> None:
        if not isinstance(data, Mapping):
            raise DatasetError(
                f"ImageFolderDataset saves a mapping of relative path to bytes, got {type(data)}"
            )
        target = Path(self._get_save_path())
        if not self._replace and target.exists():
            _refuse_other_files(target, data, self._named_by)
            return  # the same files: nothing to write
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        staging.chmod(0o777 & ~file_creation_mask())  # mkdtemp's 0700 would outlive the rename
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


def _refuse_other_files(target: Path, data: Mapping[str, bytes], named_by: str | None = None) -> None:
    """A `DatasetError` naming `target` when the files it holds are not exactly `data` (byte for byte, or
    pixel for pixel where both are images; hidden and system files a file browser or a NAS adds are not
    its own, as loading it passes them over), and the setting that names it (`named_by`), if any."""
    try:
        held = set(Folder.scan(target).files)
    except FileNotFoundError:  # a folder left empty
        held = set()
    differ = sorted(held ^ data.keys()) + sorted(
        name for name in held & data.keys() if not _same_content((target / name).read_bytes(), data[name])
    )
    if differ:
        other = (
            f"Give it another name (--params={named_by}=<new name>; {named_by} is {target.name!r} now)"
            if named_by
            else "Save under another name"
        )
        raise DatasetError(
            f"{target} holds other files than this run made ({len(differ):,} differ, e.g. {differ[0]!r}) "
            f"and is never replaced: runs may have read it (trained on it). {other}, or delete the folder "
            "to make it again."
        )


def _same_content(held: bytes, made: bytes) -> bool:
    if held == made:
        return True
    pixels = _pixels(made)
    return pixels is not None and _pixels(held) == pixels


def _pixels(content: bytes) -> tuple[str, tuple[int, int], bytes] | None:
    """An image's mode, size and decoded pixels; None for what is not an image Pillow reads."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.mode, image.size, image.tobytes()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
