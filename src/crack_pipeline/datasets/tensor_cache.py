"""``TensorCacheDataset``: the decoded split as uint8 tensors in one file, for runs that skip decoding."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from kedro.io.core import AbstractDataset, DatasetError

from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.models.torch_files import check_whole, save_atomically, why_unreadable

logger = logging.getLogger(__name__)


class TensorCacheDataset(AbstractDataset[dict, dict]):
    """Saves and loads {split name: ImageTensors} with torch (`weights_only=True` on load).

    Wrap it in a `CachedDataset` so that a run that builds the cache hands it on in memory, while a
    later run of one variant (`--namespaces`) loads it instead of decoding every image again.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def load(self) -> dict[str, ImageTensors]:
        try:
            return _read(self._filepath)
        except FileNotFoundError:
            raise DatasetError(
                f"no decoded split at {self._filepath} (none made yet, or its last save did not finish): "
                "run the whole `train` pipeline once (kedro run --pipelines=train) before training single "
                "variants"
            ) from None
        except Exception as error:
            raise DatasetError(
                f"tensor cache {self._filepath} is damaged ({why_unreadable(error)}); delete it and rerun"
            ) from None

    def save(self, data: dict[str, ImageTensors]) -> None:
        stored = {split: tensors.stored() for split, tensors in data.items()}
        # Removed first, unlike other torch files: a run of the whole train pipeline makes it again, and
        # on disk it then needs its size once, not twice (40,000 images at 224 px: 6 GB). A save that does
        # not finish leaves no cache, which `load` says.
        self._filepath.unlink(missing_ok=True)
        save_atomically(stored, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()


class PreviousTensorCacheDataset(AbstractDataset[None, Callable[[], "dict[str, ImageTensors] | None"]]):
    """The tensor cache as the last build left it, read only, for the next build to copy the pixels of the
    images it holds. Loads as a function that checks the file whole (its zip checksums: torch's own load
    does not) and maps it into memory (pages read as they are used), returning its contents, or None when
    there is none or it is damaged. A function, so that the build lets the file go before the new cache
    replaces it: on disk both never are."""

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def load(self) -> Callable[[], dict[str, ImageTensors] | None]:
        return partial(_checked_and_mapped, self._filepath)

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._filepath}: the previous decoded split is read only")

    def _exists(self) -> bool:
        return self._filepath.is_file()


def _read(filepath: Path, mmap: bool = False) -> dict[str, ImageTensors]:
    stored = torch.load(filepath, map_location="cpu", weights_only=True, mmap=mmap)
    return {split: ImageTensors(**fields) for split, fields in stored.items()}


def _checked_and_mapped(filepath: Path) -> dict[str, ImageTensors] | None:
    """The cache at `filepath`, mapped into memory; None (and why, unless it is missing) when it is damaged:
    the build decodes every image then."""
    try:
        check_whole(filepath)
        return _read(filepath, mmap=True)
    except FileNotFoundError:
        return None
    except Exception as error:
        logger.warning(
            "tensor cache %s is damaged (%s): every image is decoded", filepath, why_unreadable(error)
        )
        return None
