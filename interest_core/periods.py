"""The calendar: one table of the period frequencies every stage uses, period grids and future periods.

Every other module takes its frequency vocabulary from here (codes, DuckDB ``date_trunc`` parts,
words for people, offsets and season lengths), so adding or renaming a frequency is one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

Freq = Literal["h", "D", "W", "M"]


@dataclass(frozen=True)
class Frequency:
    code: str  # pandas-style code: h, D, W, M
    part: str  # DuckDB/Spark date_trunc part
    label: str  # a period in words: "week"
    adjective: str  # "weekly"
    offset: pd.DateOffset  # one period
    season: int  # periods in a season (seasonal naive, calendar features)


TABLE: tuple[Frequency, ...] = (
    Frequency("h", "hour", "hour", "hourly", pd.DateOffset(hours=1), 24),
    Frequency("D", "day", "day", "daily", pd.DateOffset(days=1), 7),
    Frequency("W", "week", "week", "weekly", pd.DateOffset(weeks=1), 52),
    Frequency("M", "month", "month", "monthly", pd.DateOffset(months=1), 12),
)
FREQS: tuple[str, ...] = tuple(f.code for f in TABLE)
FREQ_PART: dict[str, str] = {f.code: f.part for f in TABLE}
PERIOD_LABEL: dict[str, str] = {f.code: f.label for f in TABLE}
PERIOD_ADJECTIVE: dict[str, str] = {f.code: f.adjective for f in TABLE}
PERIOD_OFFSETS: dict[str, pd.DateOffset] = {f.code: f.offset for f in TABLE}
SEASON_LENGTH: dict[str, int] = {f.code: f.season for f in TABLE}


def check_freq(freq: str) -> Freq:
    if freq not in FREQ_PART:
        raise ValueError(f"unknown frequency {freq!r}; use one of h, D, W, M (hour, day, week, month)")
    return freq  # type: ignore[return-value]


def period_grid(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every period start from start to end inclusive."""
    step = PERIOD_OFFSETS[freq]
    out = [pd.Timestamp(start)]
    while out[-1] < pd.Timestamp(end):
        out.append(out[-1] + step)
    return pd.DatetimeIndex(out)


def future_periods(last: pd.Timestamp, freq: str, n: int) -> pd.DatetimeIndex:
    """The ``n`` period starts after ``last``."""
    step = PERIOD_OFFSETS[freq]
    return pd.DatetimeIndex([pd.Timestamp(last) + step * (i + 1) for i in range(n)])
