"""Demand: each category's (or group's) and each segment's interest forecast with intervals, by the model
that backtests best, as a chart and a table a planner can download; then what is rising and falling."""

from __future__ import annotations

import streamlit as st

from interest_core.analytics.demand import DEFAULT_MODELS, DemandForecast, trend_table
from interest_core.charts import ops as ops_charts
from interest_core.charts.style import OTHER, as_percent, metric_name, significant
from interest_core.forecasting.forecasters import available
from interest_core.text import counted
from ui import fits, frame, grouping, ops, planning, widgets
from ui.frame import Frame

BOARD_METRICS = ("mae", "mase", "rmse", "smape", "coverage_80", "coverage_95")
BOARD_LABELS = {"mae": "mean error", "mase": "MASE", "rmse": "RMSE", "smape": "sMAPE",
                "coverage_80": "in 80% band", "coverage_95": "in 95% band"}
# The rising/falling table: the chart's figures, without the columns only an analyst reads (in the CSV too,
# which exports what the table shows).
TREND_COLUMNS = ("category", "recent", "previous", "change_pct", "z", "users_recent", "trend")


def _board(result: DemandForecast, key: str) -> None:
    """The backtest leaderboard with metrics in words and 3 significant digits (coverage as a percentage);
    short column names (the full name in each column's tooltip) so the table fits the page."""
    board = result.leaderboard
    cols = [c for c in BOARD_METRICS if c in board]
    shown = board[cols].reset_index()
    for col in cols:
        shown[col] = [significant(v * 100, 2) + "%" if col.startswith("coverage") and v == v else significant(v)
                      for v in shown[col]]
    shown = shown.rename(columns={c: metric_name(c) for c in cols})
    st.dataframe(shown, hide_index=True, key=key, width="stretch", column_config={
        "model": st.column_config.TextColumn("model"),
        **{metric_name(c): st.column_config.TextColumn(BOARD_LABELS.get(c, metric_name(c)),
                                                       help=metric_name(c).capitalize()) for c in cols}})


def draw(here: Frame) -> None:
    ds, freq = here.ds, here.freq
    unit = widgets.period_name(freq)
    top_k = widgets.category_grouping(ds, "demand", default_k=12, picker=False)
    c2, c3, c4 = st.columns(3)
    horizons, fitted = planning.demand_horizons(here)
    horizon = int(c2.selectbox(f"Forecast {unit}s", horizons, index=horizons.index(fitted), key="demand_horizon",
                               help=f"The longest offered leaves {planning.DEMAND_FOLDS} backtest folds room to "
                                    "learn from earlier data."))
    use_lstm = c3.toggle("Include the LSTM (slow)", value=False, key="demand_lstm", disabled="lstm" not in available())
    min_users = int(c4.number_input("Hide categories under k users", 1, 100, 5, key="demand_min_users"))
    models = (*DEFAULT_MODELS, "lstm") if use_lstm else DEFAULT_MODELS
    result = ops.demand(ds, freq, top_k, horizon, tuple(models), min_users)
    best, metric = result.best_model, result.metric
    colors = grouping.colors(ds, top_k.spec)
    categories = list(result.categories)
    # 'other' sums every category left out: on a long-tailed log it dwarfs the rest, so it is opt-in.
    shown = st.multiselect("Show", categories, default=[c for c in categories if c != OTHER][:6], key="demand_show")
    st.plotly_chart(ops_charts.demand_chart(result.history, result.forecast, freq, colors=colors,
                                            categories=shown), key="demand_chart")
    st.caption(f"Best model by backtest: **{best}** (lowest {metric_name(metric)} over {planning.DEMAND_FOLDS} "
               f"rolling folds of {counted(horizon, unit)}; every fold trained only on earlier data). "
               f"{here.fitted_note('Horizon', fitted)}"
               + (f" {counted(result.hidden, 'category')} under {counted(min_users, 'user')} hidden."
                  if result.hidden else ""))
    _board(result, "demand_board")
    planning.forecast_table(result, "category", f"{ds.name}_demand_forecast.csv", "demand")

    st.subheader("Demand by segment")
    with fits.section():  # fitted in the background: while it runs, its progress, and the rest of the page below
        by_segment = planning.segment_demand(ds, freq, horizon)
        st.plotly_chart(ops_charts.demand_chart(by_segment.history, by_segment.forecast, freq, what="segment"),
                        key="demand_segment_chart")
        st.caption(f"Total interest of each segment's users (the Segments page's default segmentation), forecast "
                   f"by **{by_segment.best_model}**, the best of the same backtest."
                   + (f" {note}" if (note := fits.sample_note(ds, freq, "Segments are those of")) else ""))
        planning.forecast_table(by_segment, "segment", f"{ds.name}_segment_forecast.csv", "demand_segment")

    st.subheader("Rising and falling")
    d1, d2 = st.columns(2)
    recent = int(d1.selectbox(f"Recent {unit}s", [2, 4, 8, 13], index=1, key="demand_recent"))
    previous = int(d2.selectbox(f"Compared with the {unit}s before", [2, 4, 8, 13], index=1, key="demand_previous"))
    trends, hidden = ops.trends(ds, freq, top_k, recent, previous, min_users)
    st.plotly_chart(ops_charts.rising_falling_chart(trends), key="demand_trends")
    st.caption(f"Interest per {unit}, last {counted(recent, unit)} vs the {counted(previous, unit)} before. Coloured "
               "when the change is at least 10% and |z| ≥ 2, z being a paired test over users (one heavy user "
               "cannot make a trend)."
               + (f" {counted(hidden, 'category')} under {counted(min_users, 'user')} in a window hidden."
                  if hidden else "") + " The table lists every category in the chart's order: largest rise first.")
    table = as_percent(trend_table(trends), ("change_pct",))[list(TREND_COLUMNS)]
    st.dataframe(table, hide_index=True, width="stretch", key="demand_trend_table", column_config={
        "category": st.column_config.TextColumn("category", width="medium"),
        "recent": st.column_config.NumberColumn(f"recent / {unit}", format="%,.1f",
                                                help=f"Interest per {unit} over the last {counted(recent, unit)}"),
        "previous": st.column_config.NumberColumn(f"before / {unit}", format="%,.1f",
                                                  help=f"Interest per {unit}, the {counted(previous, unit)} before"),
        "change_pct": st.column_config.NumberColumn("change", format="%+.1f%%"),
        "z": st.column_config.NumberColumn("z", format="%+.1f", help="Paired test over users: |z| ≥ 2 is more "
                                           "than noise"),
        "users_recent": st.column_config.NumberColumn("users", format="%,d", help="Users active in the recent window"),
        "trend": st.column_config.TextColumn("trend"),
    })
    widgets.csv_download("Rising and falling (CSV)", table, f"{ds.name}_demand_trends.csv", key="demand_trends_csv")


draw(frame.current())
