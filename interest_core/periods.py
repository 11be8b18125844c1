"""The calendar: one table of the period frequencies every stage uses, period grids, future periods,
period-aligned windows (a date range), complete periods and defaults fitted to a span.

Every other module takes its frequency vocabulary from here (codes, DuckDB ``date_trunc`` parts,
words for people, offsets and season lengths), so adding or renaming a frequency is one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from interest_core.text import counted

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


# -- windows: a period-aligned date range ---------------------------------------------------------

def period_start(ts: object, freq: str) -> pd.Timestamp:
    """The start of the period holding ``ts`` (as DuckDB's ``date_trunc``: weeks start on Monday)."""
    t = pd.Timestamp(str(ts)) if not isinstance(ts, pd.Timestamp) else ts
    check_freq(freq)
    if freq == "h":
        return t.floor("h")
    day = t.normalize()
    if freq == "W":
        return day - pd.Timedelta(days=day.weekday())
    if freq == "M":
        return day.replace(day=1)
    return day


@dataclass(frozen=True)
class Window:
    """A date range of whole periods, half-open ``[start, end)``; a missing bound is open (the data's own
    edge, stray outlying events included). Pages read only the events inside it."""

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None  # exclusive: the start of the period after the last one in it

    @classmethod
    def of_periods(cls, first: object | None, last: object | None, freq: str) -> Window:
        """The window from period ``first`` to period ``last``, both included (None: open on that side)."""
        start = None if first is None else period_start(first, freq)
        end = None if last is None else period_start(last, freq) + PERIOD_OFFSETS[freq]
        if start is not None and end is not None and end <= start:
            raise ValueError(f"the date range ends ({last}) before it starts ({first}): pick a later end")
        return cls(start, end)

    @property
    def whole(self) -> bool:
        return self.start is None and self.end is None

    def where(self, column: str = "ts") -> str:
        """A SQL condition on ``column`` (event time, or a panel's ``period``); TRUE when open on both sides."""
        clauses = [f"{column} >= TIMESTAMP '{self.start:%Y-%m-%d %H:%M:%S}'" if self.start is not None else "",
                   f"{column} < TIMESTAMP '{self.end:%Y-%m-%d %H:%M:%S}'" if self.end is not None else ""]
        return " AND ".join(c for c in clauses if c) or "TRUE"

    def clip(self, frame: pd.DataFrame, column: str = "period") -> pd.DataFrame:
        """The rows of ``frame`` whose ``column`` lies in the window (for frames read around the events)."""
        keep = pd.Series(True, index=frame.index)
        if self.start is not None:
            keep &= frame[column] >= self.start
        if self.end is not None:
            keep &= frame[column] < self.end
        return frame[keep]

    def previous(self, freq: str) -> Window:
        """The window of as many periods just before this one (to compare totals with)."""
        if self.start is None or self.end is None:
            raise ValueError("an open date range has no fixed length: give it a start and an end")
        step = PERIOD_OFFSETS[freq]
        n = len(period_grid(self.start, self.end - step, freq))
        return Window(self.start - step * n, self.start)


# -- complete periods and defaults that fit the span ----------------------------------------------

COMPLETE_TOLERANCE: dict[str, pd.Timedelta] = {
    "h": pd.Timedelta(minutes=1), "D": pd.Timedelta(hours=1), "W": pd.Timedelta(days=1), "M": pd.Timedelta(days=1),
}


def period_days(period: object, freq: str, data_start: object, data_end: object) -> float:
    """Days of data in one period: calendar days from the first to the last event inside a week or month
    (a log of dates, all at midnight, covers its last day too); the time between them, as a fraction of a
    day, inside a day or an hour."""
    lo = pd.Timestamp(str(period))
    hi = lo + PERIOD_OFFSETS[freq]
    first, last = max(lo, pd.Timestamp(str(data_start))), min(hi - pd.Timedelta(1), pd.Timestamp(str(data_end)))
    if last < first:
        return 0.0
    if freq in ("h", "D"):
        return (last - first).total_seconds() / 86_400
    return float(min((last.normalize() - first.normalize()).days + 1, (hi - lo).days))


def period_complete(period: object, freq: str, data_start: object, data_end: object) -> bool:
    """Whether the data covers the whole period, give or take its first and last day of a week or month
    (hour of a day, minute of an hour): a day's log ends at 23:59, not at midnight."""
    lo = pd.Timestamp(str(period))
    hi = lo + PERIOD_OFFSETS[freq]
    tolerance = COMPLETE_TOLERANCE[freq]
    return pd.Timestamp(str(data_start)) - tolerance < lo and pd.Timestamp(str(data_end)) + tolerance >= hi


def partial_periods(periods: Sequence[object], freq: str, data_start: object, data_end: object
                    ) -> list[pd.Timestamp]:
    """The periods at either end of ``periods`` that the data covers only in part (a week with 4 days of
    data would read as a drop): from each end, every period up to the first whole one."""
    stamps = [pd.Timestamp(str(p)) for p in periods]
    lead = next((i for i, p in enumerate(stamps) if period_complete(p, freq, data_start, data_end)), len(stamps))
    trail = next((i for i, p in enumerate(reversed(stamps)) if period_complete(p, freq, data_start, data_end)),
                 len(stamps))
    return sorted({*stamps[:lead], *stamps[len(stamps) - trail:]})


def _days_text(days: float, freq: str) -> str:
    if days <= 0:
        return "only a few stray events"
    if freq == "h":
        minutes = max(1, round(days * 24 * 60))
        return f"{counted(minutes, 'minute')} of data"
    if days < 1:
        return f"{counted(max(1, round(days * 24)), 'hour')} of data"
    return f"{counted(round(days), 'day')} of data"


def partial_note(periods: Sequence[object], freq: str, data_start: object, data_end: object) -> str | None:
    """A sentence on the partial periods at the ends ("The week from 2013-08-12 has 4 days of data: marked in
    the charts, not a real drop."), or None when every period is whole."""
    partial = partial_periods(periods, freq, data_start, data_end)
    if not partial:
        return None
    label = PERIOD_LABEL[freq]
    fmt = "%Y-%m-%d %H:%M" if freq == "h" else "%Y-%m-%d"
    parts = [f"the {label} from {p:{fmt}} has {_days_text(period_days(p, freq, data_start, data_end), freq)}"
             for p in partial]
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return f"{text[0].upper()}{text[1:]}: marked in the charts, not a real drop."


def fit_to_span(n_periods: int, wanted: int, share: float = 0.25, least: int = 1) -> int:
    """A horizon or window that fits the data: ``wanted`` periods, but at most ``share`` of the
    ``n_periods`` there are (never below ``least``): 9 days of data get a 2-day horizon, not 4 weeks."""
    return max(int(least), min(int(wanted), int(n_periods * share)))


def fit_backtest(n_periods: int, horizon: int, folds: int, *, step: int = 1, min_train: int = 3) -> tuple[int, int]:
    """A horizon and a number of folds that a backtest over ``n_periods`` complete periods can hold: the
    horizon fitted as ``fit_to_span`` fits it, then as many of ``folds`` as leave every fold ``min_train``
    training periods (``forecasting.backtest.MIN_TRAIN_PERIODS``). 8 weeks: horizon 2, 4 folds."""
    fitted = fit_to_span(n_periods, horizon)
    room = (n_periods - fitted - min_train) // max(int(step), 1) + 1
    return fitted, max(1, min(int(folds), room))


def span_note(what: str, chosen: int, n_periods: int, freq: str) -> str:
    """A caption saying a default was chosen from the span ("Horizon: 2 days, from the 9 days of data.")."""
    label = PERIOD_LABEL[freq]
    return f"{what}: {counted(chosen, label)}, chosen from the {counted(n_periods, label)} of data."
