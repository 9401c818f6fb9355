"""Latest-version views of versioned files that may not exist yet: they load as None instead of failing."""

from __future__ import annotations

from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError
from kedro.pipeline import Pipeline

from crack_pipeline.datasets.whole_file import WholeCSVDataset, WholeJSONDataset


def check_pinned_version(dataset: AbstractVersionedDataset) -> None:
    """A `DatasetError` naming the version when one was asked for (`--load-versions`) and is not there: a
    view that loads as None before the first version read such a typo as "none yet" (a variant left out of
    the comparison without a word), where every other versioned entry stops the run."""
    pinned = dataset._version.load if dataset._version else None
    if pinned is not None:
        found = dataset.list_versions(full_path=False)
        raise DatasetError(
            f"{dataset._filepath} has no version {pinned!r} (--load-versions); its newest: "
            f"{', '.join(found[:5]) or 'none yet'}"
        )


def require_pinned_versions(pipeline: Pipeline, catalog: Any, load_versions: dict[str, str] | None) -> None:
    """`check_pinned_version` before any node runs, for each entry the run reads: a typo in a version was
    met only where it was loaded, after the steps before it (a variant's training), and said "no checkpoint
    at ...: train the model first" or Kedro's "Failed while loading data ... No such file". An entry asked
    for that the run does not read is an error too."""
    read = {name for node in pipeline.nodes for name in node.inputs}
    if unread := sorted(set(load_versions or {}) - read):
        # Kedro refuses a name no entry has, but a variant's ("{variant}.checkpoint") matches any: a typo
        # (smal_cnn.checkpoint) was taken, and the run read the latest version without a word.
        raise DatasetError(
            f"--load-versions: this run reads no {', '.join(unread)} (a typo, or another pipeline's?): "
            "no version of it would be used"
        )
    for name in sorted(read & set(load_versions or {})):
        dataset = catalog.get(name)
        if isinstance(dataset, AbstractVersionedDataset) and not dataset.exists():
            try:
                check_pinned_version(dataset)
            except DatasetError as error:
                raise DatasetError(f"{name}: {error}") from None


class _NoneBeforeTheFirstVersion:
    """Loads as None while no version exists."""

    def load(self) -> Any:
        if self.exists():
            return super().load()
        check_pinned_version(self)
        return None


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
