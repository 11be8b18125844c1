"""Downloads: CSV that a spreadsheet opens as data, never as formulas.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return, which some
spreadsheets strip before looking) is run as a formula by Excel, LibreOffice and Google Sheets
(CSV / formula injection). Category names and ids come from uploaded files, so every text
cell and column name is escaped with a leading apostrophe. Numbers stay numbers.
"""

from __future__ import annotations

import io

import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    """``'`` in front of a text value that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell and column name escaped (numeric and time columns untouched)."""
    out = frame.copy()
    out.columns = [str(escape_cell(str(c))) for c in out.columns]
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype("string")
        out[col] = series.map(escape_cell, na_action="ignore")
    return out


def safe_csv(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    """UTF-8 CSV bytes of ``frame`` with formula-like text cells escaped."""
    return safe_frame(frame).to_csv(index=index).encode("utf-8")


def safe_csv_bytes(data: bytes) -> bytes:
    """A CSV file's bytes with formula-like cells escaped; every cell is read as text, so ids keep their digits."""
    return safe_csv(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False))
