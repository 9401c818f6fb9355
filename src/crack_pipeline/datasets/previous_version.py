"""``PreviousCSVDataset``: the latest saved version of a versioned CSV, read before a run saves a new one."""

from __future__ import annotations

import pandas as pd
from kedro_datasets.pandas import CSVDataset


class PreviousCSVDataset(CSVDataset):
    """A read-only view of another entry's versioned CSV (e.g. the split a retrain extends).

    Point `filepath` at that entry's file with `versioned: true`; loading gives its latest version,
    or None when none has been saved yet (the first run).
    """

    def load(self) -> pd.DataFrame | None:
        return super().load() if self.exists() else None

    def save(self, data: pd.DataFrame) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only: save to the entry that owns the file")
