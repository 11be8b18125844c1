"""Cached planning views: the learned promotion list and its backtest, forward demand forecasts.

Fitted models are ``cache_resource`` (shared, never refitted on a rerun), frames ``cache_data``.
Every model learns from complete periods only (``last_complete_period``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from interest_core.analytics.promotions import DEFAULT_LIST_SIZES
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


@st.cache_resource(show_spinner=False, max_entries=4)
def _folds(ds: DatasetKey, freq: str) -> Any:
    """The interest history at each cutoff, built once: the list's model and its backtest share them."""
    from interest_core.analytics.promotion_model import FoldCache

    return FoldCache(_complete_panel(ds, freq), freq, history=26)


@st.cache_resource(show_spinner="Learning who engages with what (users new to a category included)...",
                   max_entries=8)
def _promotion_model(ds: DatasetKey, freq: str, horizon: int) -> Any:
    from interest_core.analytics.promotion_model import PromotionModel

    folds = _folds(ds, freq)
    return PromotionModel(freq, horizon).fit(folds.panel, last_complete_period(ds, freq), folds)


@st.cache_data(show_spinner=False, max_entries=16)
def promotion_categories(ds: DatasetKey, freq: str, horizon: int, limit: int = 200) -> list[str]:
    """Categories by how many users engaged with them lately (most first), at most ``limit``."""
    from interest_core.views.ops import recent_categories

    return recent_categories(_complete_panel(ds, freq), limit)


@st.cache_data(show_spinner="Ranking users...", max_entries=64)
def learned_promotion(ds: DatasetKey, freq: str, horizon: int, category: str) -> Promotion:
    """The learned list of one category (users new to it included) and its expected reach."""
    from interest_core.views.ops import learned_promotion as assemble

    return assemble(_promotion_model(ds, freq, horizon).score([category]), category)


@st.cache_data(show_spinner="Ranking users by recency...", max_entries=64)
def recency_promotion(ds: DatasetKey, freq: str, category: str) -> pd.DataFrame:
    """The category's past users, most recent first (the list a marketer draws without a model)."""
    from interest_core.analytics.promotions import recency_ranking

    return recency_ranking(_complete_panel(ds, freq), [category], last_complete_period(ds, freq))


@st.cache_data(show_spinner="Backtesting the learned list against a recency list (about a minute)...",
               max_entries=32)
def promotion_backtest(ds: DatasetKey, freq: str, horizon: int, category: str) -> pd.DataFrame:
    """``learned_lift`` of one category at the last 3 cutoffs whose next ``horizon`` is known."""
    from interest_core.analytics.promotions import learned_lift

    folds = _folds(ds, freq)
    return learned_lift(folds.panel, [category], freq=freq, horizon=horizon, list_sizes=DEFAULT_LIST_SIZES,
                        cache=folds)


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
