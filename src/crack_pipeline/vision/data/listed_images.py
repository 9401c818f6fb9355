"""The images a table lists, decoded a part at a time: a folder of any size in the memory of one part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from crack_pipeline.vision.data.image_io import ImageRejected
from crack_pipeline.vision.data.ingested import ingested_bytes
from crack_pipeline.vision.data.sheet_pictures import sheet_picture_of
from crack_pipeline.vision.data.sources import image_files, image_keys

if TYPE_CHECKING:
    from crack_pipeline.vision.data.tensor_cache import ImageTensors

# Images decoded at a time (`decode_listed_in_parts`): 154 MB of uint8 pixels at 224 px.
PART = 1024


@dataclass(frozen=True)
class ListedImages:
    """The images of `table` (`decode_listed`'s columns, one row by name) a pass decoded, a `PART` at a
    time: their names (`paths`) and labels, in order, and the files that could not be read (`skipped`).
    The pixels are not kept: `pictures` reads the few a figure shows again."""

    table: pd.DataFrame
    size: int
    labels: torch.Tensor
    paths: list[str]
    skipped: dict[str, str]
    # A split's decoded cache (`of_split`): what was scored, shown where its file no longer reads as then.
    cached: ImageTensors | None = None

    @classmethod
    def of_split(cls, images: ImageTensors, manifest: pd.DataFrame) -> ListedImages:
        """The images of a split decoded into the (square) tensor cache, with the files `manifest` lists for
        them: a sheet reads them again at their own aspect, as for a folder, and shows the cache's square
        where a file was moved or changed since (what was scored; a sheet left empty read 'no mistakes')."""
        table = manifest.set_index(pd.Index(image_keys(manifest)))
        return cls(table, images.images.shape[-1], images.labels, images.paths, images.skipped, images)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, paths: Sequence[str]) -> ListedImages:
        """Those of `paths` that were decoded, in order."""
        wanted = set(paths)
        rows = [i for i, path in enumerate(self.paths) if path in wanted]
        return ListedImages(
            self.table,
            self.size,
            self.labels[torch.as_tensor(rows, dtype=torch.int64)],
            [self.paths[i] for i in rows],
            {p: reason for p, reason in self.skipped.items() if p in wanted},
            None if self.cached is None else self.cached.subset(paths),
        )

    def pictures(self, paths: Sequence[str]) -> dict[str, np.ndarray]:
        """The images of `paths` as H x W x 3 uint8 arrays for a sheet, read again at their own aspect (the
        model's square input squashed a strip photo, 6000 x 400 px, into a square); one that no longer
        reads, or whose content changed since ingest validated it, is left out, or shown from the `cached`
        split."""
        rows = self.table.loc[list(paths)]
        expected = rows.sha256 if "sha256" in rows.columns else [None] * len(rows)
        pictures = {}
        for name, file, sha256 in zip(rows.index, image_files(rows), expected, strict=True):
            if isinstance(data := ingested_bytes(file, sha256), str):
                continue
            try:
                pictures[name] = sheet_picture_of(data)
            except (OSError, ImageRejected):
                continue
        if self.cached is not None:
            pictures.update(self.cached.pictures([path for path in paths if path not in pictures]))
        return pictures
