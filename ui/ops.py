"""Cached models and views of the Churn, Promotions and Demand pages (``interest_core.views.ops``).

Fitted models are ``cache_resource`` (shared, never refitted on a rerun); the frames drawn from
them are ``cache_data``. Every model learns from complete periods only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from interest_core.analytics.demand import DemandForecast
from interest_core.grouping import CategoryChoice
from interest_core.views.ops import ChurnBacktest, Promotion
from ui.queries import analytics_panel, last_complete_period
from ui.store import DatasetKey

DEMAND_SERIES = 41  # most groups the widget makes (40 learned + 'other'); raw categories: the 41 most engaged


@st.cache_resource(show_spinner="Training the churn model...", max_entries=16)
def _churn_model(ds: DatasetKey, freq: str, horizon: int) -> Any:
    from interest_core.analytics.churn import ChurnModel

    return ChurnModel(freq=freq, horizon=horizon).fit(analytics_panel(ds, freq),
                                                      last_period=last_complete_period(ds, freq))


@st.cache_data(show_spinner="Scoring churn risk...", max_entries=16)
def churn_risk(ds: DatasetKey, freq: str, horizon: int) -> pd.DataFrame:
    """Users active lately with risk, recency, reasons and features, riskiest first (ChurnModel.predict_risk)."""
    return _churn_model(ds, freq, horizon).predict_risk()


@st.cache_data(show_spinner="Backtesting the churn model against recency...", max_entries=16)
def churn_backtest(ds: DatasetKey, freq: str, horizon: int) -> ChurnBacktest:
    """Summary (ROC/PR-AUC of model and recency, Brier), reliability table and per-cutoff figures."""
    from interest_core.views.ops import churn_backtest as backtest

    return backtest(analytics_panel(ds, freq), freq, horizon, last_complete_period(ds, freq))


@st.cache_resource(show_spinner="Fitting the engagement forecaster...", max_entries=8)
def _engagement_model(ds: DatasetKey, freq: str, model: str) -> Any:
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.views.ops import engagement_training

    train = engagement_training(analytics_panel(ds, freq), freq, last_complete_period(ds, freq))
    return make_forecaster(model).fit(train, freq)


@st.cache_data(show_spinner="Forecasting who engages with what...", max_entries=16)
def _engagement_scores(ds: DatasetKey, freq: str, model: str, horizon: int) -> pd.DataFrame:
    from interest_core.analytics.promotions import engagement_scores

    return engagement_scores(_engagement_model(ds, freq, model).predict(horizon))


def promotion_categories(ds: DatasetKey, freq: str, model: str, horizon: int) -> list[str]:
    """Categories with a forecast, by how many users are expected to engage with them."""
    from interest_core.views.ops import promotion_categories as ranked

    return ranked(_engagement_scores(ds, freq, model, horizon))


@st.cache_data(show_spinner="Ranking users...", max_entries=64)
def promotion(ds: DatasetKey, freq: str, model: str, horizon: int, category: str, max_churn_risk: float | None,
              churn_horizon: int) -> Promotion:
    """ranked (the full list, best first) and curve (expected reach by list size) for one category."""
    from interest_core.views.ops import promotion as assemble

    return assemble(_engagement_scores(ds, freq, model, horizon), category, churn_risk(ds, freq, churn_horizon),
                    max_churn_risk)


@st.cache_data(show_spinner="Backtesting the list against a recency list...", max_entries=32)
def promotion_lift(ds: DatasetKey, freq: str, model: str, horizon: int, category: str) -> pd.DataFrame:
    """list_size, model_hits, recency_hits, random_hits, lifts: summed over the last 3 backtest cutoffs."""
    from interest_core.views.ops import promotion_lift as lift

    return lift(analytics_panel(ds, freq), model, category, freq, horizon, last_complete_period(ds, freq))


@st.cache_data(show_spinner="Backtesting demand models and forecasting...", max_entries=16)
def demand(ds: DatasetKey, freq: str, top_k: CategoryChoice | int, horizon: int, models: tuple[str, ...],
           min_users: int = 5) -> DemandForecast:
    """Demand of the top_k categories (+ 'other'), or of the groups of a ``widgets.category_grouping`` choice
    (at most DEMAND_SERIES): best model by backtest, its forecast and the leaderboard."""
    from interest_core.analytics.demand import demand_forecast

    series = top_k + 1 if isinstance(top_k, int) else DEMAND_SERIES
    return demand_forecast(analytics_panel(ds, freq, top_k), freq, top_k=series, horizon=horizon,
                           models=tuple(models), min_users=min_users, last_period=last_complete_period(ds, freq))


@st.cache_data(show_spinner=False, max_entries=32)
def trends(ds: DatasetKey, freq: str, top_k: CategoryChoice | int | None, recent: int = 4, previous: int = 4,
           min_users: int = 5) -> tuple[pd.DataFrame, int]:
    """Rising / falling categories (demand.rising_falling) and how many were hidden under min_users."""
    from interest_core.analytics.demand import rising_falling

    return rising_falling(analytics_panel(ds, freq, top_k), freq, recent=recent, previous=previous,
                          min_users=min_users, last_period=last_complete_period(ds, freq))
