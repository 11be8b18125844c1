"""Planning: the promotion what-if and reconciliation, shared formatters, forward forecasts, and the pages
that show them (Promotions, Demand, Forecasts) run headless on the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from interest_core.analytics import promotions as promo
from interest_core.charts.style import metric_name, significant
from interest_core.errors import ModelError
from interest_core.text import counted, percent, plural
from interest_core.views import ops as views_ops
from tests.apptest import APP, check_clean, check_figures, models_dir, open_page, store_fixture

TIMEOUT = 300
db = store_fixture("planning_pages", models=True)


def test_what_if_cost_and_return() -> None:
    outcome = promo.what_if(200, 30.0, 0.5, 10.0)
    assert (outcome.cost, outcome.value, outcome.net) == (100.0, 300.0, 200.0)
    assert outcome.return_on_cost == pytest.approx(2.0)
    assert np.isnan(promo.what_if(10, 2.0, 0.0, 1.0).return_on_cost)
    with pytest.raises(ModelError, match="enter zero or more"):
        promo.what_if(10, 1.0, -1.0, 1.0)


def test_reconcile_scales_the_model_by_what_its_backtest_held() -> None:
    ranked = pd.DataFrame({"p_engage": [0.5] * 200})
    lift = pd.DataFrame({"list_size": [50, 100], "listed": [150, 300], "model_hits": [30, 45],
                         "recency_hits": [27, 48], "expected_hits": [60.0, 90.0], "cutoffs": [3, 3]})
    reach = promo.reconcile(ranked, lift, 120)  # uses the top-100 row: the largest size not above 120
    assert reach.model_expected == pytest.approx(60.0)
    assert reach.backtest_per_cutoff == pytest.approx(15.0) and reach.backtest_expected == pytest.approx(30.0)
    assert reach.expected == pytest.approx(30.0)  # held half of what it expected
    recency = promo.reconcile(ranked, lift, 100, source="recency")
    assert recency.expected == pytest.approx(16.0)  # 48 of 300 listed, times 100
    small = promo.reconcile(ranked, lift, 10)  # below every backtested size: the smallest row
    assert small.expected == pytest.approx(5.0 * 30 / 60)


def test_shared_formatters() -> None:
    assert [significant(v) for v in (12345.0, 0.012345, 7.0, 0.0, 999.6)] == ["12,300", "0.0123", "7.00", "0",
                                                                             "1,000"]
    assert significant(float("nan")) == "n/a" and significant(12.34, 2) == "12"
    assert metric_name("mase") == "scaled error (MASE)" and metric_name("auc") == "AUC"
    assert metric_name("hit_rate@5") == "hit rate@5"
    assert plural("category", 1) == "category" and plural("category", 2) == "categories"
    assert plural("week", 1200) == "weeks"
    assert counted(1, "week") == "1 week" and counted(1200, "category") == "1,200 categories"
    assert percent(0.4567) == "46%" and percent(0.001) == "<1%"


def test_promotion_horizons_and_recent_categories() -> None:
    weeks = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    panel = pd.DataFrame({"user_id": ["a", "b", "c"] * 10, "category": ["X", "Y", "Y"] * 10,
                          "period": np.repeat(weeks, 3), "interest": 1.0})
    assert views_ops.promotion_horizons(panel, "W") == [1, 2, 3]  # 4 needs 12 periods
    assert views_ops.recent_categories(panel) == ["Y", "X"]


def test_segment_demand_forecasts_each_segment() -> None:
    weeks = pd.date_range("2024-01-01", periods=16, freq="W-MON")
    users = [f"u{i}" for i in range(12)]
    rng = np.random.default_rng(0)
    panel = pd.DataFrame([(u, "A", w, float(rng.poisson(3 if i < 6 else 8) + 1)) for i, u in enumerate(users)
                          for w in weeks], columns=["user_id", "category", "period", "interest"])
    panel = panel.astype({"user_id": "string", "category": "string"})
    labels = pd.Series([0] * 6 + [1] * 6, index=users)
    descriptions = pd.DataFrame({"segment": [0, 1], "description": ["light", "heavy"]})
    members = views_ops.segment_members(labels, descriptions)
    assert list(members["segment"]) == ["segment 0"] * 6 + ["segment 1"] * 6
    totals = views_ops.segment_totals(panel, members)
    assert list(totals["users"].unique()) == [6] and len(totals) == 2 * 16
    result = views_ops.segment_demand(totals, ["segment 0", "segment 1"], "W", horizon=3)
    assert set(result.forecast["category"]) == {"segment 0", "segment 1"}
    assert len(result.forecast) == 6 and (result.forecast["hi_80"] >= result.forecast["lo_80"]).all()
    # Bands from the backtest's errors: the 95% band is wider than the 80% one, and never narrows ahead.
    assert (result.forecast["hi_95"] > result.forecast["hi_80"]).all()
    for _, rows in result.forecast.groupby("category"):
        assert (rows["hi_80"] - rows["yhat"]).is_monotonic_increasing
    heavy = result.forecast[result.forecast["category"] == "segment 1"]["yhat"].mean()
    light = result.forecast[result.forecast["category"] == "segment 0"]["yhat"].mean()
    assert heavy > light


def _text(at: AppTest) -> str:
    return " ".join([c.value for c in at.caption] + [m.value for m in at.markdown])


@pytest.mark.slow
def test_promotions_page_what_if_and_default_list(db: Path) -> None:
    at = open_page("app_pages/promotions.py", TIMEOUT, errors=True, dataset="demo", freq="W")
    check_figures(at, {"promo_gains", "promo_lift"}, axis_titles=True)
    text = _text(at)
    assert "so it is the default" in text or "a tie, so the simpler recency list is the default" in text
    assert "Both figures count" in text or "hit rate in the backtest" in text
    labels = {m.label: m.value for m in at.metric}
    assert {"Candidates", "Expected to engage", "Cost", "Return"} <= set(labels)
    assert labels["Cost"] == "10.00"  # 100 listed at 0.10 each
    at.number_input(key="promo_cost").set_value(1.0).run()
    assert {m.label: m.value for m in at.metric}["Cost"] == "100.00"
    listed = at.dataframe[0].value
    assert "new_to_category" in listed and len(listed) == 100
    segment = at.selectbox(key="promo_segment")
    segment.set_value(segment.options[1]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) <= 100


def test_backtest_bands_scale_with_the_series_level() -> None:
    from interest_core.analytics.demand import backtest_bands

    history = pd.DataFrame({"category": ["A"] * 4 + ["B"] * 4, "period": 0, "y": [10.0] * 4 + [100.0] * 4})
    errors = pd.DataFrame({"unique_id": ["A", "A", "B", "B"] * 3, "fold": np.repeat([0, 1, 2], 4),
                           "period": [1, 2, 1, 2] * 3, "y": 0.0,
                           "yhat": [1.0, 2.0, 10.0, 20.0, 1.0, 2.0, 10.0, 20.0, 1.0, 2.0, 10.0, 20.0]})
    forecast = pd.DataFrame({"category": ["A", "A", "B", "B"], "period": [3, 4, 3, 4], "yhat": 50.0})
    out = backtest_bands(forecast, errors, history, (80,)).set_index(["category", "period"])
    half = out["hi_80"] - out["yhat"]
    assert half.loc[("B", 3)] == pytest.approx(10 * half.loc[("A", 3)])  # relative errors, own level
    assert half.loc[("A", 4)] >= half.loc[("A", 3)] > 0
    assert (out["lo_80"] == out["yhat"] - half).all()


def test_planner_and_trend_tables() -> None:
    from interest_core.analytics.demand import planner_table, trend_table

    forecast = pd.DataFrame({"category": ["B", "A", "A"], "period": pd.to_datetime(["2024-01-08", "2024-01-15",
                                                                                   "2024-01-08"]),
                             "yhat": [10.4, 5.6, -1.0], "lo_80": [8.0, -2.0, -3.0], "hi_80": [12.2, 9.0, 2.0]})
    table = planner_table(forecast)
    assert table.columns.tolist() == ["category", "period", "forecast", "low (80%)", "high (80%)"]
    assert table["category"].tolist() == ["A", "A", "B"] and table["period"].tolist()[:2] == sorted(table["period"][:2])
    assert (table[["forecast", "low (80%)"]] >= 0).all().all() and table["forecast"].tolist() == [0.0, 6.0, 10.0]
    trends = pd.DataFrame({"category": list("abcd"), "change_pct": [0.1, -0.5, 0.3, np.nan], "z": [3, -2, 1, 0]})
    assert trend_table(trends)["category"].tolist() == ["c", "a", "b", "d"]  # as the bars, top to bottom
    assert trend_table(trends, top=2)["category"].tolist() == ["c", "b"]


def test_demand_chart_title_says_the_span_drawn() -> None:
    from interest_core.charts.ops import demand_chart

    weeks = pd.date_range("2024-01-01", periods=18, freq="W-MON")
    history = pd.DataFrame({"category": "A", "period": weeks, "y": 1.0})
    forecast = pd.DataFrame({"category": "A", "period": weeks[-1:] + pd.Timedelta(weeks=1), "yhat": 1.0})
    assert "last 18 weeks" in demand_chart(history, forecast, "W").layout.title.text
    assert "last 12 weeks" in demand_chart(history, forecast, "W", history_periods=12).layout.title.text
    assert "Demand by segment" in demand_chart(history, forecast, "W", what="segment").layout.title.text


@pytest.mark.slow
def test_demand_page_defaults_and_tables(db: Path) -> None:
    at = open_page("app_pages/demand.py", TIMEOUT, errors=True, dataset="demo", freq="W")
    figs = check_figures(at, {"demand_chart", "demand_segment_chart", "demand_trends"}, axis_titles=True)
    assert "other" not in at.multiselect(key="demand_show").value
    periods = at.dataframe[1].value["period"].nunique()
    assert periods == 4  # the default horizon, per category, in the planner's table
    title = figs["demand_chart"]["layout"]["title"]["text"]
    assert "last 26 weeks" in title  # the demo holds more than 26 complete weeks
    board = at.dataframe[0].value
    assert metric_name("mase") in board and board[metric_name("mase")].map(type).eq(str).all()
    segments = at.dataframe[2].value
    assert "segment" in segments and {"low (80%)", "high (80%)"} <= set(segments.columns)
    trends = at.dataframe[3].value
    shown = trends["change_pct"].dropna()
    assert shown.is_monotonic_decreasing  # sorted like the chart: largest rise first
    assert len(at.get("download_button")) == 3


def test_time_left_and_saved_table() -> None:
    from interest_core.views.forecasts import saved_table, time_left

    assert time_left(0.0, 0.5, 240.0) == "about 4 min left"
    assert time_left(0.0, 0.9, 90.0) == "under a minute left"
    assert time_left(0.0, 0.0, 90.0) == "estimating time left"
    saved = pd.DataFrame({"name": ["m"], "model": ["lstm"], "target": ["engagement"], "freq": ["W"], "horizon": [4],
                          "last_period": ["2013-08-05"], "created": ["2026-12-06T07:01:02.123456+00:00"],
                          "metrics": [{"auc": 0.81234, "hit_rate@5": 0.5}]})
    row = saved_table(saved).iloc[0]
    assert row["saved"] == "2026-12-06 07:01 UTC" and row["data up to"] == "2013-08-05"
    assert row["period"] == "weekly"  # not the code "W"
    assert row["backtest"] == "AUC 0.812 · HitRate@5 0.500" and "auc" not in row["backtest"]


def test_model_colours_are_distinct_and_the_axis_starts_at_the_data() -> None:
    from interest_core.charts.forecasts import MODEL_COLORS, model_color, predicted_vs_actual_chart

    assert len(set(MODEL_COLORS.values())) == len(MODEL_COLORS)
    assert model_color("window_mean") != model_color("recency_decay")
    weeks = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    history = pd.DataFrame({"period": weeks, "y": np.arange(10.0)})
    forecasts = pd.DataFrame({"model": "last_value", "period": weeks[6:8], "yhat": 5.0, "y": [6.0, 7.0],
                              "fold": 0, "cutoff": weeks[5]})
    fig = predicted_vs_actual_chart(history, forecasts, "last_value", "W")
    start = pd.Timestamp(fig.layout.xaxis.range[0])
    assert weeks[0] - pd.Timedelta(days=7) < start <= weeks[0]  # not months before the first period


def test_backtest_winner_respects_the_metric_direction() -> None:
    from interest_core.views.forecasts import backtest_winner

    class Meta:
        target = "engagement"

    class Payload:
        meta = Meta()
        leaderboard = pd.DataFrame({"model": ["last_value", "recency_decay", "lstm"], "segment": "all",
                                    "metric": "auc", "value": [0.6, 0.7, 0.8]})

    payload = Payload()
    assert backtest_winner(payload, ["last_value", "recency_decay", "lstm"]) == "lstm"  # type: ignore[arg-type]
    assert backtest_winner(payload, ["last_value", "recency_decay"]) == "recency_decay"  # type: ignore[arg-type]
    Meta.target = "user_total"
    payload.leaderboard = payload.leaderboard.assign(metric="mase")
    assert backtest_winner(payload, ["last_value", "recency_decay", "lstm"]) == "last_value"  # type: ignore[arg-type]
    assert backtest_winner(None, ["lstm"]) is None


@pytest.mark.slow
def test_forecasts_page_progress_first_winner_default_and_forward_forecast(db: Path) -> None:
    from interest_core.config import PanelSpec
    from interest_core.forecasting import backtest
    from interest_core.forecasting.forecasters import BASELINE_NAMES, make_forecaster
    from interest_core.panel import build_panel, events_source
    from interest_core.views.forecasts import PRIMARY
    from tests.apptest import app_store

    AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # ingests the demo into the temp store
    source = events_source(app_store(), "demo")
    data_end = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
    panel = build_panel(source, PanelSpec(freq="W"))
    result = backtest.run(panel, "user_total", [make_forecaster(n) for n in BASELINE_NAMES], "W", 2, 2,
                          data_end=data_end)
    backtest.write_json(backtest.result_to_json(result, {"dataset": "demo"}),
                        backtest.backtest_path(models_dir(db), "demo", "user_total", "W"))
    winner = str(backtest.leaderboard_table(result)[PRIMARY["user_total"]].idxmin())

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "demo", "freq": "W"})
    at.session_state["fc_target"] = "user_total"
    at.run()
    at.switch_page("app_pages/forecasts.py").run()
    check_clean(at)
    assert at.selectbox(key="train_model").value == winner
    assert any(f"starts on **{winner}**" in c.value for c in at.caption)
    check_figures(at, {"fc_board"})
    figs = check_figures(at, {"fc_forward_chart"}, axis_titles=True)
    assert any(t.get("fill") == "toself" for t in figs["fc_forward_chart"]["data"]), "an interval band"
    assert "other" not in {t.get("name") for t in figs["fc_forward_chart"]["data"]}
    subheaders = [h.value for h in at.subheader]
    assert subheaders[0] == "Next 4 weeks"  # the forward forecast opens the page (progress sits above it)
    at.radio(key="fc_forward_by").set_value("segment").run()
    check_clean(at)
    table = next(d.value for d in at.dataframe if "segment" in d.value.columns)
    assert {"forecast", "low (80%)", "high (80%)"} <= set(table.columns) and table["period"].nunique() == 4
