"""Latest-version views of versioned files that may not exist yet: they load as None instead of failing."""

from __future__ import annotations

from typing import Any

from crack_pipeline.datasets.whole_file import WholeCSVDataset, WholeJSONDataset


class _NoneBeforeTheFirstVersion:
    """Loads as None while no version exists."""

    def load(self) -> Any:
        return super().load() if self.exists() else None


class _LatestVersionView(_NoneBeforeTheFirstVersion):
    """A read-only view of another entry's versioned file: its latest version, None before the first."""

    def save(self, data: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only: save to the entry that owns the file")


class PreviousCSVDataset(_LatestVersionView, WholeCSVDataset):
    """The latest version of another entry's versioned CSV (e.g. the split a retrain extends): point
    `filepath` at that entry's file with `versioned: true`."""


class PreviousJSONDataset(_LatestVersionView, WholeJSONDataset):
    """The latest version of another entry's versioned JSON (e.g. the last champion decision)."""


class OptionalJSONDataset(_NoneBeforeTheFirstVersion, WholeJSONDataset):
    """A versioned JSON file that loads as None while no version exists (e.g. the evaluation of a variant
    never trained), and saves like `WholeJSONDataset`."""


class OptionalCSVDataset(_NoneBeforeTheFirstVersion, WholeCSVDataset):
    """A versioned CSV file that loads as None while no version exists (e.g. the predictions of a variant
    never trained), and saves like `WholeCSVDataset`."""
