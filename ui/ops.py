"""Models and views of the Churn, Promotions and Demand pages (``interest_core.views.ops``).

The models (churn classifier and backtest, engagement forecaster, promotion backtest, demand
forecasts) are fitted by the background worker and saved (``ui.fits``): every session and restart
reads them, a failed fit is remembered. The frames drawn from them are ``cache_data``. Every model
learns from complete periods only.
"""

from __future__ import annotations

from typing import cast

import pandas as pd
import streamlit as st

from interest_core.analytics.demand import DemandForecast
from interest_core.errors import FitFailedError
from interest_core.forecasting.page_defaults import DEMAND_SERIES
from interest_core.grouping import CategoryChoice
from interest_core.views.ops import ChurnBacktest, Promotion
from ui import fits
from ui.queries import last_complete_period
from ui.store import DatasetKey


def churn_risk(ds: DatasetKey, freq: str, horizon: int) -> pd.DataFrame:
    """Users active lately with risk, recency, reasons and features, riskiest first (ChurnModel.predict_risk).

    Fitted once by the background worker (ui.fits); raises ModelFitting while it runs."""
    model = fits.basis(ds, freq).churn("churn_risk", horizon)
    return cast(pd.DataFrame, fits.fitted(model, lambda: fits.model_frame(ds, freq, model)))


def churn_backtest(ds: DatasetKey, freq: str, horizon: int) -> ChurnBacktest:
    """Summary (ROC/PR-AUC of model and recency, Brier), reliability table and per-cutoff figures."""
    model = fits.basis(ds, freq).churn("churn_backtest", horizon)
    return cast(ChurnBacktest, fits.fitted(model, lambda: fits.model_frame(ds, freq, model)))


def _engagement_scores(ds: DatasetKey, freq: str, model: str, horizon: int) -> pd.DataFrame:
    """user_id, category, p_engage of the engagement forecaster (fitted by the background worker)."""
    spec = fits.basis(ds, freq).engagement(model, horizon)
    return cast(pd.DataFrame, fits.fitted(spec, lambda: fits.model_frame(ds, freq, spec)))


def promotion_categories(ds: DatasetKey, freq: str, model: str, horizon: int) -> list[str]:
    """Categories with a forecast, by how many users are expected to engage with them."""
    from interest_core.views.ops import promotion_categories as ranked

    return ranked(_engagement_scores(ds, freq, model, horizon))


def promotion(ds: DatasetKey, freq: str, model: str, horizon: int, category: str, max_churn_risk: float | None,
              churn_horizon: int) -> Promotion:
    """ranked (the full list, best first) and curve (expected reach by list size) for one category.

    Without a churn model (still fitting, or failed) the list has no churn column, unless asked to leave
    out users at risk."""
    try:
        churn_risk(ds, freq, churn_horizon)
        with_churn = True
    except (FitFailedError, fits.ModelFitting):
        if max_churn_risk is not None:
            raise
        with_churn = False
    return _promotion(ds, freq, model, horizon, category, max_churn_risk, churn_horizon, with_churn)


@st.cache_data(show_spinner="Ranking users...", max_entries=64)
def _promotion(ds: DatasetKey, freq: str, model: str, horizon: int, category: str, max_churn_risk: float | None,
               churn_horizon: int, with_churn: bool) -> Promotion:
    from interest_core.views.ops import promotion as assemble

    churn = churn_risk(ds, freq, churn_horizon) if with_churn else None
    return assemble(_engagement_scores(ds, freq, model, horizon), category, churn, max_churn_risk)


def promotion_lift(ds: DatasetKey, freq: str, model: str, horizon: int, category: str) -> pd.DataFrame:
    """list_size, model_hits, recency_hits, random_hits, lifts: summed over the last 3 backtest cutoffs."""
    spec = fits.basis(ds, freq).lift(model, horizon, category)
    return cast(pd.DataFrame, fits.fitted(spec, lambda: fits.model_frame(ds, freq, spec)))


def demand(ds: DatasetKey, freq: str, top_k: CategoryChoice | int, horizon: int, models: tuple[str, ...],
           min_users: int = 5) -> DemandForecast:
    """Demand of the top_k categories (+ 'other'), or of the groups of a ``widgets.category_grouping`` choice
    (at most DEMAND_SERIES): best model by backtest, its forecast and the leaderboard (fitted by the
    background worker and saved)."""
    from ui.grouping import choice_of

    series = top_k + 1 if isinstance(top_k, int) else DEMAND_SERIES
    spec = fits.basis(ds, freq).demand(series, horizon, models, min_users, choice_of(top_k))
    return cast(DemandForecast, fits.fitted(spec, lambda: fits.model_frame(ds, freq, spec, top_k)))


@st.cache_data(show_spinner=False, max_entries=32)
def trends(ds: DatasetKey, freq: str, top_k: CategoryChoice | int | None, recent: int = 4, previous: int = 4,
           min_users: int = 5) -> tuple[pd.DataFrame, int]:
    """Rising / falling categories (demand.rising_falling) and how many were hidden under min_users."""
    from interest_core.analytics.demand import rising_falling, rising_falling_sql
    from interest_core.derived_panel import grouped_source
    from interest_core.grouping import OTHER
    from interest_core.periods import PERIOD_OFFSETS
    from ui.grouping import choice_of, panel_map
    from ui.queries import panel_periods

    last = last_complete_period(ds, freq)
    choice = choice_of(top_k)
    source = grouped_source(ds.store(), ds.name, freq, panel_map(ds, choice), ds.window,
                            drop=OTHER if choice.drop_other else None)
    if source is not None:  # summed per user and category in DuckDB over the stored panel (pandas pivots took 1-3 s)
        return rising_falling_sql(source, freq, last_period=last, recent=recent, previous=previous,
                                  min_users=min_users)
    first = last - PERIOD_OFFSETS[freq] * (recent + previous - 1)  # the two windows: all rising_falling reads
    return rising_falling(panel_periods(ds, freq, top_k, first, last), freq, recent=recent, previous=previous,
                          min_users=min_users, last_period=last)
