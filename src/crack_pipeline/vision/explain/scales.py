"""Each photo's own scale: a table of mm a pixel by file, for photos taken at different distances (a survey
from a drone, a ladder and the ground), where one `mm_per_pixel` would measure most cracks wrong."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from crack_pipeline.vision.data.folder import composed
from crack_pipeline.vision.data.spreadsheet_cells import as_written
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError

logger = logging.getLogger(__name__)

COLUMNS = ("file", "mm_per_pixel")


def _key(name: str) -> str:
    """A file's name as the tables give it: relative, with / between folders (a Windows `a\\b.jpg` too),
    its letters in one Unicode form (NFC): a folder copied from a Mac names Brücke.jpg with u and a
    combining diaeresis, a table typed in a spreadsheet with ü, and the two did not match."""
    return composed(str(PurePosixPath(name.strip().replace("\\", "/"))))


def _spreadsheet_dialect(path: str | Path) -> dict[str, Any]:
    """How to read the table at `path` (each of these read as one column, `file;mm_per_pixel` or `sep=`):
    by the separator Excel's `sep=X` first line names, that line skipped (a "CSV" saved for another
    locale); by tabs where its header has them (a spreadsheet's cells pasted into a text file); by
    semicolons where its header has them and no commas, as Excel saves a "CSV" where a comma is the decimal
    mark (Germany, France, ...); else by commas, as the project writes CSVs. Where cells are not split by
    commas, a comma is a decimal mark (`0,2`; `0.2` still reads)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as table:
            header = table.readline()
            named = re.fullmatch(r'"?sep=(.)"?\s*', header)  # quoted by some exporters: "sep=;"
            if named:
                header = table.readline()
    except OSError:
        return {}  # read_csv names what is wrong
    if named:
        sep = named.group(1)
    elif "\t" in header:
        sep = "\t"
    elif ";" in header and "," not in header:
        sep = ";"
    else:
        sep = ","
    return {"sep": sep, "skiprows": 1 if named else 0}


def read_scales(path: str | Path, setting: str = "explain.scales") -> dict[str, float]:
    """{file: mm a pixel} from the CSV at `path` (columns `file`, the photo's path in its folder as the
    predictions table names it, and `mm_per_pixel`, above 0); a `ConfigError` naming `setting`, the file and
    its bad rows (as a spreadsheet numbers them) otherwise. Its cells are read as the project's tables write
    them (`spreadsheet_cells`): a table made from predictions.csv names `-2.jpg` as `'-2.jpg` there. A table
    saved by Excel where a comma is the decimal mark (semicolons between cells), with Excel's `sep=` first
    line, or with tabs between cells is read too (`_spreadsheet_dialect`)."""
    where, dialect = f"{setting}: {path}", _spreadsheet_dialect(path)
    try:
        table = as_written(
            pd.read_csv(
                path,
                # Scales as text too, parsed below: an error quotes a cell as written ('0'), where a column
                # of numbers was quoted as numpy shows it (np.float64(0.0)).
                dtype={"file": str, "mm_per_pixel": str},
                keep_default_na=False,
                na_values={"mm_per_pixel": [""]},
                **dialect,
            )
        )
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file (a CSV of {', '.join(COLUMNS)})") from None
    except UnicodeDecodeError as error:
        # Excel's plain "CSV" is in the computer's code page: Brücke.jpg's ü is byte 0xfc there.
        raise ConfigError(
            f"{where}: not UTF-8 (byte {error.object[error.start]:#04x} at {error.start}): save it from the "
            "spreadsheet as 'CSV UTF-8'"
        ) from None
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise ConfigError(f"{where}: not a readable CSV ({error})") from None
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise ConfigError(f"{where}: no column {', '.join(missing)} (it has {', '.join(map(str, table))})")
    cells = table["mm_per_pixel"]
    if dialect.get("sep", ",") != ",":  # a comma is a decimal mark there, in every cell: 0,2 and 0.3 alike
        cells = cells.astype(str).str.replace(",", ".", regex=False)
    values = pd.to_numeric(cells, errors="coerce")
    bad = table.index[~((values > 0) & (values < math.inf)) | (table["file"].str.strip() == "")]
    if len(bad):
        rows = ", ".join(f"row {i + 2} ({table['file'][i]!r}: {table['mm_per_pixel'][i]!r})" for i in bad[:5])
        raise ConfigError(f"{where}: {len(bad)} row(s) without a file or a scale above 0: {rows}")
    scales: dict[str, float] = {}
    for file, value in zip(map(_key, table["file"]), values, strict=True):
        if scales.setdefault(file, float(value)) != float(value):
            raise ConfigError(f"{where}: {file} is given two scales, {scales[file]:g} and {value:g}")
    return scales


def photo_scales(
    names: Sequence[str],
    table: Mapping[str, float],
    default: float | None,
    setting: str = "explain.scales",
    not_explained: Iterable[str] = (),
    copies: Mapping[str, str] = {},
) -> dict[str, float]:
    """{name: mm a pixel} of each of `names` the `table` lists; the others take `default`, and without one
    an `InputError` names them (measured in px beside the others' mm, their widths would be banded apart).
    Entries of the table naming none of the photos are counted in a warning (a typo, another folder); not
    those naming a file of the folder that is `not_explained` itself: one that could not be read (its skip
    is logged with why), or a byte-identical copy of another (explained as that one, the scan says so).
    `copies`: {copy: the file it copies}; a copy listed at another scale than its original's is an
    `InputError`, as a file listed twice is (`read_scales`): one of the two would be used without a word."""
    unlisted = [name for name in names if _key(name) not in table]
    if unlisted and default is None:
        shown = ", ".join(unlisted[:5]) + (", ..." if len(unlisted) > 5 else "")
        raise InputError(
            f"{setting}: no scale in it for {len(unlisted)} of the {len(names)} photos ({shown}): list "
            "them, or give the others' explain.mm_per_pixel"
        )
    _require_one_scale_per_copy(table, default, copies, setting)
    unused = set(table) - {_key(name) for name in [*names, *not_explained]}
    if unused:
        logger.warning(
            "%s: %d of its %d files are none of the photos explained (e.g. %s)",
            *(setting, len(unused), len(table), min(unused)),
        )
    return {name: table[_key(name)] for name in names if _key(name) in table}


def _require_one_scale_per_copy(
    table: Mapping[str, float], default: float | None, copies: Mapping[str, str], setting: str
) -> None:
    """An `InputError` naming each copy of `copies` the `table` gives another scale than the file it copies
    gets (its own in the table, else `default`): the copy is explained once, as that file, at its scale."""
    differing = {
        copy: (table[_key(copy)], table.get(_key(original), default))
        for copy, original in copies.items()
        if _key(copy) in table and table[_key(copy)] != table.get(_key(original), default)
    }
    if differing:
        shown = "; ".join(
            f"{copy} {mine:g}, {copies[copy]} {'none' if theirs is None else f'{theirs:g}'}"
            for copy, (mine, theirs) in sorted(differing.items())[:5]
        )
        raise InputError(
            f"{setting}: {len(differing)} photo(s) byte-identical to another and given another scale "
            f"({shown}): a copy is explained once, as the file it copies, at that one's scale. Give both "
            "one scale (or the copy none)"
        )


def scales_of(
    names: Sequence[str],
    path: str | Path | None,
    default: float | None,
    explained: Iterable[str] | None = None,
    not_explained: Iterable[str] = (),
    setting: str = "explain.scales",
    copies: Mapping[str, str] = {},
) -> dict[str, float] | None:
    """`photo_scales` of `names` from the table at `path` (None without one: `default` for all), kept for
    those `explained` where only some of the photos are (explain.max_images): the table is matched to all,
    and a table of them all was warned of as naming files that are none of the photos."""
    if path is None:
        return None
    scales = photo_scales(names, read_scales(path, setting), default, setting, not_explained, copies)
    shown = scales.keys() if explained is None else set(explained)
    return {name: scale for name, scale in scales.items() if name in shown}


def recorded_scales(records: Iterable[Mapping[str, Any]], default: float | None) -> dict[str, float | None]:
    """{file: the mm a pixel its cracks were measured at} of explained photos, from their records' table
    rows (a survey's); `default` where a row does not say (written before rows recorded it)."""
    return {
        row["file"]: row.get("mm_per_pixel", default) for record in records for row in record.get("rows", [])
    }


def own_scales(records: Iterable[Mapping[str, Any]], default: float | None) -> dict[str, float]:
    """{file: mm a pixel} of the photos `records` show measured at a scale of their own, not `default`."""
    return {
        file: scale
        for file, scale in recorded_scales(records, default).items()
        if scale is not None and scale != default
    }


def check_rescaled(
    records: Iterable[Mapping[str, Any]],
    scales: Mapping[str, float] | None,
    default: float | None,
    where: str,
) -> None:
    """An `InputError` naming the photos of survey `where` whose `records` show them measured at another
    scale than `scales` (else `default`) gives them now: a survey measures a photo once, and a corrected
    scale would leave its cracks as they were measured, without a word."""
    measured = recorded_scales(records, default)
    now = {file: (scales or {}).get(file, default) for file in measured}
    changed = [file for file in sorted(measured) if measured[file] != now[file]]
    if changed:
        shown = "; ".join(f"{file}: {measured[file]} then, {now[file]} now" for file in changed[:5])
        raise InputError(
            f"survey {where}: {len(changed)} photos explained before were measured at another scale than "
            f"explain.scales (or explain.mm_per_pixel) gives them now ({shown}): a survey measures each "
            "photo once. Start another survey with --params=explain.survey=<new name>, or give them back "
            "their scales"
        )
