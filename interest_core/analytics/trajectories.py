"""One user's interest over time: stacked shares, long vs short term, change points, diversity,
a profile card, and the forecast of the next periods merged onto the history for one chart.

Every function takes the long interest panel of ``panel.build_panel`` (user_id, category,
period, interest, n_<behaviour>, share) or a frame derived from it, and returns a plain frame
(or, for the profile card, a plain dict).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from interest_core.config import PanelSpec
from interest_core.periods import PERIOD_OFFSETS, period_grid
from interest_core.transforms import interest_profile

OTHER = "other"
SHARES_COLUMNS = ["period", "category", "interest", "share"]
CHANGE_COLUMNS = ["user_id", "period", "previous_period", "from_category", "to_category", "from_share", "to_share"]
DIVERSITY_COLUMNS = ["user_id", "period", "entropy", "effective_categories", "n_categories", "evenness"]


def user_rows(panel: pd.DataFrame, user_id: str) -> pd.DataFrame:
    """The panel rows of one user (empty frame with the same columns when unknown)."""
    return panel[panel["user_id"] == user_id].reset_index(drop=True)


def top_categories(rows: pd.DataFrame, k: int, value: str = "interest") -> list[str]:
    """The k categories with most ``value`` in these rows, ties broken by name (deterministic)."""
    totals = rows.groupby("category", observed=True)[value].sum().reset_index()
    totals = totals.sort_values([value, "category"], ascending=[False, True])
    return [str(c) for c in totals["category"].head(k)]


def fold_categories(rows: pd.DataFrame, keep: Sequence[str], other: str = OTHER) -> pd.Series:
    """Category column with everything not in ``keep`` renamed to ``other``."""
    cats = rows["category"].astype("string")
    return cats.where(cats.isin(list(keep)), other)


def stacked_shares(panel: pd.DataFrame, user_id: str, freq: str, *, top_k: int = 8) -> pd.DataFrame:
    """period, category, interest, share of one user, dense over the user's first..last period.

    Categories past the user's ``top_k`` are folded into 'other', so a stacked chart stays
    readable. Periods without activity have share 0 in every category (a visible gap, not an
    interpolation).
    """
    rows = user_rows(panel, user_id)
    if rows.empty:
        return pd.DataFrame(columns=SHARES_COLUMNS)
    keep = top_categories(rows, top_k)
    rows = rows.assign(category=fold_categories(rows, keep))
    # 'other' once: it can already be one of the user's top categories (a grouping's 'other').
    order = list(dict.fromkeys([*keep, OTHER])) if rows["category"].eq(OTHER).any() else keep
    agg = rows.groupby(["period", "category"], observed=True)[["interest", "share"]].sum()
    grid = period_grid(rows["period"].min(), rows["period"].max(), freq)
    full = pd.MultiIndex.from_product([grid, order], names=["period", "category"])
    out = agg.reindex(full, fill_value=0.0).reset_index()
    out["category"] = out["category"].astype("string")
    return out[SHARES_COLUMNS]


def long_short_interest(panel: pd.DataFrame, spec: PanelSpec, user_id: str, *, top_k: int = 5) -> pd.DataFrame:
    """period, category, long_share, short_share, long_term, short_term for one user's top categories.

    Long- and short-term interest are the spec's two exponentially weighted means
    (``interest.interest_profile``); a short-term share above the long-term one means the
    category is rising for this user right now.
    """
    rows = user_rows(panel, user_id)
    columns = ["period", "category", "long_share", "short_share", "long_term", "short_term"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    profile = interest_profile(rows, spec)
    keep = top_categories(rows, top_k)
    out = profile[profile["category"].isin(keep)][columns].copy()
    out["category"] = out["category"].astype("string")
    return out.sort_values(["category", "period"]).reset_index(drop=True)


def top_category_by_period(frame: pd.DataFrame, share_col: str = "share") -> pd.DataFrame:
    """user_id, period, category, share: each user's top category in each active period.

    Ties go to the alphabetically first category, so the result never depends on row order.
    Periods where every share is 0 (inactive) are dropped.
    """
    active = frame[frame[share_col] > 0]
    ordered = active.sort_values(["user_id", "period", share_col, "category"], ascending=[True, True, False, True])
    top = ordered.drop_duplicates(["user_id", "period"], keep="first")
    return top[["user_id", "period", "category", share_col]].rename(columns={share_col: "share"}).reset_index(
        drop=True)


def change_points(frame: pd.DataFrame, *, share_col: str = "share", min_margin: float = 0.0) -> pd.DataFrame:
    """Periods where a user's top category differs from the top of that user's previous active period.

    Columns: user_id, period, previous_period, from_category (the old top), to_category (the new
    top), from_share (the old top's share now), to_share (the new top's share now).
    ``min_margin`` ignores near-ties: the new top must lead the old one by at least that much share
    (a user flipping between two equal categories every week is not changing interest).
    Pass a short-term profile with ``share_col='short_share'`` for smoothed change points.
    """
    top = top_category_by_period(frame, share_col)
    if top.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    top = top.sort_values(["user_id", "period"])
    same_user = top["user_id"].eq(top["user_id"].shift())
    top["previous_period"] = top["period"].shift().where(same_user)
    top["from_category"] = top["category"].shift().where(same_user)
    changed = top[same_user & top["category"].ne(top["from_category"])].copy()
    shares = frame[["user_id", "period", "category", share_col]].rename(
        columns={"category": "from_category", share_col: "from_share"})
    changed = changed.merge(shares, on=["user_id", "period", "from_category"], how="left")
    changed["from_share"] = changed["from_share"].fillna(0.0)
    changed = changed.rename(columns={"category": "to_category", "share": "to_share"})
    changed = changed[changed["to_share"] - changed["from_share"] >= min_margin]
    out = changed[CHANGE_COLUMNS].sort_values(["user_id", "period"]).reset_index(drop=True)
    for col in ("from_category", "to_category"):
        out[col] = out[col].astype("string")
    return out


def diversity(frame: pd.DataFrame, *, share_col: str = "share", base: float = 2.0) -> pd.DataFrame:
    """Shannon entropy of each user's shares in each active period.

    entropy = -sum(p * log_base(p)) over categories with p > 0 (bits by default);
    effective_categories = base ** entropy (how many equally liked categories it equals);
    evenness = entropy / log_base(n_categories) in [0, 1] (1 = spread evenly; 0 for one category).
    Shares are renormalised per user and period first, so a frame of raw interest works too.
    """
    active = frame.loc[frame[share_col] > 0, ["user_id", "period", share_col]]
    if active.empty:
        return pd.DataFrame(columns=DIVERSITY_COLUMNS)
    keys = ["user_id", "period"]
    p = active[share_col] / active.groupby(keys)[share_col].transform("sum")
    terms = active[keys].assign(h=-p * np.log(p) / np.log(base), n=1)
    out = terms.groupby(keys, as_index=False).agg(entropy=("h", "sum"), n_categories=("n", "sum"))
    out["entropy"] = out["entropy"].clip(lower=0.0)  # -0.0 and rounding below zero for one category
    out["effective_categories"] = base ** out["entropy"]
    max_h = np.log(out["n_categories"].to_numpy(float)) / np.log(base)
    out["evenness"] = np.where(max_h > 0, out["entropy"] / np.where(max_h > 0, max_h, 1.0), 0.0)
    return out[DIVERSITY_COLUMNS]


def profile_card(
    panel: pd.DataFrame,
    user_id: str,
    freq: str,
    *,
    top_n: int = 3,
    segment: str | None = None,
    churn_risk: float | None = None,
    events: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """A plain dict describing one user, for a card at the top of the User page.

    Keys: user_id, top_categories (list of {category, share} over the whole history),
    events, buys, active_periods, span_periods (first to last active period, inclusive), first_seen,
    last_seen, segment, churn_risk.
    first/last seen are exact when the user's raw ``events`` (with ``ts``) are given, else the
    first and last active period start. segment and churn_risk are echoed when known (None otherwise).
    """
    rows = user_rows(panel, user_id)
    counts = [c for c in rows.columns if c.startswith("n_")]
    card: dict[str, Any] = {"user_id": user_id, "top_categories": [], "events": 0, "buys": 0,
                            "active_periods": 0, "span_periods": 0, "first_seen": None, "last_seen": None,
                            "segment": segment, "churn_risk": churn_risk}
    if rows.empty:
        return card
    totals = rows.groupby("category", observed=True)["interest"].sum()
    total = float(totals.sum())
    top = totals.reset_index().sort_values(["interest", "category"], ascending=[False, True]).head(top_n)
    card["top_categories"] = [{"category": str(r.category), "share": float(r.interest) / total if total else 0.0}
                              for r in top.itertuples()]
    card["events"] = int(rows[counts].to_numpy().sum()) if counts else 0
    card["buys"] = int(rows["n_buy"].sum()) if "n_buy" in rows else 0
    periods = rows["period"].drop_duplicates().sort_values()
    card["active_periods"] = len(periods)
    card["span_periods"] = len(period_grid(periods.iloc[0], periods.iloc[-1], freq))
    card["first_seen"] = pd.Timestamp(periods.iloc[0])
    card["last_seen"] = pd.Timestamp(periods.iloc[-1])
    if events is not None and not events.empty and "ts" in events:
        card["first_seen"] = pd.Timestamp(events["ts"].min())
        card["last_seen"] = pd.Timestamp(events["ts"].max())
    return card


def merge_forecast(panel: pd.DataFrame, forecasts: pd.DataFrame, user_id: str, *,
                   categories: Sequence[str] | None = None, freq: str | None = None) -> pd.DataFrame:
    """History and forecast of one user in one long frame for a chart.

    ``forecasts`` is a Forecasts frame (forecasters.base: unique_id, period, model, yhat,
    lo_<L>/hi_<L>) of engagement series, whose unique_id joins user and category (series.pair_id),
    or one that already has user_id and category columns. Output columns: category, period,
    kind ('actual' or 'forecast'), model ('' for actual), interest, share, and lo_<L>/hi_<L>
    (NaN on actual rows). Forecast shares are yhat over the user's summed yhat in that period,
    so the stacked-share chart can continue into the future. With ``freq``, the history is dense
    (0 in the user's inactive periods), so a line chart does not bridge the gaps.
    """
    from interest_core.forecasting.series import split_pair_id

    fc = forecasts
    if "user_id" not in fc or "category" not in fc:
        fc = pd.concat([fc.reset_index(drop=True), split_pair_id(fc["unique_id"]).reset_index(drop=True)], axis=1)
    fc = fc[fc["user_id"].astype(str) == str(user_id)].copy()
    bands = [c for c in fc.columns if c.startswith(("lo_", "hi_"))]
    hist = user_rows(panel, user_id)[["category", "period", "interest", "share"]]
    if freq is not None and not hist.empty:
        last = hist["period"].max()
        if not fc.empty:  # up to the forecast's start: quiet periods before it are zeros, not a gap
            last = max(last, pd.Timestamp(fc["period"].min()) - PERIOD_OFFSETS[freq])
        grid = period_grid(hist["period"].min(), last, freq)
        full = pd.MultiIndex.from_product([hist["category"].unique(), grid], names=["category", "period"])
        hist = hist.groupby(["category", "period"], observed=True).sum().reindex(full, fill_value=0.0).reset_index()
    hist = hist.assign(kind="actual", model="")
    fc = fc.rename(columns={"yhat": "interest"})
    total = fc.groupby(["model", "period"])["interest"].transform("sum")
    fc["share"] = np.where(total > 0, fc["interest"] / total.where(total > 0, 1.0), 0.0)
    if categories is not None:  # after the shares: they stay shares of all the user's interest
        hist = hist[hist["category"].isin(list(categories))]
        fc = fc[fc["category"].isin(list(categories))]
    fc = fc.assign(kind="forecast")[["category", "period", "kind", "model", "interest", "share", *bands]]
    out = pd.concat([hist[["category", "period", "kind", "model", "interest", "share"]], fc], ignore_index=True)
    out["category"] = out["category"].astype("string")
    out["period"] = pd.to_datetime(out["period"])
    return out.sort_values(["kind", "category", "period"], kind="stable").reset_index(drop=True)


def forecast_user(panel: pd.DataFrame, user_id: str, freq: str, *, model: str = "recency_decay", h: int = 4,
                  levels: Sequence[int] = (80, 95), end: Any = None, top_k: int | None = None,
                  params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Fit a forecaster on one user's engagement series (periods up to ``end``, inclusive) and
    return merge_forecast's frame (for the user's ``top_k`` categories, or all of them).

    A per-user fit of a cheap baseline (recency decay by default): its conformal intervals are
    calibrated on this user's own last periods. A model fitted on every user (the forecasting
    page's) can be passed through merge_forecast instead.
    """
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.forecasting.series import training_frame

    rows = user_rows(panel, user_id)
    if end is not None:
        rows = rows[rows["period"] <= pd.Timestamp(end)]
    if rows.empty:
        return merge_forecast(rows, pd.DataFrame(columns=["unique_id", "period", "model", "yhat"]), user_id)
    train = training_frame(rows, "engagement", freq, end=rows["period"].max() if end is None else end)
    forecaster = make_forecaster(model, **(params or {})).fit(train, freq)
    forecasts = forecaster.predict(h, level=list(levels))
    keep = top_categories(rows, top_k) if top_k is not None else None
    return merge_forecast(rows, forecasts, user_id, categories=keep, freq=freq)
