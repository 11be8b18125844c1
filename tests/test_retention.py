"""Cohort retention and the ordered funnel (interest_core.analytics.retention) on literal logs whose answer
is counted by hand, and on the real Tmall log (weekly cohorts, a partial last week, a day-granular funnel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from interest_core.analytics.retention import (
    cohort_retention,
    funnel_words,
    ordered_funnel,
    retention_words,
)
from interest_core.charts.retention import ordered_funnel_chart, retention_curve, retention_heatmap
from interest_core.panel import events_source

if TYPE_CHECKING:
    from tests.conftest import IngestedStore

MONDAY = pd.Timestamp("2024-01-01")  # a Monday: weeks start here


def events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(user, behaviour, time) rows as canonical events of one category."""
    return pd.DataFrame({
        "user_id": [r[0] for r in rows], "item_id": None, "category": "c", "behavior": [r[1] for r in rows],
        "ts": pd.to_datetime([r[2] for r in rows], format="ISO8601"), "value": None,
    })


def weekly_log() -> pd.DataFrame:
    """Cohort week 0: a, b, c, d, e, f (6 users); cohort week 1: g..l (6 users); m alone in week 2.

    Week 1: a, b, c back (and b buys); week 2: a back, g, h back; week 3 (ends on its Tuesday: partial): a, g.
    """
    rows = [(u, "view", "2024-01-02") for u in "abcdef"]
    rows += [(u, "view", "2024-01-09") for u in "abc"] + [("b", "buy", "2024-01-10")]
    rows += [(u, "view", "2024-01-10") for u in "ghijkl"]
    rows += [("a", "view", "2024-01-16"), ("g", "view", "2024-01-17"), ("h", "view", "2024-01-18"),
             ("m", "view", "2024-01-18")]
    rows += [("a", "view", "2024-01-22"), ("g", "buy", "2024-01-23 10:00")]
    return events(rows)


def test_cohort_grid_counts_by_hand() -> None:
    result = cohort_retention(events_source(weekly_log()), "W")
    grid = result.grid.set_index(["cohort", "offset"])
    w0, w1 = MONDAY, MONDAY + pd.Timedelta(weeks=1)
    assert result.cohorts.set_index("cohort")["size"].to_dict() == {w0: 6, w1: 6}  # m's cohort (1 user) hidden
    assert result.cohorts_left_out == 1
    assert [grid.loc[(w0, k), "users"] for k in range(4)] == [6, 3, 1, 1]
    assert [grid.loc[(w1, k), "users"] for k in range(3)] == [6, 2, 1]
    assert grid.loc[(w0, 1), "retention"] == pytest.approx(0.5)
    # The log ends on the last week's Tuesday: that week's cells are partial, and nothing exists past them.
    assert result.last_partial and not result.first_partial
    assert grid["partial"].groupby(level="cohort").sum().to_dict() == {w0: 1, w1: 1}
    assert int(result.grid["offset"].max()) == 3 and (w1, 3) not in grid.index
    # The pooled row leaves the partial week out: offset 2 pools cohort 0's complete week only.
    avg = result.average().set_index("offset")
    assert avg.loc[1, "retention"] == pytest.approx(5 / 12) and avg.loc[1, "cohorts"] == 2
    assert avg.loc[2, "users"] == 1 and avg.loc[2, "size"] == 6
    assert 3 not in avg.index


def test_cohort_grid_of_buyers_and_its_limits() -> None:
    log = weekly_log()
    buying = cohort_retention(events_source(log), "W", returning="buy").grid.set_index(["cohort", "offset"])
    assert buying.loc[(MONDAY, 1), "users"] == 1  # b bought in week 1
    assert buying.loc[(MONDAY, 0), "users"] == 0 and buying.loc[(MONDAY, 0), "size"] == 6
    assert buying.loc[(MONDAY + pd.Timedelta(weeks=1), 2), "users"] == 1  # g bought in week 3 (its offset 2)
    small = cohort_retention(events_source(log), "W", min_users=1, max_cohorts=2, max_offset=1)
    assert small.cohorts["cohort"].tolist() == [MONDAY + pd.Timedelta(weeks=1), MONDAY + pd.Timedelta(weeks=2)]
    assert small.cohorts_left_out == 1 and int(small.grid["offset"].max()) == 1
    # A span keeps strays out: the same log with one event years earlier gives the same grid.
    stray = pd.concat([log, events([("z", "view", "2019-05-05")])], ignore_index=True)
    spanned = cohort_retention(events_source(stray), "W", start="2024-01-01")
    pd.testing.assert_frame_equal(spanned.grid, cohort_retention(events_source(log), "W").grid)
    with pytest.raises(ValueError, match="returning"):
        cohort_retention(events_source(log), "W", returning="cart")  # type: ignore[arg-type]


def test_retention_words_and_charts() -> None:
    result = cohort_retention(events_source(weekly_log()), "W")
    words = " ".join(retention_words(result))
    assert "42% of new users are active again 1 week later" in words  # 5 of 12
    assert "already active before the log begins" in words
    assert "partial" in words and "marked *" in words
    heat = retention_heatmap(result)
    assert heat.data[0].y[0] == "All cohorts" and "(6 users)" in heat.data[0].y[1]
    texts = [t for row in heat.data[0].text for t in row if t]
    assert "50%" in texts and sum(t.endswith("*") for t in texts) == 2
    assert retention_curve(result).data[0].y[0] == pytest.approx(100)
    empty = cohort_retention(events_source(weekly_log()), "W", min_users=50)
    assert empty.grid.empty and retention_words(empty) == ["No week has 50 new users or more to follow."]
    assert retention_heatmap(empty).layout.annotations  # a titled figure that says why it is empty


def funnel_log() -> pd.DataFrame:
    """a: view, cart, buy in order within a day; b: cart before view, then buy (no cart after the view);
    c: view, cart, then buy 10 days later; d: views only; e: view, cart and buy at the same time;
    f: buys only."""
    return events([
        ("a", "view", "2024-01-01 10:00"), ("a", "cart", "2024-01-01 11:00"), ("a", "buy", "2024-01-01 12:00"),
        ("b", "cart", "2024-01-01 09:00"), ("b", "view", "2024-01-01 10:00"), ("b", "buy", "2024-01-01 11:00"),
        ("c", "view", "2024-01-01 10:00"), ("c", "cart", "2024-01-02 10:00"), ("c", "buy", "2024-01-11 10:00"),
        ("d", "view", "2024-01-03 10:00"),
        ("e", "view", "2024-01-04 00:00"), ("e", "cart", "2024-01-04 00:00"), ("e", "buy", "2024-01-04 00:00"),
        ("f", "buy", "2024-01-05 10:00"),
    ])


def test_ordered_funnel_counts_by_hand() -> None:
    week = ordered_funnel(events_source(funnel_log()), ("view", "cart", "buy"), pd.Timedelta(days=7))
    t = week.table.set_index("step")
    assert t["users"].to_dict() == {"view": 5, "cart": 3, "buy": 2}  # a, c, e carted after a view; c buys too late
    assert t["did_at_all"].to_dict() == {"view": 5, "cart": 4, "buy": 5}
    assert t.loc["cart", "of_previous"] == pytest.approx(3 / 5) and t.loc["buy", "of_first"] == pytest.approx(2 / 5)
    assert t["dropped"].to_dict() == {"view": 0, "cart": 2, "buy": 1}
    assert week.completed == 2 and not week.day_granular and week.missing == ()
    # A longer window lets c through; a one-hour window keeps a (each step an hour apart) and e.
    month = ordered_funnel(events_source(funnel_log()), ("view", "cart", "buy"), pd.Timedelta(days=30))
    assert month.completed == 3
    hour = ordered_funnel(events_source(funnel_log()), ("view", "cart", "buy"), pd.Timedelta(hours=1))
    assert hour.table["users"].tolist() == [5, 2, 1]  # the buy 2 hours after a's view is outside the hour
    # Order is the order given: buy -> view counts only e (its same-time view counts as following the buy).
    backwards = ordered_funnel(events_source(funnel_log()), ("buy", "view"), pd.Timedelta(days=7))
    assert backwards.table["users"].tolist() == [5, 1]


def test_ordered_funnel_counts_repeated_events_once() -> None:
    """The funnel query does not deduplicate events (a cost at 10 M events): every event of the log twice, and
    the same user's events repeated at the same time, give the same table."""
    log = funnel_log()
    twice = pd.concat([log, log, log[log["user_id"].isin(["a", "e"])]], ignore_index=True)
    for window in (pd.Timedelta(days=7), pd.Timedelta(hours=1)):
        for steps in (("view", "cart", "buy"), ("buy", "view")):
            once = ordered_funnel(events_source(log), steps, window)
            repeated = ordered_funnel(events_source(twice), steps, window)
            assert_frame_equal(repeated.table, once.table)
            assert repeated.day_granular == once.day_granular


def test_funnel_leaves_out_behaviours_the_log_lacks() -> None:
    log = funnel_log()
    no_carts = log[log["behavior"] != "cart"]
    flow = ordered_funnel(events_source(no_carts), ("view", "cart", "buy"))
    assert flow.steps == ("view", "buy") and flow.missing == ("cart",)
    words = " ".join(funnel_words(flow))
    assert "no add to cart events, so the funnel is view → buy" in words
    assert ordered_funnel_chart(flow).data[0].y == ("view", "buy")
    nothing = ordered_funnel(events_source(no_carts), ("cart", "fav"))
    assert nothing.table.empty and nothing.completed == 0
    assert "no add to cart or favourite events" in " ".join(funnel_words(nothing))
    with pytest.raises(ValueError, match="unknown funnel step"):
        ordered_funnel(events_source(log), ("view", "click"))
    with pytest.raises(ValueError, match="repeat"):
        ordered_funnel(events_source(log), ("view", "view"))
    with pytest.raises(ValueError, match="positive"):
        ordered_funnel(events_source(log), ("view", "buy"), pd.Timedelta(0))


def test_tmall_cohorts_and_funnel(tmall_store: IngestedStore) -> None:
    """Tmall: the last week holds 4 days (partial, flagged); times are days; few buyers went through a cart."""
    with tmall_store.open() as store:
        source = events_source(store, tmall_store.name)
        grid = cohort_retention(source, "W", max_cohorts=12)
        flow = ordered_funnel(source, ("view", "cart", "buy"), pd.Timedelta(days=7))
    assert grid.last_partial and grid.grid["partial"].any()
    assert len(grid.cohorts) == 12 and (grid.cohorts["size"] >= 5).all()
    assert grid.grid.groupby("cohort")["offset"].max().is_monotonic_decreasing  # later cohorts: fewer periods
    assert ((grid.grid["offset"] > 0) | (grid.grid["retention"] == 1.0)).all()  # everyone is active at week 0
    t = flow.table.set_index("step")
    assert flow.day_granular and flow.missing == ()
    assert t.loc["view", "users"] == 879 and t.loc["buy", "did_at_all"] == 748  # the Overview's per-behaviour counts
    assert t["users"].is_monotonic_decreasing and 0 < flow.completed < t.loc["cart", "did_at_all"]
    assert "whole days" in " ".join(funnel_words(flow))
