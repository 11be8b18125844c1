"""The date range (``periods.Window``), complete periods and defaults fitted to a span (issue 14, items 1, 7)."""

from __future__ import annotations

import pandas as pd
import pytest

from interest_core import panel
from interest_core.periods import (
    Window,
    fit_backtest,
    fit_to_span,
    partial_note,
    partial_periods,
    period_complete,
    period_days,
    period_start,
    span_note,
)


def _events(ts: list[str]) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame({"user_id": [f"u{i % 3}" for i in range(n)], "item_id": ["i"] * n, "category": ["c"] * n,
                         "behavior": ["view"] * n, "ts": pd.to_datetime(ts), "value": [None] * n})


def test_period_start_matches_duckdb_date_trunc() -> None:
    ts = ["2013-11-27 13:45:00", "2013-12-01 23:59:59", "2014-01-01 00:00:00"]
    source = panel.events_source(_events(ts))
    for freq, part in (("h", "hour"), ("D", "day"), ("W", "week"), ("M", "month")):
        trunc = source.query(f"SELECT date_trunc('{part}', ts) AS p FROM {{events}} ORDER BY ts")["p"]
        assert [period_start(t, freq) for t in ts] == [pd.Timestamp(p) for p in trunc], freq


def test_a_window_is_whole_periods_and_filters_events_in_sql() -> None:
    window = Window.of_periods("2013-11-27", "2013-12-04", "W")  # Wednesdays: snapped to their weeks
    assert (window.start, window.end) == (pd.Timestamp("2013-11-25"), pd.Timestamp("2013-12-09"))
    ts = ["2013-11-24 23:59:59", "2013-11-25 00:00:00", "2013-12-08 23:59:59", "2013-12-09 00:00:00"]
    source = panel.events_source(_events(ts))
    inside = source.query(f"SELECT ts FROM {{events}} WHERE {window.where('ts')} ORDER BY ts")["ts"]
    assert list(inside) == [pd.Timestamp(ts[1]), pd.Timestamp(ts[2])]
    frame = pd.DataFrame({"period": pd.to_datetime(["2013-11-18", "2013-11-25", "2013-12-02", "2013-12-09"])})
    assert list(window.clip(frame)["period"]) == list(frame["period"][1:3])
    open_end = Window.of_periods("2013-12-02", None, "W")
    assert open_end.where("period") == "period >= TIMESTAMP '2013-12-02 00:00:00'"
    assert Window().where() == "TRUE" and Window().whole
    with pytest.raises(ValueError, match="ends"):
        Window.of_periods("2013-12-09", "2013-11-25", "W")


def test_the_previous_window_has_as_many_periods() -> None:
    assert Window.of_periods("2013-11-25", "2013-12-08", "W").previous("W") == Window(
        pd.Timestamp("2013-11-11"), pd.Timestamp("2013-11-25"))
    assert Window.of_periods("2014-03-01", "2014-03-31", "M").previous("M") == Window(
        pd.Timestamp("2014-02-01"), pd.Timestamp("2014-03-01"))


def test_partial_first_and_last_periods_are_found_and_said() -> None:
    # Tmall-like: data from a Thursday to a Thursday; weeks start on Monday.
    start, end = pd.Timestamp("2013-08-01 00:10"), pd.Timestamp("2013-11-28 22:00")
    weeks = list(pd.date_range("2013-07-29", "2013-11-25", freq="7D"))
    assert partial_periods(weeks, "W", start, end) == [weeks[0], weeks[-1]]
    assert period_days(weeks[-1], "W", start, end) == 4
    assert period_days(weeks[-1], "W", start, pd.Timestamp("2013-11-28")) == 4  # dates only: the 28th counts
    assert period_days(weeks[3], "W", start, end) == 7
    note = partial_note(weeks, "W", start, end)
    assert note == ("The week from 2013-07-29 has 4 days of data and the week from 2013-11-25 has 4 days of data: "
                    "marked in the charts, not a real drop.")
    # A log that ends in the last hour of its last day is whole; days in between are never flagged.
    days = list(pd.date_range("2017-11-25", "2017-12-03", freq="D"))
    assert partial_periods(days, "D", pd.Timestamp("2017-11-25 00:00:03"), pd.Timestamp("2017-12-03 23:59:50")) == []
    assert partial_note(days, "D", pd.Timestamp("2017-11-25"), pd.Timestamp("2017-12-03 23:59")) is None
    assert not period_complete(days[-1], "D", days[0], pd.Timestamp("2017-12-03 12:00"))


def test_defaults_fit_the_span_and_say_so() -> None:
    assert fit_to_span(9, 4) == 2  # 9 days: a 2-day horizon, not 4
    assert fit_to_span(18, 4) == 4  # 18 weeks: the wanted 4
    assert fit_to_span(2, 4) == 1
    assert span_note("Horizon", 2, 9, "D") == "Horizon: 2 days, chosen from the 9 days of data."
    assert span_note("Window", 1, 1, "W") == "Window: 1 week, chosen from the 1 week of data."


def test_a_day_in_part_is_said_in_hours() -> None:
    # The Taobao sample in UTC: its first day starts at 16:00 (midnight in China), its last ends at 15:59.
    days = list(pd.date_range("2017-11-24", "2017-12-03", freq="D"))
    start, end = pd.Timestamp("2017-11-24 16:00:00"), pd.Timestamp("2017-12-03 15:59:59")
    assert partial_periods(days, "D", start, end) == [days[0], days[-1]]
    note = partial_note(days, "D", start, end)
    assert note == ("The day from 2017-11-24 has 8 hours of data and the day from 2017-12-03 has 16 hours of data: "
                    "marked in the charts, not a real drop.")
    # A day before the bulk of the data (a few stray events) is partial too, and so is the next one.
    early = [pd.Timestamp("2017-11-23"), *days]
    assert partial_periods(early, "D", start, end) == [early[0], early[1], early[-1]]
    assert (partial_note(early, "D", start, end) or "").startswith(
        "The day from 2017-11-23 has only a few stray events, the day from 2017-11-24 has 8 hours of data and ")


def test_backtest_defaults_fit_the_periods_there_are() -> None:
    from interest_core.forecasting.backtest import MIN_TRAIN_PERIODS, fold_cutoffs

    assert fit_backtest(8, 4, 8) == (2, 4)  # 8 weeks: the page's (4, 8) would be an error
    assert fit_backtest(17, 4, 3) == (4, 3)  # Tmall's 17 complete weeks: as asked
    for n in range(4, 40):
        horizon, folds = fit_backtest(n, 4, 8, min_train=MIN_TRAIN_PERIODS)
        periods = pd.date_range("2024-01-01", periods=n, freq="7D")
        assert len(fold_cutoffs(periods, horizon, folds, 1)) == folds  # never the error
