"""panel.time_window: stray timestamps far from the rest do not stretch time axes."""

from __future__ import annotations

import pandas as pd
import pytest

from interest_core import panel


def _events(ts: list[str]) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame({"user_id": ["u"] * n, "item_id": ["i"] * n, "category": ["c"] * n,
                         "behavior": ["view"] * n, "ts": pd.to_datetime(ts), "value": [None] * n})


def test_outliers_are_left_out_and_a_normal_log_is_whole() -> None:
    body = [str(t) for t in pd.date_range("2017-11-25", "2017-12-03", freq="1min")]
    window = panel.time_window(panel.events_source(_events(["2017-09-11 08:16:39", *body])))
    assert window["outside"] == 1
    assert window["first"] == pd.Timestamp("2017-09-11 08:16:39")
    assert pd.Timestamp("2017-11-24") < window["start"] <= pd.Timestamp("2017-11-25")
    assert window["end"] == pd.Timestamp("2017-12-03")
    whole = panel.time_window(panel.events_source(_events(body)))
    assert whole["outside"] == 0
    assert (whole["start"], whole["end"]) == (whole["first"], whole["last"])


def test_the_main_span_says_where_its_data_starts_and_ends() -> None:
    body = [str(t) for t in pd.date_range("2017-11-24 16:00", "2017-12-03 15:59", freq="1min")]
    window = panel.time_window(panel.events_source(_events(["2017-09-11 08:16:39", *body])))
    assert window["start"] < pd.Timestamp("2017-11-24 16:00")  # the axis is padded
    assert (window["main_first"], window["main_last"]) == (pd.Timestamp(body[0]), pd.Timestamp(body[-1]))
    assert pd.Timestamp(body[0]) <= window["bulk_first"] < pd.Timestamp(body[100])  # the stray event is not the bulk
    assert pd.Timestamp(body[-100]) < window["bulk_last"] <= pd.Timestamp(body[-1])


def test_past_the_exact_limit_an_estimated_quantile_places_the_same_axis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact quantiles hold every timestamp (100 M events ran DuckDB out of memory): bigger logs use approx_quantile."""
    body = [str(t) for t in pd.date_range("2017-11-25", "2017-12-03", freq="1min")]
    source = panel.events_source(_events(["2017-09-11 08:16:39", *body]))
    exact = panel.time_window(source)
    monkeypatch.setattr(panel, "EXACT_QUANTILE_EVENTS", 100)
    estimated = panel.time_window(source)
    assert estimated["outside"] == 1 and estimated["first"] == exact["first"] and estimated["last"] == exact["last"]
    for key in ("start", "end", "bulk_first", "bulk_last"):
        assert abs(estimated[key] - exact[key]) < pd.Timedelta("30min"), key
