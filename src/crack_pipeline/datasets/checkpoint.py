"""``TorchCheckpointDataset``: a versioned, self-describing model checkpoint file."""

from __future__ import annotations

import glob
import os
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from crack_pipeline.vision.models.checkpoint import CheckpointError, check_checkpoint
from crack_pipeline.vision.models.torch_files import save_atomically


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
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DatasetError(f"no checkpoint at {path}: train the model first") from None
        except Exception as error:  # a truncated or foreign file: say which, never a raw unpickling trace
            raise DatasetError(f"checkpoint {path} is damaged or not a torch checkpoint: {error}") from None
        try:
            check_checkpoint(checkpoint, str(path))
        except CheckpointError as error:
            raise DatasetError(str(error)) from None
        return checkpoint

    def save(self, data: dict) -> None:
        save_atomically(data, Path(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:
            return False
