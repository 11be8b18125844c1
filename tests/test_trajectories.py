"""analytics.trajectories on small literal panels whose answers can be checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from interest_core.analytics import trajectories as tr
from interest_core.config import PanelSpec
from tests import builders
from tests.builders import week


def panel_of(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    """(user, category, week index, interest) -> a panel with counts: every interest a view, a buy in A."""
    return builders.panel_of(rows, n_view=lambda f: f["interest"].astype(int),
                             n_buy=lambda f: (f["category"] == "A").astype(int))


@pytest.fixture
def panel() -> pd.DataFrame:
    return panel_of([
        ("u1", "A", 0, 3), ("u1", "B", 0, 1),      # top A
        ("u1", "A", 1, 1), ("u1", "B", 1, 3),      # top B: change A -> B
        ("u1", "B", 3, 2),                         # week 2 inactive; top still B: no change
        ("u1", "C", 4, 1), ("u1", "B", 4, 1),      # tie B = C: alphabetical B stays top
        ("u2", "C", 0, 5),
        ("u2", "D", 2, 5),                         # change C -> D across an inactive week
    ])


def test_change_points_by_hand(panel: pd.DataFrame) -> None:
    cp = tr.change_points(panel)
    assert cp[["user_id", "period", "from_category", "to_category"]].astype(str).values.tolist() == [
        ["u1", str(week(1).date()), "A", "B"],
        ["u2", str(week(2).date()), "C", "D"],
    ]
    first = cp.iloc[0]
    assert first["previous_period"] == week(0)
    assert first["from_share"] == pytest.approx(0.25) and first["to_share"] == pytest.approx(0.75)
    # u2's old top C has no share in week 2: from_share 0.
    assert cp.iloc[1]["from_share"] == 0.0


def test_change_points_min_margin_drops_near_ties(panel: pd.DataFrame) -> None:
    assert len(tr.change_points(panel, min_margin=0.6)) == 1  # u1 leads by 0.5 only; u2 by 1.0
    assert tr.change_points(panel.iloc[0:0]).empty


def test_diversity_by_hand(panel: pd.DataFrame) -> None:
    div = tr.diversity(panel).set_index(["user_id", "period"])
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    row = div.loc[("u1", week(0))]
    assert row["entropy"] == pytest.approx(h)
    assert row["effective_categories"] == pytest.approx(2 ** h)
    assert row["evenness"] == pytest.approx(h / 1.0)
    assert row["n_categories"] == 2
    even = div.loc[("u1", week(4))]
    assert even["entropy"] == pytest.approx(1.0) and even["evenness"] == pytest.approx(1.0)
    single = div.loc[("u2", week(0))]
    assert single["entropy"] == 0.0 and single["effective_categories"] == 1.0 and single["evenness"] == 0.0
    # Natural-log entropy on request.
    nats = tr.diversity(panel, base=math.e).set_index(["user_id", "period"]).loc[("u1", week(4)), "entropy"]
    assert nats == pytest.approx(math.log(2))


def test_stacked_shares_dense_and_folded(panel: pd.DataFrame) -> None:
    shares = tr.stacked_shares(panel, "u1", "W", top_k=1)
    # top_k=1 keeps B (7 interest vs A 4), the rest is 'other'; weeks 0..4 dense (5 x 2 rows).
    assert set(shares["category"]) == {"B", "other"}
    assert len(shares) == 10
    per_week = shares.groupby("period")["share"].sum()
    assert per_week.loc[week(2)] == 0.0  # inactive week: a gap, not an interpolation
    assert np.allclose(per_week.drop(week(2)), 1.0)
    assert tr.stacked_shares(panel, "nobody", "W").empty


def test_long_short_interest_rises_after_a_switch(panel: pd.DataFrame) -> None:
    prof = tr.long_short_interest(panel, PanelSpec(long_half_life=8, short_half_life=1), "u2")
    d = prof[prof["category"] == "D"].set_index("period")
    # After u2 switches to D, the short-term share reacts faster than the long-term one.
    assert d.loc[week(2), "short_share"] > d.loc[week(2), "long_share"] > 0
    assert set(prof.columns) >= {"long_share", "short_share", "long_term", "short_term"}


def test_profile_card(panel: pd.DataFrame) -> None:
    card = tr.profile_card(panel, "u1", "W", top_n=2, segment="tech", churn_risk=0.3)
    assert [c["category"] for c in card["top_categories"]] == ["B", "A"]
    assert card["top_categories"][0]["share"] == pytest.approx(7 / 12)
    assert card["events"] == 14 and card["buys"] == 2  # 12 views + 2 buys
    assert card["active_periods"] == 4 and card["span_periods"] == 5
    assert card["first_seen"] == week(0) and card["last_seen"] == week(4)
    assert card["segment"] == "tech" and card["churn_risk"] == 0.3
    events = pd.DataFrame({"ts": [week(0) + pd.Timedelta(hours=5), week(4) + pd.Timedelta(days=2)]})
    exact = tr.profile_card(panel, "u1", "W", events=events)
    assert exact["first_seen"] == events["ts"].min() and exact["last_seen"] == events["ts"].max()
    empty = tr.profile_card(panel, "nobody", "W")
    assert empty["events"] == 0 and empty["top_categories"] == []


def test_merge_forecast_pair_ids(panel: pd.DataFrame) -> None:
    from interest_core.forecasting.series import pair_id

    fc = pd.DataFrame({
        "unique_id": pair_id(pd.Series(["u2", "u2", "u1"]), pd.Series(["C", "D", "A"])),
        "period": [week(3)] * 3, "model": "naive", "yhat": [1.0, 3.0, 9.0],
        "lo_80": [0.5, 2.0, 8.0], "hi_80": [1.5, 4.0, 10.0],
    })
    merged = tr.merge_forecast(panel, fc, "u2")
    fc_rows = merged[merged["kind"] == "forecast"].set_index("category")
    assert list(fc_rows.index) == ["C", "D"]
    assert fc_rows.loc["D", "share"] == pytest.approx(0.75)
    assert fc_rows.loc["D", "hi_80"] == 4.0
    actual = merged[merged["kind"] == "actual"]
    assert len(actual) == 2 and actual["lo_80"].isna().all()


def test_forecast_user_with_a_baseline() -> None:
    rows = panel_of([("u", c, w, float(1 + (w + i) % 3)) for w in range(12) for i, c in enumerate("ABC")])
    merged = tr.forecast_user(rows, "u", "W", model="last_value", h=2, end=week(9))
    fc = merged[merged["kind"] == "forecast"]
    assert sorted(fc["period"].unique()) == [week(10), week(11)]  # after the cutoff, not after the data
    assert set(fc["category"]) == {"A", "B", "C"} and {"lo_80", "hi_95"} <= set(fc.columns)
    # last value: week 9's interest repeated; shares of all the user's categories sum to 1.
    assert fc[fc["period"] == week(10)].set_index("category")["interest"].to_dict() == pytest.approx(
        {"A": 1.0, "B": 2.0, "C": 3.0})
    assert fc.groupby("period")["share"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert merged.loc[merged["kind"] == "actual", "period"].max() == week(9)


def test_merge_forecast_dense_history_reaches_the_forecast(panel: pd.DataFrame) -> None:
    from interest_core.forecasting.series import pair_id

    fc = pd.DataFrame({"unique_id": pair_id(pd.Series(["u2"]), pd.Series(["D"])), "period": [week(5)],
                       "model": "m", "yhat": [1.0]})
    merged = tr.merge_forecast(panel, fc, "u2", freq="W")
    actual = merged[merged["kind"] == "actual"]
    # u2 was active in weeks 0 and 2 only: weeks 0..4 for both of its categories, zeros in between.
    assert sorted(actual["period"].unique()) == [week(i) for i in range(5)]
    assert len(actual) == 10 and actual["interest"].sum() == 10.0
