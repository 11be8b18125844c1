"""What the Migration page shows: the transitions of one selection (period pairs, two windows, or
top categories), their matrix and a legible Sankey, the users behind a flow, and a forecast of the
next move checked against what happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from interest_core.analytics import migration as mig
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.series import training_frame
from interest_core.periods import PERIOD_OFFSETS

Mode = Literal["periods", "windows", "top"]
# A Sankey over many period pairs and categories is a tangle: the last 4 pairs, at most 8 categories,
# and no arrival/departure nodes (the matrix covers the whole range).
SANKEY_LAST_PAIRS = 4
SANKEY_MAX_CATEGORIES = 8


def transitions(panel: pd.DataFrame, freq: str, mode: Mode, start: str, end: str,
                split: str | None = None) -> pd.DataFrame:
    """Per-user transitions (migration.TRANSITION_COLUMNS) between ``start`` and ``end``.

    'periods': each period with the next; 'windows': [start, split) against [split, end] (needs
    ``split``); 'top': each user's top category in each period with the next.
    """
    if mode == "windows" and split is not None:
        before_end = pd.Timestamp(split) - PERIOD_OFFSETS[freq]
        return mig.window_transitions(panel, (start, before_end), (split, end), entry_exit=True)
    if mode == "top":
        return mig.top_category_transitions(panel, freq, start=start, end=end)
    return mig.share_transitions(panel, freq, start=start, end=end, entry_exit=True)


def of_users(transitions: pd.DataFrame, members: Sequence[str] | None) -> pd.DataFrame:
    """The transitions of ``members`` only (None: everyone's)."""
    return transitions if members is None else transitions[transitions["user_id"].isin(list(members))]


@dataclass(frozen=True, eq=False)
class MigrationView:
    matrix: pd.DataFrame  # migration.flow_matrix
    hidden: int  # cells under min_users
    links: pd.DataFrame  # Sankey links
    links_hidden: int
    net: pd.DataFrame  # net flows, biggest first
    users: int
    pairs: int  # period pairs in the selection


def migration_view(transitions: pd.DataFrame, *, top_k: int, min_users: int) -> MigrationView:
    """Matrix, Sankey links, net flows and counts of a selection's transitions."""
    matrix, hidden = mig.flow_matrix(transitions, min_users=min_users)
    links, links_hidden = mig.sankey_links(transitions, min_users=min_users,
                                           top_k=min(top_k, SANKEY_MAX_CATEGORIES), last_pairs=SANKEY_LAST_PAIRS,
                                           entry_exit=False)
    return MigrationView(matrix=matrix, hidden=hidden, links=links, links_hidden=links_hidden,
                         net=mig.net_flows(matrix), users=int(transitions["user_id"].nunique()),
                         pairs=int(transitions[["period", "to_period"]].drop_duplicates().shape[0]))


@dataclass(frozen=True, eq=False)
class MigrationForecast:
    compared: pd.DataFrame  # forecast vs actual cells, t -> t+1
    l1: float  # sum |error| / sum actual: 0 the same matrix, 2 disjoint
    implied: pd.DataFrame  # the matrix the forecast implies (cells under min_users hidden)
    hidden: int


def migration_forecast(panel: pd.DataFrame, freq: str, t: str, *, model: str = "recency_decay",
                       min_users: int = 5) -> MigrationForecast:
    """Forecast every user's shares from data up to ``t`` only; the implied t -> t+1 matrix, against the
    actual one where t+1 is known."""
    train = training_frame(panel, "engagement", freq, end=pd.Timestamp(t))
    forecasts = make_forecaster(model).fit(train, freq).predict(1)
    compared = mig.backtest_transitions(panel, forecasts, freq, min_users=min_users)
    implied, hidden = mig.flow_matrix(mig.forecast_transitions(panel, forecasts, freq), min_users=min_users)
    return MigrationForecast(compared=compared, l1=mig.relative_l1(compared), implied=implied, hidden=hidden)
