"""Leaderboard helpers, one-series backtests and the Forecasts/Scoring chart builders, on small frames."""

from __future__ import annotations

import pandas as pd
import pytest

from interest_core import charts
from interest_core.errors import ModelError
from interest_core.forecasting.saved_backtest import BacktestMeta, SavedBacktest
from interest_core.views import forecasts as fv
from tests.forecast_data import synthetic_panel


def saved_backtest(target: str, rows: list[tuple[str, str, str, float]]) -> SavedBacktest:
    board = pd.DataFrame(rows, columns=["model", "metric", "segment", "value"])
    return SavedBacktest(BacktestMeta(target), board)


def test_leaderboard_orders_the_targets_metrics_and_finds_the_best_by_direction() -> None:
    payload = saved_backtest("user_total", [
        ("a", "mae", "all", 2.0), ("a", "coverage_80", "all", 0.70), ("a", "mase_excluded", "all", 0.0),
        ("b", "mae", "all", 1.0), ("b", "coverage_80", "all", 0.95), ("b", "mase_excluded", "all", 0.0),
        ("a", "mae", "heavy", 5.0), ("b", "mae", "heavy", 6.0),
    ])
    table = fv.leaderboard(payload)
    assert list(table.columns) == ["mae", "coverage_80"]  # informational counts are not ranked
    # Coverage is best nearest its level: |0.70 - 0.80| < |0.95 - 0.80|.
    assert fv.best_models(table) == {"mae": "b", "coverage_80": "a"}
    assert fv.goodness(table).loc["a"].tolist() == [0.0, 1.0]
    assert fv.segments(payload) == ["all", "heavy"]
    assert fv.by_tier(payload, "mae")["segment"].tolist() == ["all", "all", "heavy", "heavy"]
    assert fv.metric_direction("auc") == "higher" and fv.metric_direction("n_fallback") is None


def test_one_series_backtest_and_charts_have_data() -> None:
    panel = synthetic_panel(n_users=4, n_categories=3, n_periods=20)
    result = fv.series_backtest(panel, "aggregate", None, ["last_value", "window_mean"], "W", horizon=2, folds=3)
    assert set(result.forecasts["unique_id"].astype(str)) == {fv.AGGREGATE_ID}
    ranked = fv.rank_by_mae(result.forecasts)
    assert sorted(ranked) == ["last_value", "window_mean"]
    history = fv.series_history(panel, "aggregate", None, "W")
    assert len(history) == 20 and history["y"].sum() == pytest.approx(panel["interest"].sum())
    res = fv.residuals(result.forecasts, ranked[0])
    assert res["step"].tolist() == [1, 2] * 3 and (res["residual"] == res["y"] - res["yhat"]).all()

    paths = charts.predicted_vs_actual_chart(history, result.forecasts, ranked[0], "W")
    assert len([s for s in paths.layout.shapes if s.line.dash == "dash"]) == 3  # one line per fold cutoff
    one = charts.predicted_vs_actual_chart(history, result.forecasts, ranked[0], "W", step=1)
    assert [len(t.x) for t in one.data if t.name.endswith("forecast")] == [3]  # one 1-ahead point per fold
    for fig in (paths, one, charts.residuals_chart(res, ranked[0], "W")):
        assert fig.data and all(len(t.x) > 0 for t in fig.data)
    with pytest.raises(ModelError, match="no user 'nobody'"):
        fv.series_panel(panel, "user", "nobody")


def test_scoring_charts_and_empty_inputs() -> None:
    drift = pd.DataFrame({"aspect": ["behavior_mix", "behavior_mix", "behavior_mix"], "item": ["view", "buy", "PSI"],
                          "training": [0.9, 0.1, None], "scored": [0.8, 0.2, None], "psi": [None, None, 0.12],
                          "flag": [None, None, "moderate"]})
    fig = charts.drift_chart(drift)
    assert "PSI 0.120: moderate" in fig.layout.title.text and len(fig.data) == 2
    scores = pd.DataFrame({"p_engage": [0.1, 0.5, 0.9], "cold_start": [False, False, True]})
    assert len(charts.score_histogram(scores).data) == 2
    empty = pd.DataFrame()
    assert charts.drift_chart(empty).layout.annotations[0].text.startswith("the model has no training profile")
    assert charts.leaderboard_heatmap(empty, empty, "t").layout.annotations
