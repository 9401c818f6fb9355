"""``TorchCheckpointDataset``: a versioned, self-describing model checkpoint file."""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from crack_pipeline.datasets.previous_version import check_pinned_version
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.crack_segmenter import FORMAT, segmenter_net
from crack_pipeline.vision.models.checkpoint import check_checkpoint
from crack_pipeline.vision.models.torch_files import load_checked, save_atomically, why_unreadable

logger = logging.getLogger(__name__)


class TorchCheckpointDataset(AbstractVersionedDataset[dict, dict]):
    """Saves a checkpoint dict with `torch.save`; loads it with `weights_only=True` (no code runs from
    the file), and checks that it is a complete crack_pipeline checkpoint.

    Example catalog entry::

        "{variant}.checkpoint":
          type: crack_pipeline.datasets.TorchCheckpointDataset
          filepath: data/06_models/{variant}/checkpoint.pt
          versioned: true
    """

    def __init__(
        self, *, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None
    ):
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(Path(filepath).as_posix()),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> dict:
        path = Path(self._get_load_path())
        try:
            checkpoint = load_checked(path)
        except FileNotFoundError:
            raise DatasetError(f"no checkpoint at {path}: train the model first") from None
        except Exception as error:  # a truncated or foreign file: say which, never a raw unpickling trace
            raise DatasetError(
                f"checkpoint {path} is damaged or not a torch checkpoint: {why_unreadable(error)}"
            ) from None
        try:
            self._check(checkpoint, str(path))
        except InputError as error:
            raise DatasetError(str(error)) from None
        return checkpoint

    @staticmethod
    def _check(checkpoint: Any, path: str) -> None:
        check_checkpoint(checkpoint, path)

    def save(self, data: dict) -> None:
        versions = Path(self._filepath) if self._version is not None else None
        save_atomically(data, Path(self._get_save_path()), versions_of=versions)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:
            return False


class CrackSegmenterDataset(TorchCheckpointDataset):
    """A versioned crack segmenter checkpoint (crack_segmenter.train_segmenter); loads as None while none
    has been trained, so that a run can say what to do about it. `read_only`: a view of another entry's
    file, which it never writes; `damaged_as_none`: a damaged latest version loads as None too, with a
    warning naming it (for the pipeline that would train a new one: a damaged file must not stop its own
    replacement)."""

    def __init__(self, *, read_only: bool = False, damaged_as_none: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.read_only, self._damaged_as_none = read_only, damaged_as_none

    def load(self) -> dict | None:
        if not self.exists():
            check_pinned_version(self)  # a version asked for is not "none trained yet"
            return None
        try:
            return super().load()
        except DatasetError as error:
            if not self._damaged_as_none:
                raise
            logger.warning("%s; a new one is trained", error)
            return None

    def save(self, data: dict) -> None:
        if self.read_only:
            raise DatasetError(f"{self._filepath} is read-only here: save to the entry that owns the file")
        super().save(data)

    @staticmethod
    def _check(checkpoint: Any, path: str) -> None:
        # Only that it is a checkpoint: one of an older format is retrained by the segmenter pipeline and
        # refused, with what to run, where it would be used (crack_segmenter.check_segmenter).
        if not isinstance(checkpoint, dict) or "format" not in checkpoint:
            raise InputError(f"{path}: not a crack segmenter checkpoint")
        if checkpoint["format"] == FORMAT:  # one of this format whose weights do not fit is damaged: named
            segmenter_net(checkpoint, path)
