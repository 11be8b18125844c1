"""Cached planning views: the learned promotion list and its backtest, forward demand forecasts.

The learned promotion list and its backtest are page models (fitted by the background worker, saved,
read by every session: ``ui.fits``); frames ``cache_data``.
Every model learns from complete periods only (``last_complete_period``).
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import streamlit as st

from interest_core.views.ops import Promotion
from ui.queries import analytics_panel, last_complete_period
from ui.store import DatasetKey


def _complete_panel(ds: DatasetKey, freq: str) -> pd.DataFrame:
    panel = analytics_panel(ds, freq)
    return panel[panel["period"] <= last_complete_period(ds, freq)]


def promotion_horizons(ds: DatasetKey, freq: str) -> list[int]:
    """Horizons the learned list can backtest on this log: 3 cutoffs, each with a past to learn from."""
    from interest_core.views.ops import promotion_horizons as horizons

    return horizons(_complete_panel(ds, freq), freq)


def _learned(ds: DatasetKey, freq: str, horizon: int, category: str) -> Any:
    """The learned list of one category and its backtest: fitted once by the background worker and saved
    (ui.fits; ModelFitting while it runs, a failure remembered)."""
    from ui import fits

    spec = fits.basis(ds, freq).model("learned_promotion", horizon=int(horizon), category=str(category))
    return fits.fitted(spec, lambda: _complete_panel(ds, freq))


@st.cache_data(show_spinner=False, max_entries=16)
def promotion_categories(ds: DatasetKey, freq: str, horizon: int, limit: int = 200) -> list[str]:
    """Categories by how many users engaged with them lately (most first), at most ``limit``."""
    from interest_core.views.ops import recent_categories

    return recent_categories(_complete_panel(ds, freq), limit)


def learned_promotion(ds: DatasetKey, freq: str, horizon: int, category: str) -> Promotion:
    """The learned list of one category (users new to it included) and its expected reach."""
    return cast(Promotion, _learned(ds, freq, horizon, category).promotion)


@st.cache_data(show_spinner="Ranking users by recency...", max_entries=64)
def recency_promotion(ds: DatasetKey, freq: str, category: str) -> pd.DataFrame:
    """The category's past users, most recent first (the list a marketer draws without a model)."""
    from interest_core.analytics.promotions import recency_ranking

    return recency_ranking(_complete_panel(ds, freq), [category], last_complete_period(ds, freq))


def promotion_backtest(ds: DatasetKey, freq: str, horizon: int, category: str) -> pd.DataFrame:
    """``learned_lift`` of one category at the last 3 cutoffs whose next ``horizon`` is known."""
    return cast(pd.DataFrame, _learned(ds, freq, horizon, category).lift)


@st.cache_data(show_spinner="Forecasting demand per segment...", max_entries=16)
def segment_demand(ds: DatasetKey, freq: str, horizon: int) -> Any:
    """Each segment's total interest per period, forecast ``horizon`` periods ahead with intervals."""
    from interest_core.views.ops import segment_demand as forecast
    from ui import views

    seg = views.segmentation(ds, freq)
    return forecast(_complete_panel(ds, freq), seg.labels, seg.descriptions, freq, horizon)


# -- drawing shared by the Demand and Forecasts pages ------------------------------------------------

def forecast_table(result: Any, label: str, file_name: str, key: str) -> None:
    """A ``DemandForecast``'s next periods as a planner's table (forecast, interval bounds) and its CSV."""
    from interest_core.analytics.demand import planner_table
    from ui import widgets

    table = planner_table(result.forecast, label)
    st.dataframe(table, hide_index=True, key=f"{key}_table", column_config={
        "period": st.column_config.DatetimeColumn("period start", format="YYYY-MM-DD"),
        **{c: st.column_config.NumberColumn(c, format="%,.0f") for c in table.columns if c not in (label, "period")},
    })
    widgets.csv_download("Forecast (CSV)", table, file_name, key=f"{key}_csv")


def forward_section(ds: DatasetKey, freq: str, *, key: str, top_k: int = 12, horizon: int = 4) -> None:
    """'Next N periods': each category's or segment's demand forecast with its interval band and table."""
    from interest_core.analytics.demand import DEFAULT_MODELS
    from interest_core.charts import ops as ops_charts
    from interest_core.charts.style import OTHER
    from interest_core.text import counted
    from ui import grouping, ops, widgets

    unit = widgets.period_name(freq)
    st.subheader(f"Next {counted(horizon, unit)}")
    by = st.radio("Forecast by", ["category", "segment"], horizontal=True, key=f"{key}_by",
                  help="Total interest per category (top categories), or per segment of users.")
    if by == "category":
        choice = widgets.category_grouping(ds, key, default_k=top_k, picker=False)  # as the Demand page groups
        result = ops.demand(ds, freq, choice, horizon, tuple(DEFAULT_MODELS), 5)
        shown = [c for c in result.categories if c != OTHER][:6]
        fig = ops_charts.demand_chart(result.history, result.forecast, freq, colors=grouping.colors(ds, choice.spec),
                                      categories=shown)
    else:
        result = segment_demand(ds, freq, horizon)
        fig = ops_charts.demand_chart(result.history, result.forecast, freq, what="segment")
    st.plotly_chart(fig, key=f"{key}_chart")
    band = ("the model's own 80% interval (from its errors on the last held-out periods)" if by == "category"
            else "80% of the backtest's errors (relative to each segment's level)")
    st.caption(f"Forecast by **{result.best_model}**, the best of a 3-fold backtest of each {by}'s series; the "
               f"band is {band}. The Demand page has more.")
    forecast_table(result, by, f"{ds.name}_{by}_forecast.csv", key)
