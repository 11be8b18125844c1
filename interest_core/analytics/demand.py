"""Category demand: total interest per category (or group) forecast with intervals, and who is moving.

- ``demand_forecast``: candidate forecasters (the registry's baselines, ARIMA, optionally the LSTM)
  are compared by ``backtest.run`` on the category_demand target; the best by MASE (MAE when MASE is
  undefined) is refitted on all the history and forecasts ``horizon`` periods with intervals;
- ``rising_falling``: the recent window's interest per period against the window before, with a
  z-score that treats users as the independent units (one heavy user cannot make a trend).

Categories with fewer than ``min_users`` distinct users are suppressed before anything is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting import backtest, series
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.forecasters.base import ProgressCallback
from interest_core.ingest.privacy import DEFAULT_MIN_GROUP, suppress_small_groups
from interest_core.panel import EventsSource
from interest_core.periods import PERIOD_OFFSETS

DEFAULT_MODELS: tuple[str, ...] = ("last_value", "window_mean", "recency_decay", "arima")
TREND_COLUMNS: tuple[str, ...] = (
    "category", "recent", "previous", "change", "change_pct", "z", "users_recent", "users_previous", "trend",
)


def category_users(panel: pd.DataFrame) -> pd.DataFrame:
    """category, users, interest over the whole panel, most engaged first. A panel of category totals (no
    ``user_id``; page_frames.category_totals_panel) carries each category's distinct users in ``users``."""
    if "user_id" not in panel and "users" in panel:
        out = panel.groupby("category", as_index=False).agg(users=("users", "max"), interest=("interest", "sum"))
    else:
        out = panel.groupby("category", as_index=False).agg(users=("user_id", "nunique"),
                                                           interest=("interest", "sum"))
    return out.sort_values(["interest", "category"], ascending=[False, True], ignore_index=True)


def pick_categories(panel: pd.DataFrame, categories: Sequence[str] | None = None, top_k: int = 12,
                    min_users: int = DEFAULT_MIN_GROUP) -> tuple[list[str], int]:
    """The categories to forecast (given, or the top_k by interest) that have >= min_users users; and how many hid."""
    totals = category_users(panel)
    if categories is not None:
        totals = totals[totals["category"].isin([str(c) for c in categories])]
    shown, hidden = suppress_small_groups(totals, "users", min_users)
    chosen = shown["category"].astype(str).tolist()
    return (chosen if categories is not None else chosen[:top_k]), hidden


@dataclass(frozen=True)
class DemandForecast:
    """The chosen model's forecast of every category, the history it learned from and the leaderboard."""

    freq: str
    horizon: int
    levels: tuple[int, ...]
    best_model: str
    metric: str
    categories: tuple[str, ...]
    hidden: int  # categories suppressed (fewer than min_users users)
    history: pd.DataFrame = field(repr=False)  # category, period, y
    forecast: pd.DataFrame = field(repr=False)  # category, period, model, yhat, lo_<L>, hi_<L>
    leaderboard: pd.DataFrame = field(repr=False)  # model x metric (mean over folds), best first


def choose_model(leaderboard: pd.DataFrame, metric: str = "mase") -> tuple[str, str]:
    """The best model of a ``backtest.leaderboard_table`` by ``metric`` (lower is better), MAE if it is all NaN."""
    used = metric if metric in leaderboard and leaderboard[metric].notna().any() else "mae"
    if used not in leaderboard or leaderboard[used].isna().all():
        raise ModelError("the backtest measured no error to choose a model by", "use more history or fewer folds")
    return str(leaderboard[used].idxmin()), used


def demand_forecast(panel: pd.DataFrame, freq: str, *, categories: Sequence[str] | None = None, top_k: int = 12,
                    horizon: int = 4, folds: int = 3, levels: Sequence[int] = (80, 95),
                    models: Sequence[str] = DEFAULT_MODELS, metric: str = "mase",
                    min_users: int = DEFAULT_MIN_GROUP, last_period: pd.Timestamp | None = None,
                    progress: ProgressCallback | None = None, intervals: str = "model") -> DemandForecast:
    """Backtest ``models`` on the categories' demand series, refit the best on everything, forecast ahead.

    ``last_period``: the last complete period (a partial trailing period would read as a drop).
    ``intervals``: "model" (the model's own), or "backtest" (``backtest_bands``: from the best model's
    backtest errors; for a handful of series, where the model's pooled quantiles cannot tell 80% from 95%).
    """
    if last_period is not None:
        panel = panel[panel["period"] <= pd.Timestamp(last_period)]
    chosen, hidden = pick_categories(panel, categories, top_k, min_users)
    if not chosen:
        raise ModelError(f"no category has {min_users} or more users", "pick other categories or lower the threshold")
    sub = panel[panel["category"].isin(chosen)]
    candidates = [make_forecaster(name) for name in models]
    result = backtest.run(sub, "category_demand", candidates, freq, horizon, folds, step=1, levels=levels,
                          progress=(lambda f, m: progress(0.9 * f, m)) if progress else None)
    board = backtest.leaderboard_table(result)
    best, used = choose_model(board, metric)
    board = board.sort_values(used, kind="stable")
    history = series.training_frame(sub, "category_demand", freq)
    if progress:
        progress(0.92, f"refitting {best} on all the history")
    fitted = make_forecaster(best).fit(history, freq)
    forecast = fitted.predict(horizon, level=levels).rename(columns={"unique_id": "category"})
    forecast = forecast.drop(columns=["p_engage"], errors="ignore")
    forecast["category"] = forecast["category"].astype("string")
    history = history.assign(category=history["unique_id"].astype("string"))[["category", "period", "y"]]
    if intervals == "backtest":
        errors = result.forecasts[result.forecasts["model"].astype(str) == best]
        forecast = backtest_bands(forecast, errors, history, levels)
    return DemandForecast(freq=freq, horizon=horizon, levels=tuple(int(v) for v in levels), best_model=best,
                          metric=used, categories=tuple(chosen), hidden=hidden, history=history,
                          forecast=forecast, leaderboard=board)


def rising_falling(panel: pd.DataFrame, freq: str, *, recent: int = 4, previous: int = 4,
                   last_period: pd.Timestamp | None = None, min_users: int = DEFAULT_MIN_GROUP,
                   z_min: float = 2.0, min_change: float = 0.1) -> tuple[pd.DataFrame, int]:
    """Interest per period in the last ``recent`` periods vs the ``previous`` ones before, per category.

    ``change_pct`` compares per-period means. ``z`` is a paired test over users: the sum of each user's
    change over the root of the sum of their squares (one heavy user's burst is not significant). A
    category is ``rising`` / ``falling`` when |z| >= z_min and |change_pct| >= min_change, else ``steady``.
    Categories with fewer than ``min_users`` users in either window are dropped; the count is returned.
    """
    if recent < 1 or previous < 1:
        raise ModelError("both windows need at least 1 period", "pass recent >= 1 and previous >= 1")
    last = pd.Timestamp(last_period) if last_period is not None else pd.Timestamp(panel["period"].max())
    step = PERIOD_OFFSETS[freq]
    recent_start = last - step * (recent - 1)
    previous_start = recent_start - step * previous
    window = np.where(panel["period"] >= recent_start, "recent",
                      np.where(panel["period"] >= previous_start, "previous", ""))
    rows = panel.assign(window=window)
    rows = rows[(rows["window"] != "") & (rows["period"] <= last)]
    if rows.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS)), 0
    wide = rows.pivot_table(index=["category", "user_id"], columns="window", values="interest", aggfunc="sum",
                            fill_value=0.0, observed=True).reindex(columns=["recent", "previous"], fill_value=0.0)
    # Paired by user: each user's change in per-period interest; a steady user adds nothing to the change
    # or its variance, and sum(d^2) treats users as the independent units (a compound-Poisson error).
    d = wide["recent"] / recent - wide["previous"] / previous
    per = pd.DataFrame({"d": d, "d2": d**2, "recent": wide["recent"] / recent, "previous": wide["previous"] / previous,
                        "in_recent": wide["recent"] > 0, "in_previous": wide["previous"] > 0})
    return _trend_table(per.groupby(level="category", observed=True).sum(), min_users, z_min, min_change)


def rising_falling_sql(source: EventsSource, freq: str, *, last_period: pd.Timestamp, recent: int = 4,
                       previous: int = 4, min_users: int = DEFAULT_MIN_GROUP, z_min: float = 2.0,
                       min_change: float = 0.1) -> tuple[pd.DataFrame, int]:
    """``rising_falling`` of a panel relation (rows of user_id, category, period, interest; the stored panel)
    summed per user and category in DuckDB: no frame of the windows' panel rows. Equal up to float order."""
    if recent < 1 or previous < 1:
        raise ModelError("both windows need at least 1 period", "pass recent >= 1 and previous >= 1")
    last = pd.Timestamp(last_period)
    step = PERIOD_OFFSETS[freq]
    recent_start = last - step * (recent - 1)
    previous_start = recent_start - step * previous
    agg = source.query(f"""
        WITH pair AS (SELECT category, user_id, coalesce(sum(interest) FILTER (WHERE period >= $1), 0) AS r,
                             coalesce(sum(interest) FILTER (WHERE period < $1), 0) AS p
                      FROM {{events}} WHERE period >= $2 AND period <= $3 GROUP BY ALL),
        per AS (SELECT category, r / {int(recent)} AS recent, p / {int(previous)} AS previous,
                       r / {int(recent)} - p / {int(previous)} AS d, r > 0 AS in_recent, p > 0 AS in_previous
                FROM pair)
        SELECT category, sum(d) AS d, sum(d * d) AS d2, sum(recent) AS recent, sum(previous) AS previous,
               count(*) FILTER (WHERE in_recent) AS in_recent, count(*) FILTER (WHERE in_previous) AS in_previous
        FROM per GROUP BY category ORDER BY category""", [recent_start, previous_start, last])
    if agg.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS)), 0
    return _trend_table(agg.set_index("category"), min_users, z_min, min_change)


def _trend_table(agg: pd.DataFrame, min_users: int, z_min: float, min_change: float) -> tuple[pd.DataFrame, int]:
    """The trend rows from per-category sums of d, d2, recent, previous, in_recent, in_previous."""
    out = pd.DataFrame({
        "category": agg.index.astype(str), "recent": agg["recent"].to_numpy(), "previous": agg["previous"].to_numpy(),
        "change": agg["d"].to_numpy(),
        "change_pct": np.where(agg["previous"] > 0, agg["d"] / agg["previous"].where(agg["previous"] > 0), np.nan),
        "z": np.where(agg["d2"] > 0, agg["d"] / np.sqrt(agg["d2"].where(agg["d2"] > 0)), 0.0),
        "users_recent": agg["in_recent"].to_numpy(dtype=int),
        "users_previous": agg["in_previous"].to_numpy(dtype=int),
    })
    out["users_min"] = out[["users_recent", "users_previous"]].min(axis=1)
    out, hidden = suppress_small_groups(out, "users_min", min_users)
    significant = (out["z"].abs() >= z_min) & (out["change_pct"].abs() >= min_change)
    out["trend"] = np.where(significant & (out["change"] > 0), "rising",
                            np.where(significant & (out["change"] < 0), "falling", "steady"))
    out = out.sort_values(["z", "category"], ascending=[False, True], ignore_index=True)
    return out[list(TREND_COLUMNS)], hidden


def planner_table(forecast: pd.DataFrame, label: str = "category") -> pd.DataFrame:
    """The forecast as a planner reads and downloads it: ``label``, period, forecast and interval bounds.

    Values are rounded to whole interest units (a forecast is not more precise than that); bounds
    below zero are shown as 0 (interest cannot be negative).
    """
    levels = sorted(int(c.removeprefix("lo_")) for c in forecast.columns if c.startswith("lo_"))
    out = pd.DataFrame({label: forecast["category"].astype(str), "period": forecast["period"],
                        "forecast": forecast["yhat"].clip(lower=0).round(0)})
    for level in levels:
        out[f"low ({level}%)"] = forecast[f"lo_{level}"].clip(lower=0).round(0)
        out[f"high ({level}%)"] = forecast[f"hi_{level}"].clip(lower=0).round(0)
    return out.sort_values([label, "period"], ignore_index=True)


def trend_table(trends: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """``rising_falling`` rows in the order its chart draws them (largest rise first, largest fall last)."""
    order = trends.reindex(trends["change_pct"].abs().sort_values(ascending=False).index)
    if top is not None:
        order = order.head(top)
    return order.sort_values("change_pct", ascending=False, ignore_index=True)


def backtest_bands(forecast: pd.DataFrame, errors: pd.DataFrame, history: pd.DataFrame,
                   levels: Sequence[int]) -> pd.DataFrame:
    """``forecast`` with lo_/hi_<L> = yhat -/+ the L% quantile of the backtest's absolute errors.

    Errors are relative to each series' mean level (so series of different sizes pool) and taken per
    periods-ahead step, pooled over steps where a step has under 10; the half-width never narrows
    with the step. ``errors``: one model's backtest forecasts (unique_id, fold, period, y, yhat).
    """
    if errors.empty:
        return forecast
    scale = history.groupby("category")["y"].mean().clip(lower=1e-9)
    rows = errors.sort_values(["unique_id", "fold", "period"])
    step = rows.groupby(["unique_id", "fold"]).cumcount().to_numpy() + 1
    level_of = rows["unique_id"].astype(str).map(scale.rename(index=str)).to_numpy(dtype=float)
    rel = pd.Series(np.abs(rows["y"].to_numpy(dtype=float) - rows["yhat"].to_numpy(dtype=float)) / level_of)
    out = forecast.sort_values(["category", "period"]).copy()
    ahead = out.groupby("category").cumcount().to_numpy() + 1
    out_scale = out["category"].astype(str).map(scale.rename(index=str)).to_numpy(dtype=float)
    for level in levels:
        q = float(level) / 100
        pooled = float(rel.quantile(q))
        per_step = {s: (float(rel[step == s].quantile(q)) if (step == s).sum() >= 10 else pooled)
                    for s in range(1, int(ahead.max()) + 1)}
        width = np.maximum.accumulate(np.array([per_step[s] for s in range(1, int(ahead.max()) + 1)]))
        half = width[ahead - 1] * out_scale
        out[f"lo_{level}"] = out["yhat"].to_numpy(dtype=float) - half
        out[f"hi_{level}"] = out["yhat"].to_numpy(dtype=float) + half
    return out.reset_index(drop=True)
