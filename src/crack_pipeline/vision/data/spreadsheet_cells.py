"""Text cells of a CSV a spreadsheet opens: never a formula, and read back as they were written.

A photo named `=HYPERLINK("http://x","y").jpg`, `+1.jpg` or `@a.jpg` lands in the `file`/`path` cell of every
table; Excel and LibreOffice run a cell starting with = + - @ (a tab or carriage return too) as a formula.
OWASP's advice: begin such a cell with a single quote, which a spreadsheet shows as text. A cell that begins
with a quote followed by one of those (or by a quote) gets one more, so that taking one quote off such cells
on reading gives back every cell exactly: the project reads its own tables again (a split manifest,
predictions, an image index), and a path must still name its file."""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _looks_quoted(text: str) -> bool:
    return text.startswith(QUOTE) and text[1:2] in (*FORMULA_STARTS, QUOTE)


def as_text_cell(value: Any) -> Any:
    """`value` as a spreadsheet shows it as text: a string starting like a formula (or like one this made)
    behind one more quote; anything else unchanged."""
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or _looks_quoted(value)):
        return QUOTE + value
    return value


def from_text_cell(value: Any) -> Any:
    """What `as_text_cell` was given."""
    return value[1:] if isinstance(value, str) and _looks_quoted(value) else value


def _each_text_cell(table: pd.DataFrame, change: Any) -> pd.DataFrame:
    table = table.rename(columns=change)
    text = [name for name in table.columns if not pd.api.types.is_numeric_dtype(table[name])]
    if text:
        table = table.copy()
        table[text] = table[text].map(change)
    return table


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """`table` (a copy) with every text cell and column name as `as_text_cell` makes it."""
    return _each_text_cell(table, as_text_cell)


def as_written(table: pd.DataFrame) -> pd.DataFrame:
    """`table` read from a CSV `spreadsheet_safe` wrote, with its cells as they were before."""
    return _each_text_cell(table, from_text_cell)
