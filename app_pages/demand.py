"""Demand: each category's (or group's) interest forecast with intervals, by the model that backtests best."""

from __future__ import annotations

import streamlit as st

from interest_core.analytics.demand import DEFAULT_MODELS
from interest_core.charts import ops as ops_charts
from interest_core.forecasting.forecasters import available
from ui import frame, ops, queries, widgets
from ui.store import DatasetKey


def draw(ds: DatasetKey, freq: str) -> None:
    unit = widgets.period_name(freq)
    top_k = widgets.category_grouping(ds, "demand", default_k=12, picker=False)
    c2, c3, c4 = st.columns(3)
    horizon = int(c2.selectbox(f"Forecast {unit}s", [2, 4, 8, 12], index=1, key="demand_horizon"))
    use_lstm = c3.toggle("Include the LSTM (slow)", value=False, key="demand_lstm", disabled="lstm" not in available())
    min_users = int(c4.number_input("Hide categories under k users", 1, 100, 5, key="demand_min_users"))
    models = (*DEFAULT_MODELS, "lstm") if use_lstm else DEFAULT_MODELS
    result = ops.demand(ds, freq, top_k, horizon, tuple(models), min_users)
    board = result.leaderboard
    best, metric = result.best_model, result.metric
    colors = queries.colors(ds)
    categories = list(result.categories)
    shown = st.multiselect("Show", categories, default=categories[:6], key="demand_show")
    st.plotly_chart(ops_charts.demand_chart(result.history, result.forecast, freq, colors=colors,
                                            categories=shown), key="demand_chart")
    st.caption(f"Best model by backtest: **{best}** (lowest {metric.upper()} over 3 rolling folds of {horizon} "
               f"{unit}s; every fold trained only on earlier data). {result.hidden} category(ies) under "
               f"{min_users} users hidden.")
    cols = [c for c in ("mae", "mase", "rmse", "smape", "coverage_80", "coverage_95") if c in board]
    st.dataframe(board[cols].reset_index(), hide_index=True, key="demand_board")
    widgets.csv_download("Forecast (CSV)", result.forecast, f"{ds.name}_demand_forecast.csv", key="demand_csv")

    st.subheader("Rising and falling")
    d1, d2 = st.columns(2)
    recent = int(d1.selectbox(f"Recent {unit}s", [2, 4, 8, 13], index=1, key="demand_recent"))
    previous = int(d2.selectbox(f"Compared with the {unit}s before", [2, 4, 8, 13], index=1, key="demand_previous"))
    trends, hidden = ops.trends(ds, freq, top_k, recent, previous, min_users)
    st.plotly_chart(ops_charts.rising_falling_chart(trends), key="demand_trends")
    st.caption(f"Interest per {unit}, last {recent} {unit}s vs the {previous} before. Coloured when the change "
               "is at least 10% and |z| ≥ 2, z being a paired test over users (one heavy user cannot make a "
               f"trend). {hidden} category(ies) under {min_users} users in a window hidden.")
    st.dataframe(trends, hide_index=True, key="demand_trend_table", column_config={
        "recent": st.column_config.NumberColumn(f"recent per {unit}", format="%.1f"),
        "previous": st.column_config.NumberColumn(f"previous per {unit}", format="%.1f"),
        "change": st.column_config.NumberColumn(f"change per {unit}", format="%+.1f"),
        "change_pct": st.column_config.NumberColumn("change %", format="percent"),
        "z": st.column_config.NumberColumn("z", format="%.1f"),
    })
    widgets.csv_download("Rising and falling (CSV)", trends, f"{ds.name}_demand_trends.csv", key="demand_trends_csv")


here = frame.current()
draw(here.ds, here.freq)
