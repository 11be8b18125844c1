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


def migration_view(transitions: pd.DataFrame, *, min_users: int, top_k: int = SANKEY_MAX_CATEGORIES) -> MigrationView:
    """Matrix, Sankey links, net flows and counts of a selection's transitions."""
    matrix, hidden = mig.flow_matrix(transitions, min_users=min_users)
    links, links_hidden = mig.sankey_links(transitions, min_users=min_users,
                                           top_k=min(top_k, SANKEY_MAX_CATEGORIES), last_pairs=SANKEY_LAST_PAIRS,
                                           entry_exit=False)
    return MigrationView(matrix=matrix, hidden=hidden, links=links, links_hidden=links_hidden,
                         net=mig.net_flows(matrix), users=int(transitions["user_id"].nunique()),
                         pairs=int(transitions[["period", "to_period"]].drop_duplicates().shape[0]))


# Forecasters of the Migration page. The next-interest rankings (``forecasting.next_interest``) rank every
# category for each user, new ones included, so their forecast moves interest into categories a user never
# had; the per-series forecasters only reweight the categories a user already has.
NEXT_INTEREST_MODELS = {"item_cf": "item_cf", "next_recency_decay": "recency_decay"}
MIGRATION_MODELS: tuple[str, ...] = (*NEXT_INTEREST_MODELS, "recency_decay", "window_mean", "last_value")
MODEL_TEXT = {
    "item_cf": "categories that share users with theirs (new ones included)",
    "next_recency_decay": "their own recent categories, then the most popular new ones",
    "recency_decay": "their own categories, recent ones weighing more",
    "window_mean": "their own categories, average of the last periods",
    "last_value": "nobody moves (last period's shares)",
}
NEW_SLOTS = 2  # categories new to a user that a next-interest forecast may move interest into


@dataclass(frozen=True, eq=False)
class MigrationForecast:
    compared: pd.DataFrame  # forecast vs actual cells, t -> t+1
    l1: float  # sum |error| / sum actual: 0 the same matrix, 2 disjoint
    implied: pd.DataFrame  # the matrix the forecast implies (cells under min_users hidden)
    hidden: int
    users: int  # users forecast (active in period t)
    new_share: float  # share of the forecast interest in categories the user never had up to t


def next_interest_forecast(panel: pd.DataFrame, freq: str, t: pd.Timestamp, model: str,
                           new_slots: int = NEW_SLOTS) -> pd.DataFrame:
    """user_id, category, period (t + 1), yhat: each user active in t spreads their next period over the
    categories a next-interest model ranks highest: as many as they had in t plus ``new_slots``, in
    proportion to the scores (so new categories get interest only where the model ranks them that high)."""
    import numpy as np

    from interest_core.forecasting.next_interest import make_next_interest
    from interest_core.forecasting.next_interest.history import history_from_panel

    history = history_from_panel(panel, freq, pd.Timestamp(panel["period"].min()), t)
    fitted = make_next_interest(NEXT_INTEREST_MODELS[model]).fit(history, 1)
    last = history.interest[-1]
    rows = np.flatnonzero(last.getnnz(axis=1) > 0)
    if not len(rows):
        return pd.DataFrame(columns=["user_id", "category", "period", "yhat"])
    scores = np.clip(fitted.score(rows), 0.0, None)
    keep_n = last[rows].getnnz(axis=1) + new_slots
    rank = np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1)
    weight = np.where(rank < keep_n[:, None], scores, 0.0)
    user_idx, cat_idx = np.nonzero(weight)
    return pd.DataFrame({"user_id": history.users[rows][user_idx], "category": history.categories[cat_idx],
                         "period": t + PERIOD_OFFSETS[freq], "yhat": weight[user_idx, cat_idx]})


def _new_share(panel: pd.DataFrame, forecasts: pd.DataFrame, t: pd.Timestamp) -> float:
    """Share of the forecast (normalised per user) in categories the user had no interest in up to t."""
    fc = forecasts.assign(share=forecasts["yhat"] / forecasts.groupby("user_id")["yhat"].transform("sum"))
    had = panel.loc[(panel["period"] <= t) & (panel["interest"] > 0), ["user_id", "category"]].drop_duplicates()
    had = had.astype({"user_id": str, "category": str}).assign(known=True)
    fc = fc.astype({"user_id": str, "category": str}).merge(had, on=["user_id", "category"], how="left")
    total = float(fc["share"].sum())
    return float(fc.loc[fc["known"].isna(), "share"].sum() / total) if total else 0.0


def migration_forecast(panel: pd.DataFrame, freq: str, t: str, *, model: str = "recency_decay",
                       min_users: int = 5) -> MigrationForecast:
    """Forecast every active user's shares from data up to ``t`` only; the implied t -> t+1 matrix, against
    the actual one where t+1 is known. ``model``: one of MIGRATION_MODELS."""
    cutoff = pd.Timestamp(t)
    if model in NEXT_INTEREST_MODELS:
        forecasts = next_interest_forecast(panel, freq, cutoff, model)
    else:
        train = training_frame(panel, "engagement", freq, end=cutoff)
        forecasts = make_forecaster(model).fit(train, freq).predict(1)
        if "user_id" not in forecasts:
            from interest_core.forecasting.series import split_pair_id

            ids = split_pair_id(forecasts["unique_id"]).reset_index(drop=True)
            forecasts = pd.concat([forecasts.reset_index(drop=True), ids], axis=1)
    compared = mig.backtest_transitions(panel, forecasts, freq, min_users=min_users)
    implied, hidden = mig.flow_matrix(mig.forecast_transitions(panel, forecasts, freq), min_users=min_users)
    users = int(panel.loc[(panel["period"] == cutoff) & (panel["interest"] > 0), "user_id"].nunique())
    return MigrationForecast(compared=compared, l1=mig.relative_l1(compared), implied=implied, hidden=hidden,
                             users=users, new_share=_new_share(panel, forecasts, cutoff) if len(forecasts) else 0.0)
