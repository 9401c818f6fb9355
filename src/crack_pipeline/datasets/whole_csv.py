"""A versioned CSV that is written whole or not at all."""

from __future__ import annotations

import pandas as pd
from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import CSVDataset


class WholeCSVDataset(CSVDataset):
    """`pandas.CSVDataset` whose version is never left half-written: the table is rendered and encoded in
    memory (a value that cannot be written fails there, before any file exists), written beside the
    version's file and renamed onto it. pandas.CSVDataset writes as it renders: a failure left a truncated
    version that later runs read as the latest."""

    def save(self, data: pd.DataFrame) -> None:
        content = data.to_csv(**self._save_args).encode(self._save_args.get("encoding") or "utf-8")
        path = get_filepath_str(self._get_save_path(), self._protocol)
        partial = f"{path}.partial"
        with self._fs.open(partial, mode="wb") as file:
            file.write(content)
        self._fs.mv(partial, path)
        self._invalidate_cache()
