"""Versioned files written whole or not at all, and checked whole when read back: CSV and JSON."""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
from typing import Any

import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset

from crack_pipeline.vision.data.spreadsheet_cells import as_written, spreadsheet_safe


def digest_path(path: str) -> str:
    """Where the SHA-256 of the file at `path` is kept: a hidden file beside it, in its version folder."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f".{name}.sha256")


def write_whole(fs: Any, path: str, content: bytes) -> None:
    """`content` to `path` on the fsspec file system `fs`: written beside it, with its SHA-256, and renamed
    onto it, so that no reader ever sees part of it; what a failed write (a full disk) made is removed."""
    partial, digest = f"{path}.partial", digest_path(path)
    try:
        with fs.open(partial, mode="wb") as file:
            file.write(content)
        with fs.open(digest, mode="wb") as file:
            file.write(hashlib.sha256(content).hexdigest().encode())
        fs.mv(partial, path)
    except BaseException:
        for left in (partial, digest):
            with contextlib.suppress(OSError):
                fs.rm(left)
        raise


def check_whole(fs: Any, path: str) -> None:
    """A `DatasetError` saying what to do when the file at `path` is no longer what was written (its
    SHA-256 is not the one kept beside it; files written before digests were kept are not checked)."""
    digest = digest_path(path)
    if fs.exists(digest) and hashlib.sha256(fs.cat_file(path)).hexdigest() != fs.cat_file(digest).decode():
        raise DatasetError(damaged(path, "its content is not what was written: the SHA-256 differs"))


def damaged(path: str, why: str) -> str:
    return (
        f"{path} is damaged ({why}); move its version folder {posixpath.dirname(path)} away to use the "
        "version before it, or run the pipeline that writes it again"
    )


class WrittenWhole:
    """For a kedro-datasets file dataset: `save` renders the data in memory (`_content`; a value that
    cannot be written fails there, before any file exists) and writes it whole (`write_whole`); `load`
    checks it whole first and names the file and what to do when it is damaged, instead of reading a cut
    table as a shorter one or failing on a cut JSON without naming it."""

    def _content(self, data: Any) -> bytes:
        raise NotImplementedError

    def save(self, data: Any) -> None:
        content = self._content(data)
        write_whole(self._fs, get_filepath_str(self._get_save_path(), self._protocol), content)
        self._invalidate_cache()

    def load(self) -> Any:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        check_whole(self._fs, path)
        try:
            return super().load()
        except DatasetError as error:
            if not isinstance(error.__cause__, ValueError):  # a missing version, no permission: as they are
                raise
            # The parser's own words (pandas' and json's errors are ValueErrors), without Kedro's wrapping.
            raise DatasetError(damaged(path, f"it does not read: {error.__cause__}")) from None


class WholeCSVDataset(WrittenWhole, CSVDataset):
    """`pandas.CSVDataset` whose version is never left half-written, and is checked when read: pandas
    writes as it renders, and a failure left a truncated version that later runs read as the latest, a
    shorter table without a word. Its text cells never start like a spreadsheet formula, and read back
    as they were (`spreadsheet_cells`)."""

    def _content(self, data: pd.DataFrame) -> bytes:
        rendered = spreadsheet_safe(data).to_csv(**self._save_args)
        return rendered.encode(self._save_args.get("encoding") or "utf-8")

    def load(self) -> pd.DataFrame:
        return as_written(super().load())


class WholeJSONDataset(WrittenWhole, JSONDataset):
    """`json.JSONDataset` whose version is never left half-written, and is checked when read: a full disk
    left an empty file as the latest version, and every later run that read it failed without naming it."""

    def _content(self, data: Any) -> bytes:
        return json.dumps(data, **self._save_args).encode()
