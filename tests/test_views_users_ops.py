"""interest_core.views.users, .ops and .forecasts.series_view: the windows and choices the User,
Promotions and Forecasts pages stand on, on literal panels (no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest

from interest_core.config import PanelSpec
from interest_core.forecasting.saved_backtest import LEADERBOARD_COLUMNS, BacktestMeta, SavedBacktest
from interest_core.views import forecasts as fv
from interest_core.views import ops
from interest_core.views import users as uv
from tests import builders
from tests.builders import week


def panel_of(rows: Sequence[tuple[str, str, int, float]]) -> pd.DataFrame:
    """(user, category, week, interest): views only (builders.panel_of with the behaviour counts)."""
    return builders.panel_of(rows, n_view=lambda f: f["interest"].astype(int), n_fav=0, n_cart=0, n_buy=0)


# -- users ----------------------------------------------------------------------------------------

def test_user_view_reads_every_change_basis_and_the_spec() -> None:
    rows = panel_of([("u", "A", w, 5) for w in range(6)] + [("u", "B", w, 9) for w in range(6, 10)])
    spec = PanelSpec(freq="W", long_half_life=6.0, short_half_life=2.0)
    view = uv.user_view(rows, spec, "u")
    assert set(view.changes) == set(uv.CHANGE_BASES)
    raw = view.changes["share"]
    assert list(raw["from_category"]) == ["A"] and list(raw["to_category"]) == ["B"]
    assert raw["period"].iloc[0] == week(6)  # raw shares flip the week B starts
    assert view.changes["long_share"]["period"].iloc[0] >= week(6)  # long-term interest follows later or then
    assert (view.long_half_life, view.short_half_life) == (6.0, 2.0)
    assert view.card["events"] == 5 * 6 + 9 * 4


def test_user_forecast_stands_on_the_last_complete_period() -> None:
    rows = panel_of([("u", "A", w, 3) for w in range(10)])
    partial = week(9) + pd.Timedelta(days=2)  # data ends on Wednesday of week 9: week 9 is partial
    merged = uv.user_forecast(rows, "u", "W", partial, model="last_value", h=2)
    ahead = merged[merged["kind"] == "forecast"]
    assert sorted(ahead["period"].unique()) == [week(9), week(10)]  # fitted up to week 8
    complete = uv.user_forecast(rows, "u", "W", week(9) + pd.Timedelta(days=6), model="last_value", h=2)
    assert complete[complete["kind"] == "forecast"]["period"].min() == week(10)


def test_user_forecast_of_a_user_without_rows_is_empty() -> None:
    rows = panel_of([("u", "A", 0, 1)]).iloc[0:0]
    assert uv.user_forecast(rows, "nobody", "W", week(3)).empty


# -- ops ------------------------------------------------------------------------------------------

def test_engagement_training_is_the_last_ops_history_periods() -> None:
    panel = panel_of([(f"u{u}", "A", w, 1 + u) for u in range(3) for w in range(40)])
    train = ops.engagement_training(panel, "W", week(35))
    periods = sorted(train["period"].unique())
    assert periods[0] == week(35 - ops.OPS_HISTORY + 1) and periods[-1] == week(35)
    assert len(periods) == ops.OPS_HISTORY  # nothing after ``last`` leaks in
    assert len(ops.engagement_training(panel, "W", week(35), history=4)["period"].unique()) == 4


def test_promotion_ranks_by_chance_and_leaves_out_likely_churners() -> None:
    scores = pd.DataFrame({"user_id": ["a", "b", "c", "a", "b"], "category": ["X", "X", "X", "Y", "Y"],
                           "period": [week(5)] * 5, "p_engage": [0.9, 0.5, 0.2, 0.1, 0.95]})
    assert ops.promotion_categories(scores) == ["X", "Y"]  # 1.6 expected vs 1.05
    churn = pd.DataFrame({"user_id": ["a", "b", "c"], "risk": [0.8, 0.1, 0.3]})
    everyone = ops.promotion(scores, "X", churn, None)
    assert list(everyone.ranked["user_id"]) == ["a", "b", "c"]
    kept = ops.promotion(scores, "X", churn, 0.5)
    assert list(kept.ranked["user_id"]) == ["b", "c"]
    assert kept.curve["expected_engaged"].max() == pytest.approx(0.7)


# -- forecasts: which backtest the predicted-vs-actual chart shows --------------------------------

def demand_panel() -> pd.DataFrame:
    return panel_of([(f"u{u}", c, w, 1 + (u + w) % 4) for u in range(4) for c in ("A", "B") for w in range(16)])


def saved_of(series: str) -> SavedBacktest:
    rows = pd.DataFrame({"unique_id": [series] * 2, "model": ["last_value"] * 2, "fold": [0, 0],
                         "cutoff": [week(13)] * 2, "period": [week(14), week(15)], "y": [8.0, 9.0],
                         "yhat": [7.0, 7.0]})
    meta = BacktestMeta(target="category_demand", freq="W", horizon=2, created_at="2026-01-02T03:04:05+00:00")
    return SavedBacktest(meta=meta, leaderboard=pd.DataFrame(columns=list(LEADERBOARD_COLUMNS)), forecasts=rows)


def test_series_view_takes_the_saved_backtest_when_it_has_the_series() -> None:
    view = fv.series_view(demand_panel(), "category", "A", "W", models=["last_value"], horizon=2, folds=2,
                          data_end=week(15) + pd.Timedelta(days=6), saved=saved_of("A"))
    assert view.source == "the saved backtest of 2026-01-02T03:04 UTC"
    assert list(view.forecasts["yhat"]) == [7.0, 7.0] and view.ranked == ["last_value"]
    assert view.last == week(15)


@pytest.mark.parametrize("saved", [None, saved_of("B")])
def test_series_view_backtests_the_series_when_nothing_saved_holds_it(saved: SavedBacktest | None) -> None:
    view = fv.series_view(demand_panel(), "category", "A", "W", models=["last_value", "window_mean"], horizon=2,
                          folds=3, data_end=week(15) + pd.Timedelta(days=6), saved=saved)
    assert view.source == "a backtest of this series (3 folds, 2 ahead)"
    assert sorted(view.ranked) == ["last_value", "window_mean"]
    assert view.forecasts["fold"].nunique() == 3 and view.forecasts["period"].max() <= week(15)


def test_series_models_add_arima_only_when_one_is_saved() -> None:
    from interest_core.forecasting.forecasters import BASELINE_NAMES

    none_saved = pd.DataFrame({"model": pd.Series([], dtype="string")})
    assert fv.series_models(none_saved) == (tuple(BASELINE_NAMES), {})
    names, params = fv.series_models(pd.DataFrame({"model": ["lstm", "arima"]}))
    assert names == (*BASELINE_NAMES, "arima") and params == {"arima": {"n_jobs": 1}}
    assert fv.series_models(pd.DataFrame({"model": ["lstm"]}))[0] == tuple(BASELINE_NAMES)  # global: not refitted
