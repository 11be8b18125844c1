"""analytics.demand: model choice by backtest, ordered intervals, suppression, rising/falling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interest_core.analytics import demand
from interest_core.errors import ModelError

START = pd.Timestamp("2024-01-01")


def demand_panel(n_weeks: int = 24, seed: int = 0) -> pd.DataFrame:
    """Three categories of 8-40 users; 'Tiny' has 3 users (below k = 5)."""
    rng = np.random.default_rng(seed)
    rows = []
    for cat, users, rate in (("Big", 40, 3.0), ("Mid", 12, 2.0), ("Tiny", 3, 4.0)):
        for u in range(users):
            for t in range(n_weeks):
                n = rng.poisson(rate * (1 + 0.02 * t))
                if n:
                    rows.append((f"{cat}{u}", cat, START + pd.Timedelta(weeks=t), float(n)))
    frame = pd.DataFrame(rows, columns=["user_id", "category", "period", "interest"])
    return frame.astype({"user_id": "string", "category": "string"})


def test_choose_model_by_metric_and_fallback() -> None:
    board = pd.DataFrame({"mae": [3.0, 2.0, 2.5], "mase": [0.9, 1.1, 0.8]}, index=["a", "b", "c"])
    assert demand.choose_model(board) == ("c", "mase")
    assert demand.choose_model(board, "mae") == ("b", "mae")
    assert demand.choose_model(board.assign(mase=np.nan)) == ("b", "mae")
    with pytest.raises(ModelError):
        demand.choose_model(board.assign(mase=np.nan, mae=np.nan))


def test_forecast_picks_the_backtest_best_with_ordered_intervals() -> None:
    panel = demand_panel()
    result = demand.demand_forecast(panel, "W", horizon=3, folds=2, models=("last_value", "window_mean"))
    board = result.leaderboard
    assert result.best_model == board[result.metric].idxmin() == board.index[0]
    assert result.categories == ("Big", "Mid") and result.hidden == 1  # Tiny has 3 users < 5
    fc = result.forecast
    assert set(fc["category"]) == {"Big", "Mid"} and len(fc) == 2 * 3
    assert (fc["model"] == result.best_model).all()
    assert fc["period"].min() == panel["period"].max() + pd.Timedelta(weeks=1)
    ordered = (fc["lo_95"] <= fc["lo_80"]) & (fc["lo_80"] <= fc["yhat"]) & (fc["yhat"] <= fc["hi_80"]) & (
        fc["hi_80"] <= fc["hi_95"])
    assert ordered.all()
    assert set(result.history.columns) == {"category", "period", "y"}
    assert result.history.groupby("category")["period"].nunique().eq(24).all()


def test_last_period_drops_a_partial_week_and_no_category_errors() -> None:
    panel = demand_panel()
    last = panel["period"].max() - pd.Timedelta(weeks=1)
    result = demand.demand_forecast(panel, "W", horizon=2, folds=1, models=("last_value",), last_period=last)
    assert result.history["period"].max() == last
    with pytest.raises(ModelError, match="users"):
        demand.demand_forecast(panel, "W", categories=["Tiny"], models=("last_value",))


def trend_panel() -> pd.DataFrame:
    rows = []
    for u in range(30):  # Up: every user doubles after week 4
        rows += [(f"a{u}", "Up", START + pd.Timedelta(weeks=t), 2.0 if t < 4 else 4.0) for t in range(8)]
    for u in range(30):  # Flat, except one heavy user's burst in the recent window
        rows += [(f"b{u}", "Burst", START + pd.Timedelta(weeks=t), 2.0) for t in range(8)]
    rows += [("b0", "Burst", START + pd.Timedelta(weeks=6), 300.0)]
    for u in range(30):  # Down: halves
        rows += [(f"c{u}", "Down", START + pd.Timedelta(weeks=t), 4.0 if t < 4 else 2.0) for t in range(8)]
    rows += [(f"d{u}", "Small", START + pd.Timedelta(weeks=t), 9.0 * (t >= 4) + 1) for u in range(3) for t in range(8)]
    frame = pd.DataFrame(rows, columns=["user_id", "category", "period", "interest"])
    return frame.groupby(["user_id", "category", "period"], as_index=False)["interest"].sum()


def test_rising_falling_with_a_per_user_guard() -> None:
    trends, hidden = demand.rising_falling(trend_panel(), "W", recent=4, previous=4)
    assert hidden == 1  # Small: 3 users
    by = trends.set_index("category")
    assert by.loc["Up", "trend"] == "rising" and by.loc["Up", "change_pct"] == pytest.approx(1.0)
    assert by.loc["Down", "trend"] == "falling" and by.loc["Down", "change_pct"] == pytest.approx(-0.5)
    # +124% in total, all from one user: not significant.
    assert by.loc["Burst", "change_pct"] > 1.0 and by.loc["Burst", "trend"] == "steady"
    assert by.loc["Up", "users_recent"] == 30
    assert list(trends.columns) == list(demand.TREND_COLUMNS)
    with pytest.raises(ModelError):
        demand.rising_falling(trend_panel(), "W", recent=0)
