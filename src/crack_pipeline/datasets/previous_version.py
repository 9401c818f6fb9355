"""Latest-version views of versioned files that may not exist yet: they load as None instead of failing."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro_datasets.json import JSONDataset
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


class OptionalJSONDataset(JSONDataset):
    """A versioned JSON file that loads as None while no version exists (e.g. the evaluation of a variant
    never trained), and saves like `json.JSONDataset`."""

    def load(self) -> Any:
        return super().load() if self.exists() else None
