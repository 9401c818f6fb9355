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
from crack_pipeline.vision.models.torch_files import save_atomically, why_unreadable

logger = logging.getLogger(__name__)


class TensorCacheDataset(AbstractDataset[dict, dict]):
    """Saves and loads {split name: ImageTensors} with torch (`weights_only=True` on load).

    Wrap it in a `CachedDataset` so that a run that builds the cache hands it on in memory, while a
    later run of one variant (`--namespaces`) loads it instead of decoding every image again.

    `previous: true` makes a read-only view of the cache as the last build left it, for the next build to
    copy the pixels of the images it holds: it loads as a function that maps the file into memory (pages
    read as they are used) and returns its contents, or None when there is none or it does not read. A
    function, so that the build drops the file before the new cache replaces it: on disk both never are.
    """

    def __init__(self, *, filepath: str, previous: bool = False, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._previous = previous
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "previous": self._previous}

    def load(self) -> dict[str, ImageTensors] | Callable[[], dict[str, ImageTensors] | None]:
        if self._previous:
            return partial(_mapped_if_readable, self._filepath)
        try:
            stored = torch.load(self._filepath, map_location="cpu", weights_only=True)
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
        return {split: ImageTensors(**fields) for split, fields in stored.items()}

    def save(self, data: dict[str, ImageTensors]) -> None:
        if self._previous:
            raise DatasetError(f"{self._filepath}: the previous decoded split is read only")
        stored = {
            split: {
                "images": _own_storage(t.images),
                "labels": t.labels,
                "paths": t.paths,
                "skipped": t.skipped,
                "sha256": t.sha256,
            }
            for split, t in data.items()
        }
        # Removed first, unlike other torch files: a run of the whole train pipeline makes it again, and
        # on disk it then needs its size once, not twice (40,000 images at 224 px: 6 GB). A save that does
        # not finish leaves no cache, which `load` says.
        self._filepath.unlink(missing_ok=True)
        save_atomically(stored, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()


def _mapped_if_readable(filepath: Path) -> dict[str, ImageTensors] | None:
    """The cache at `filepath`, mapped into memory; None (and why, unless it is missing) when it does not
    load: the build decodes every image then."""
    try:
        stored = torch.load(filepath, map_location="cpu", weights_only=True, mmap=True)
        return {split: ImageTensors(**fields) for split, fields in stored.items()}
    except FileNotFoundError:
        return None
    except Exception as error:
        logger.warning(
            "tensor cache %s does not read (%s): every image is decoded", filepath, why_unreadable(error)
        )
        return None


def _own_storage(images: torch.Tensor) -> torch.Tensor:
    """`images`, copied when they are a part of a larger storage (the rows of skipped images): torch saves
    a tensor's whole storage."""
    return images.clone() if images.untyped_storage().nbytes() > images.nbytes else images
