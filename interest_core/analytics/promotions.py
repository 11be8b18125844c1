"""Promotion targeting: who to contact about a category next period, how many that reaches, and proof.

- ``promotion_list``: users ranked by forecast engagement probability (``p_engage`` of a Forecasts
  frame: the chance of any interest in the category over the forecast horizon), optionally without
  users at high churn risk, with the expected reach of each list length;
- ``reach_curve``: a gains curve (expected engaged users vs list length, against a random list);
- ``backtest_lift``: at past cutoffs, of the top-N users by the model vs the top-N by recency (most
  recently engaged with the category first), how many actually engaged in the next horizon.

Candidates are the users with a (user, category) series, i.e. who engaged with the category in the
training window: a user who never did has no forecast and is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.export import safe_csv
from interest_core.forecasting import series
from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.periods import future_periods, period_grid

if TYPE_CHECKING:
    from interest_core.analytics.promotion_model import FoldCache

LIST_COLUMNS: tuple[str, ...] = ("rank", "user_id", "p_engage", "churn_risk", "expected_reach", "reach_share")
DEFAULT_LIST_SIZES: tuple[int, ...] = (10, 25, 50, 100, 200)


def _categories(category: str | Sequence[str]) -> list[str]:
    return [category] if isinstance(category, str) else [str(c) for c in category]


def engagement_scores(forecasts: pd.DataFrame, period: pd.Timestamp | None = None) -> pd.DataFrame:
    """user_id, category, p_engage: one row per series of an engagement Forecasts frame.

    ``p_engage`` is the same on every row of a series; where a model gives none (NaN), the chance of
    engaging is read from yhat as 1 - exp(-yhat) (a Poisson guess), so every model can rank users.
    """
    frame = forecasts if period is None else forecasts[forecasts["period"] == pd.Timestamp(period)]
    if frame.empty:
        raise ModelError("the forecasts hold no rows for that period", "pick a period inside the forecast horizon")
    if "user_id" not in frame or "category" not in frame:
        frame = pd.concat([frame, series.split_pair_id(frame["unique_id"])], axis=1)
    guess = 1.0 - np.exp(-frame["yhat"].clip(lower=0).to_numpy(dtype=float))
    p = frame["p_engage"].to_numpy(dtype=float)
    frame = frame.assign(p_engage=np.where(np.isnan(p), guess, p))
    out = frame.groupby(["user_id", "category"], as_index=False, sort=False)["p_engage"].max()
    return out.astype({"user_id": "string", "category": "string"})


def promotion_list(forecasts: pd.DataFrame, category: str | Sequence[str], *,
                   churn: pd.DataFrame | None = None, max_churn_risk: float | None = None,
                   size: int | None = None, period: pd.Timestamp | None = None) -> pd.DataFrame:
    """Users ranked by the chance of engaging with ``category`` (several: with any of them).

    For a group, p = 1 - prod(1 - p_c) over its categories (independence assumed: an upper bound when a
    user's interests move together). ``churn`` (user_id, risk) adds ``churn_risk``; with
    ``max_churn_risk`` users at or above it are left out (users without a score stay: not active lately).
    ``expected_reach`` is the sum of p_engage down the list: the engaged users a list this long should hold.
    """
    cats = _categories(category)
    scores = engagement_scores(forecasts, period)
    scores = scores[scores["category"].isin(cats)]
    if scores.empty:
        raise ModelError(f"no forecast for category {', '.join(cats)!r}",
                         "pick a category that users engaged with during the training window")
    miss = scores.assign(q=np.log1p(-scores["p_engage"].clip(0.0, 1.0 - 1e-12)))
    ranked = miss.groupby("user_id", as_index=False)["q"].sum()
    ranked["p_engage"] = -np.expm1(ranked["q"])
    ranked = ranked.drop(columns="q")
    if churn is not None:
        ranked = ranked.merge(churn[["user_id", "risk"]].astype({"user_id": "string"}), on="user_id", how="left")
        ranked = ranked.rename(columns={"risk": "churn_risk"})
        if max_churn_risk is not None:
            ranked = ranked[~(ranked["churn_risk"] >= max_churn_risk)]
    else:
        ranked["churn_risk"] = np.nan
    ranked = _ranked_with_reach(ranked)
    return ranked[list(LIST_COLUMNS)].head(size) if size else ranked[list(LIST_COLUMNS)]


def _ranked_with_reach(ranked: pd.DataFrame) -> pd.DataFrame:
    """Users by chance to engage (ties by id), with their rank and the expected reach down the list."""
    ranked = ranked.sort_values(["p_engage", "user_id"], ascending=[False, True], ignore_index=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked["expected_reach"] = ranked["p_engage"].cumsum()
    total = float(ranked["p_engage"].sum())
    ranked["reach_share"] = ranked["expected_reach"] / total if total > 0 else 0.0
    return ranked


def reach_curve(ranked: pd.DataFrame, points: int = 200) -> pd.DataFrame:
    """list_size, expected_engaged, random_expected, reach_share from a full ``promotion_list``.

    At most ``points`` rows (evenly spaced list sizes, always including the last), so a chart stays small.
    """
    n = len(ranked)
    if n == 0:
        return pd.DataFrame(columns=["list_size", "expected_engaged", "random_expected", "reach_share"])
    sizes = np.unique(np.linspace(1, n, min(points, n)).round().astype(int))
    expected = ranked["expected_reach"].to_numpy()[sizes - 1]
    mean_p = float(ranked["p_engage"].mean())
    total = float(ranked["p_engage"].sum()) or 1.0
    return pd.DataFrame({"list_size": sizes, "expected_engaged": expected, "random_expected": sizes * mean_p,
                         "reach_share": expected / total})


def export_list(ranked: pd.DataFrame) -> bytes:
    """The list as CSV whose cells cannot run as spreadsheet formulas."""
    return safe_csv(ranked)


# -- backtest ------------------------------------------------------------------------------------

def recency_ranking(panel: pd.DataFrame, categories: Sequence[str], cutoff: pd.Timestamp) -> pd.DataFrame:
    """user_id, last_period, periods_active, interest: users of the categories, most recently engaged first.

    The baseline a marketer would use without a model: whoever looked at the category last, then most often.
    """
    rows = panel[panel["category"].isin(list(categories)) & (panel["period"] <= pd.Timestamp(cutoff))]
    out = rows.groupby("user_id", as_index=False).agg(last_period=("period", "max"),
                                                      periods_active=("period", "nunique"),
                                                      interest=("interest", "sum"))
    out = out.sort_values(["last_period", "periods_active", "interest", "user_id"],
                          ascending=[False, False, False, True], ignore_index=True)
    return out.astype({"user_id": "string"})


@dataclass(frozen=True)
class LiftResult:
    """Hits of the model's and the recency list at each list size, summed over the backtest cutoffs."""

    categories: tuple[str, ...]
    horizon: int
    cutoffs: tuple[pd.Timestamp, ...]
    table: pd.DataFrame = field(repr=False)  # list_size, model_hits, recency_hits, random_hits, lift, ...

    def lift_at(self, size: int) -> float:
        row = self.table[self.table["list_size"] == size]
        return float(row["lift_vs_recency"].iloc[0]) if len(row) else float("nan")


def backtest_lift(panel: pd.DataFrame, make_model: Callable[[], Forecaster], category: str | Sequence[str], *,
                  freq: str, horizon: int = 1, n_cutoffs: int = 3, last_period: pd.Timestamp | None = None,
                  list_sizes: Sequence[int] = DEFAULT_LIST_SIZES, history: int | None = None) -> LiftResult:
    """Top-N by the model vs top-N by recency at the last ``n_cutoffs`` cutoffs whose next horizon is known.

    At each cutoff the model is fitted on the engagement frame of periods <= cutoff (``history``: only
    the last that many), and both lists are drawn from the same candidates (users of the category in
    that window). A hit is a listed user with interest in the category during the next ``horizon`` periods.
    """
    cats = tuple(_categories(category))
    cutoffs, totals = _lift_totals(panel, make_model, [cats], freq=freq, horizon=horizon, n_cutoffs=n_cutoffs,
                                   last_period=last_period, list_sizes=list_sizes, history=history)
    return LiftResult(categories=cats, horizon=horizon, cutoffs=cutoffs, table=_lift_table(totals[cats]))


def lift_by_category(panel: pd.DataFrame, make_model: Callable[[], Forecaster], categories: Sequence[str], *,
                     freq: str, horizon: int = 1, n_cutoffs: int = 3, last_period: pd.Timestamp | None = None,
                     list_sizes: Sequence[int] = DEFAULT_LIST_SIZES, history: int | None = None) -> pd.DataFrame:
    """``backtest_lift`` of many categories with one model fit per cutoff: the lift table plus ``category``."""
    targets = [(str(c),) for c in categories]
    _, totals = _lift_totals(panel, make_model, targets, freq=freq, horizon=horizon, n_cutoffs=n_cutoffs,
                             last_period=last_period, list_sizes=list_sizes, history=history)
    return pd.concat([_lift_table(totals[t]).assign(category=t[0]) for t in targets], ignore_index=True)


def _lift_totals(panel: pd.DataFrame, make_model: Callable[[], Forecaster], targets: Sequence[tuple[str, ...]], *,
                 freq: str, horizon: int, n_cutoffs: int, last_period: pd.Timestamp | None,
                 list_sizes: Sequence[int], history: int | None
                 ) -> tuple[tuple[pd.Timestamp, ...], dict[tuple[str, ...], dict[int, np.ndarray]]]:
    last = pd.Timestamp(last_period) if last_period is not None else pd.Timestamp(panel["period"].max())
    grid = period_grid(pd.Timestamp(panel["period"].min()), last, freq)
    ends = list(range(len(grid) - 1 - horizon - n_cutoffs + 1, len(grid) - horizon))
    if not ends or ends[0] < 2:
        raise ModelError(f"{len(grid)} periods cannot hold {n_cutoffs} cutoffs of horizon {horizon}",
                         "use fewer cutoffs or a shorter horizon")
    sizes = sorted({int(s) for s in list_sizes if s > 0})
    # per target and list size: model hits, recency hits, random expected, listed
    totals = {t: {s: np.zeros(4) for s in sizes} for t in targets}
    for t in ends:
        cutoff = grid[t]
        start = grid[max(0, t - history + 1)] if history else grid[0]
        window = panel[(panel["period"] <= cutoff) & (panel["period"] >= start)]
        train = series.training_frame(window, "engagement", freq, start=start, end=cutoff)
        scores = engagement_scores(make_model().fit(train, freq).predict(horizon))
        future = future_periods(cutoff, freq, horizon)
        ahead = panel[panel["period"].isin(future) & (panel["interest"] > 0)]
        for cats in targets:
            if not scores["category"].isin(cats).any():
                continue
            model_list = promotion_list(scores.assign(yhat=0.0), cats)
            base = recency_ranking(window, cats, cutoff)
            base = base[base["user_id"].isin(model_list["user_id"])]
            engaged = set(ahead.loc[ahead["category"].isin(cats), "user_id"].astype(str))
            pool_rate = float(model_list["user_id"].astype(str).isin(engaged).mean())
            for s in sizes:
                listed = min(s, len(model_list))
                totals[cats][s] += [model_list["user_id"].head(s).astype(str).isin(engaged).sum(),
                                    base["user_id"].head(s).astype(str).isin(engaged).sum(),
                                    pool_rate * listed, listed]
    return tuple(grid[ends]), totals


def _lift_table(totals: dict[int, np.ndarray]) -> pd.DataFrame:
    rows = []
    for s, (model_hits, base_hits, random_hits, listed) in totals.items():
        rows.append({"list_size": s, "listed": int(listed), "model_hits": int(model_hits),
                     "recency_hits": int(base_hits), "random_hits": random_hits,
                     "model_precision": model_hits / listed if listed else np.nan,
                     "recency_precision": base_hits / listed if listed else np.nan,
                     "lift_vs_recency": model_hits / base_hits if base_hits else np.nan,
                     "lift_vs_random": model_hits / random_hits if random_hits else np.nan})
    return pd.DataFrame(rows)


# -- the learned list (users new to the category included) ---------------------------------------

def learned_list(scores: pd.DataFrame, category: str | Sequence[str]) -> pd.DataFrame:
    """``promotion_list``'s columns (+ ``new_to_category``) from ``PromotionModel.score`` rows of the categories."""
    cats = _categories(category)
    rows = scores[scores["category"].isin(cats)]
    if rows.empty:
        raise ModelError(f"no candidates for category {', '.join(cats)!r}",
                         "pick a category users engaged with in the history window")
    grouped = rows.assign(q=np.log1p(-rows["p_engage"].clip(0.0, 1.0 - 1e-12))).groupby("user_id", as_index=False)
    ranked = grouped.agg(q=("q", "sum"), new_to_category=("new_to_category", "all"))
    ranked["p_engage"] = -np.expm1(ranked["q"])
    ranked["churn_risk"] = np.nan
    return _ranked_with_reach(ranked)[[*LIST_COLUMNS, "new_to_category"]]


def learned_lift(panel: pd.DataFrame, categories: Sequence[str | Sequence[str]], *, freq: str, horizon: int = 4,
                 n_cutoffs: int = 3, last_period: pd.Timestamp | None = None,
                 list_sizes: Sequence[int] = DEFAULT_LIST_SIZES, history: int = 26,
                 cache: FoldCache | None = None) -> pd.DataFrame:
    """The learned list vs the recency list at the last ``n_cutoffs`` cutoffs whose next horizon is known.

    One row per target and list size: ``_lift_table``'s columns plus ``expected_hits`` (the model's
    own expectation for its list, summed over cutoffs: hits and expectation share population,
    horizon and unit) and ``cutoffs``. The recency list is every past user of the category, most
    recent first; the learned list may also hold users new to it. ``cache``: folds already built
    from the same panel up to ``last_period`` (the page shares them with its list's model).
    """
    from interest_core.analytics.promotion_model import FoldCache, PromotionModel

    last = pd.Timestamp(last_period) if last_period is not None else pd.Timestamp(panel["period"].max())
    panel = panel[panel["period"] <= last]
    cache = cache if cache is not None else FoldCache(panel, freq, history)
    n = len(cache.grid)
    ends = list(range(n - horizon - n_cutoffs, n - horizon))
    if not ends or ends[0] < horizon + 1:
        raise ModelError(f"{n} periods cannot hold {n_cutoffs} cutoffs of horizon {horizon} with a past to learn from",
                         "use fewer cutoffs or a shorter horizon")
    targets = [tuple(_categories(c)) for c in categories]
    sizes = sorted({int(s) for s in list_sizes if s > 0})
    totals = {t: {s: np.zeros(5) for s in sizes} for t in targets}
    for t in ends:
        cutoff = cache.grid[t]
        model = PromotionModel(freq, horizon, history).fit(panel, cutoff, cache)
        scores = model.score(sorted({c for cats in targets for c in cats}))
        window = panel[panel["period"] >= model.fold_.periods[0]]
        ahead = panel[panel["period"].isin(future_periods(cutoff, freq, horizon)) & (panel["interest"] > 0)]
        for cats in targets:
            if not scores["category"].isin(cats).any():
                continue
            listed_model = learned_list(scores, cats)
            base = recency_ranking(window[window["period"] <= cutoff], cats, cutoff)
            engaged = set(ahead.loc[ahead["category"].isin(cats), "user_id"].astype(str))
            pool_rate = float(listed_model["user_id"].astype(str).isin(engaged).mean())
            for s in sizes:
                top = listed_model.head(s)
                totals[cats][s] += [top["user_id"].astype(str).isin(engaged).sum(),
                                    base["user_id"].head(s).astype(str).isin(engaged).sum(),
                                    pool_rate * len(top), len(top), top["p_engage"].sum()]
    frames = []
    for cats in targets:
        table = _lift_table({s: v[:4] for s, v in totals[cats].items()})
        table["expected_hits"] = [totals[cats][s][4] for s in sizes]
        frames.append(table.assign(category=" + ".join(cats), cutoffs=len(ends)))
    return pd.concat(frames, ignore_index=True)


# -- what a list is worth ------------------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    """Engaged users a list of ``list_size`` should hold over the horizon, the model's and the backtest's view.

    ``model_expected`` sums the listed users' chances; ``backtest_per_cutoff`` is what lists this long
    held on average at the backtest cutoffs and ``backtest_expected`` what the model expected there;
    ``expected`` scales the model's sum by held / expected (a model that was too sure is corrected).
    """

    list_size: int
    model_expected: float
    backtest_per_cutoff: float
    backtest_expected: float
    expected: float


def reconcile(ranked: pd.DataFrame, lift: pd.DataFrame, list_size: int, *, source: str = "model") -> Reach:
    """``Reach`` of the top ``list_size`` of ``ranked`` (a learned list) from its ``learned_lift`` rows.

    The backtest row used is the largest list size not above ``list_size`` (else the smallest); with
    ``source="recency"`` the recency list's hits are used and the expectation is its hit rate x size.
    """
    size = int(min(list_size, len(ranked)))
    model_expected = float(ranked["p_engage"].head(size).sum()) if "p_engage" in ranked else float("nan")
    if lift.empty:
        return Reach(size, model_expected, float("nan"), float("nan"), model_expected)
    fits = lift[lift["list_size"] <= list_size]
    row = (fits.iloc[-1] if len(fits) else lift.iloc[0])
    cutoffs = float(row.get("cutoffs", 1) or 1)
    hits = float(row["recency_hits" if source == "recency" else "model_hits"]) / cutoffs
    listed = float(row["listed"]) / cutoffs
    if source == "recency":
        rate = hits / listed if listed else float("nan")
        return Reach(size, float("nan"), hits, float("nan"), min(rate, 1.0) * size)
    backtest_expected = float(row["expected_hits"]) / cutoffs
    ratio = hits / backtest_expected if backtest_expected > 0 else 1.0
    return Reach(size, model_expected, hits, backtest_expected, min(model_expected * ratio, float(size)))


@dataclass(frozen=True)
class WhatIf:
    """Cost and return of contacting a list: money in the units the user typed."""

    list_size: int
    engaged: float
    cost: float
    value: float

    @property
    def net(self) -> float:
        return self.value - self.cost

    @property
    def return_on_cost(self) -> float:
        return self.net / self.cost if self.cost > 0 else float("nan")


def what_if(list_size: int, engaged: float, cost_per_contact: float, value_per_engaged: float) -> WhatIf:
    """Expected engaged users, total cost, value and net return of contacting ``list_size`` users."""
    if list_size < 0 or cost_per_contact < 0 or value_per_engaged < 0:
        raise ModelError("a list size, cost or value is negative", "enter zero or more")
    return WhatIf(list_size=int(list_size), engaged=float(engaged), cost=list_size * float(cost_per_contact),
                  value=float(engaged) * float(value_per_engaged))
