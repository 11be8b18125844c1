"""Cached planning views: the learned promotion list and its backtest, forward demand forecasts.

The learned promotion list and its backtest are page models (fitted by the background worker, saved,
read by every session: ``ui.fits``); frames ``cache_data``.
Every model learns from complete periods only (``last_complete_period``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import streamlit as st

from interest_core.forecasting import page_defaults
from interest_core.views.ops import Promotion
from ui.queries import analytics_panel, last_complete_period
from ui.store import DatasetKey

if TYPE_CHECKING:
    from ui.frame import Frame

DEMAND_FOLDS = page_defaults.DEMAND_FOLDS  # the rolling folds analytics.demand.demand_forecast backtests on


def churn_horizon(here: Frame) -> int:
    """The horizon the User and Promotions pages score churn over: the Churn page's default (the usual
    ``analytics.churn.DEFAULT_HORIZON`` shortened to what the range's span can label, ``span_horizon``). On the
    Taobao sample's 10 days, 1 day rather than 7, whose only labelled cutoffs lie in the stray events before
    the bulk (a model of 1 churner in 184). Raises ModelError when the span is too short for any."""
    from interest_core.analytics.churn import span_horizon
    from ui.queries import window

    return span_horizon(here.freq, window(here.ds)["start"], last_complete_period(here.ds, here.freq))[0]


def demand_horizons(here: Frame, wanted: int = 4) -> tuple[list[int], int]:
    """The forecast horizons a demand backtest (``DEMAND_FOLDS`` folds, each with its training periods) can
    hold over the date range's complete periods, and the default: ``wanted`` fitted to the span
    (``Frame.fitted_backtest``), so an 8-week range starts on 2 weeks instead of an error."""
    from interest_core.forecasting.page_defaults import demand_horizons as fitted

    return fitted(here.n_complete, wanted)


def _complete_panel(ds: DatasetKey, freq: str) -> pd.DataFrame:
    panel = analytics_panel(ds, freq)
    return panel[panel["period"] <= last_complete_period(ds, freq)]


def _stored(ds: DatasetKey, freq: str) -> Any:
    """The stored panel of the key's date range as a DuckDB source (derived_panel.stored_source), or None."""
    from interest_core.derived_panel import stored_source

    return stored_source(ds.store(), ds.name, freq, ds.window)


@st.cache_data(show_spinner=False, max_entries=16)
def promotion_horizons(ds: DatasetKey, freq: str) -> list[int]:
    """Horizons the learned list can backtest on this log: 3 cutoffs, each with a past to learn from."""
    from interest_core.derived_panel import period_count
    from interest_core.views.ops import horizons_for
    from interest_core.views.ops import promotion_horizons as horizons

    source = _stored(ds, freq)  # counted in DuckDB: the panel's periods, not its rows
    if source is None:
        return horizons(_complete_panel(ds, freq), freq)
    return horizons_for(period_count(source, last_complete_period(ds, freq)))


def _learned(ds: DatasetKey, freq: str, horizon: int, category: str) -> Any:
    """The learned list of one category and its backtest: fitted once by the background worker and saved
    (ui.fits; ModelFitting while it runs, a failure remembered)."""
    from ui import fits

    spec = fits.basis(ds, freq).model("learned_promotion", horizon=int(horizon), category=str(category))
    return fits.fitted(spec, lambda: fits.model_frame(ds, freq, spec))


@st.cache_data(show_spinner=False, max_entries=16)
def promotion_categories(ds: DatasetKey, freq: str, horizon: int, limit: int = 200) -> list[str]:
    """Categories by how many users engaged with them lately (most first), at most ``limit``."""
    from interest_core.derived_panel import recent_categories as counted
    from interest_core.views.ops import recent_categories

    source = _stored(ds, freq)
    if source is None:
        return recent_categories(_complete_panel(ds, freq), limit)
    return counted(source, last_complete_period(ds, freq), limit)


def learned_promotion(ds: DatasetKey, freq: str, horizon: int, category: str) -> Promotion:
    """The learned list of one category (users new to it included) and its expected reach."""
    return cast(Promotion, _learned(ds, freq, horizon, category).promotion)


@st.cache_data(show_spinner="Ranking users by recency...", max_entries=64)
def recency_promotion(ds: DatasetKey, freq: str, category: str) -> pd.DataFrame:
    """The category's past users, most recent first (the list a marketer draws without a model)."""
    from interest_core.analytics.promotions import recency_ranking
    from interest_core.derived_panel import category_rows

    source = _stored(ds, freq)  # only the category's rows, not the whole panel
    rows = _complete_panel(ds, freq) if source is None else category_rows(source, category)
    return recency_ranking(rows, [category], last_complete_period(ds, freq))


def promotion_backtest(ds: DatasetKey, freq: str, horizon: int, category: str) -> pd.DataFrame:
    """``learned_lift`` of one category at the last 3 cutoffs whose next ``horizon`` is known."""
    return cast(pd.DataFrame, _learned(ds, freq, horizon, category).lift)


def segment_demand(ds: DatasetKey, freq: str, horizon: int) -> Any:
    """Each segment's (the Segments page's default segmentation) total interest per period, forecast ``horizon``
    periods ahead with intervals: fitted once by the background worker and saved (ui.fits); raises ModelFitting
    while it runs."""
    from interest_core.forecasting.page_frames import segment_totals_panel
    from interest_core.views.ops import segment_members, segment_names, segment_totals
    from ui import fits, views

    seg = views.segmentation(ds, freq)
    spec = fits.basis(ds, freq).segment_demand(views.segmentation_model(ds, freq)[0],
                                               list(segment_names(seg.descriptions).values()), horizon)

    def frame() -> pd.DataFrame:
        # summed per segment and period in DuckDB over the stored panel; on a large log only the rows of the models'
        # sample, the users the segments were learned on and assigned (fits.model_sample)
        members, sample = segment_members(seg.labels, seg.descriptions), fits.model_sample(ds, freq)
        totals = segment_totals_panel(ds.store(), ds.name, freq, members, last_complete_period(ds, freq),
                                      window=ds.window, where=sample.where() if sample else None)
        return segment_totals(_complete_panel(ds, freq), members) if totals is None else totals

    return fits.fitted(spec, frame)


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


def forward_section(here: Frame, *, key: str, top_k: int = 12) -> None:
    """'Next N periods': each category's or segment's demand forecast with its interval band and table, N
    fitted to the date range (``demand_horizons``) and said."""
    from interest_core.analytics.demand import DEFAULT_MODELS
    from interest_core.charts import ops as ops_charts
    from interest_core.charts.style import OTHER
    from interest_core.text import counted
    from ui import fits, grouping, ops, widgets

    ds, freq = here.ds, here.freq
    horizon = demand_horizons(here)[1]
    unit = widgets.period_name(freq)
    st.subheader(f"Next {counted(horizon, unit)}")
    by = st.radio("Forecast by", ["category", "segment"], horizontal=True, key=f"{key}_by",
                  help="Total interest per category (top categories), or per segment of users.")
    if by == "category":
        choice = widgets.category_grouping(ds, key, default_k=top_k, picker=False)  # as the Demand page groups
    with fits.section():  # a model still fitting: its progress here, and the rest of the page below
        if by == "category":
            result = ops.demand(ds, freq, choice, horizon, tuple(DEFAULT_MODELS), 5)
            shown = [c for c in result.categories if c != OTHER][:6]
            fig = ops_charts.demand_chart(result.history, result.forecast, freq,
                                          colors=grouping.colors(ds, choice.spec), categories=shown)
        else:
            result = segment_demand(ds, freq, horizon)
            fig = ops_charts.demand_chart(result.history, result.forecast, freq, what="segment")
        st.plotly_chart(fig, key=f"{key}_chart")
        band = ("the model's own 80% interval (from its errors on the last held-out periods)" if by == "category"
                else "80% of the backtest's errors (relative to each segment's level)")
        st.caption(f"Forecast by **{result.best_model}**, the best of a 3-fold backtest of each {by}'s series; "
                   f"the band is {band}. {here.fitted_note('Horizon', horizon)} The Demand page has more.")
        forecast_table(result, by, f"{ds.name}_{by}_forecast.csv", key)
