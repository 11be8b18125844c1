"""Rolling-origin backtests: every fold sees only data up to its cutoff, for everything.

For each cutoff (the last training period) a fold rebuilds the category grouping (through
``category_map_fn``), the training frame, the candidate set, the activity tiers and every model
(cloned, then fitted) from periods <= cutoff, and scores the next ``horizon`` periods.

- engagement: candidates are the (user, category) pairs active in the training window; the label
  is y > 0 in any of the next h periods. AUC (pooled), HitRate@K and NDCG@K (per user) on
  p_engage, Brier score, and MAE of the user totals the pair forecasts add up to.
- user_total and category_demand: MAE, RMSE, sMAPE, MASE (non-seasonal scale, series with a flat
  history excluded and counted as ``mase_excluded``), coverage and width of each interval level.

Metrics come overall (segment ``all``) and, where series belong to users, by activity tier
(terciles of the user's training interest). A partial trailing period (pass ``data_end``) is dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting import metrics, series
from interest_core.forecasting.forecasters.base import Forecaster, ProgressCallback, interval_columns, to_matrix
from interest_core.periods import PERIOD_OFFSETS, future_periods, period_grid

TARGETS: tuple[str, ...] = ("engagement", "user_total", "category_demand")
RANK_KS: tuple[int, ...] = (5, 10)
MIN_TRAIN_PERIODS = 3
CategoryMapFn = Callable[[pd.Timestamp], "pd.DataFrame | None"]


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest measured. ``leaderboard`` is the mean over folds of ``fold_metrics``."""

    target: str
    freq: str
    horizon: int
    levels: tuple[int, ...]
    cutoffs: tuple[pd.Timestamp, ...]
    leaderboard: pd.DataFrame  # model, metric, segment, value, n_folds
    fold_metrics: pd.DataFrame  # model, metric, segment, fold, cutoff, value
    forecasts: pd.DataFrame  # unique_id, period, model, yhat, p_engage, lo_/hi_, y, fold, cutoff
    timings: pd.DataFrame  # model, fold, fit_s, predict_s, n_series


def fold_cutoffs(periods: pd.DatetimeIndex, horizon: int, folds: int, step: int) -> list[pd.Timestamp]:
    """Cutoffs (last training period) oldest first, so the last fold's test window ends at the data's end."""
    if horizon < 1 or folds < 1 or step < 1:
        raise ModelError(f"horizon={horizon}, folds={folds}, step={step}", "each must be at least 1")
    last = len(periods) - 1 - horizon
    first = last - step * (folds - 1)
    if first < MIN_TRAIN_PERIODS - 1:
        raise ModelError(
            f"{len(periods)} complete periods cannot hold {folds} folds of horizon {horizon} (step {step}) "
            f"with {MIN_TRAIN_PERIODS}+ training periods each",
            "use fewer folds, a shorter horizon or step, or a finer frequency",
        )
    return [pd.Timestamp(periods[first + step * i]) for i in range(folds)]


def regroup(panel: pd.DataFrame, category_map: pd.DataFrame | None) -> pd.DataFrame:
    """Fold categories into groups (category -> group); unmapped categories keep their id."""
    if category_map is None:
        return panel
    groups = category_map.set_index("category")["group"]
    mapped = panel["category"].map(groups).fillna(panel["category"]).astype("string")
    summed = [c for c in panel.columns if c == "interest" or c.startswith("n_")]
    out = panel.assign(category=mapped).groupby(["user_id", "category", "period"], as_index=False)[summed].sum()
    return out


def topk_map_fn(panel: pd.DataFrame, k: int) -> CategoryMapFn:
    """A category_map_fn keeping the k categories with most interest before each fold's end (rest: other)."""
    from interest_core.grouping import topk_map

    def learn(train_end: pd.Timestamp) -> pd.DataFrame:
        before = panel[panel["period"] < train_end]
        totals = before.groupby("category", as_index=False)["interest"].sum()
        return topk_map(totals, k)

    return learn


def _labels(models: Sequence[Forecaster]) -> list[str]:
    names = [m.name for m in models]
    return [n if names.count(n) == 1 else f"{n}#{names[:i + 1].count(n)}" for i, n in enumerate(names)]


def _with_actuals(forecast: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    y = actual[["unique_id", "period", "y"]].assign(unique_id=lambda d: d["unique_id"].astype(str))
    out = forecast.assign(unique_id=forecast["unique_id"].astype(str)).merge(y, on=["unique_id", "period"],
                                                                             how="left")
    out["y"] = out["y"].fillna(0.0)
    return out


def _rows(values: dict[str, float], segment: str) -> list[dict[str, Any]]:
    return [{"metric": k, "segment": segment, "value": float(v)} for k, v in values.items()]


def _engagement_scores(scored: pd.DataFrame, tiers: pd.Series, user_totals: pd.DataFrame) -> list[dict[str, Any]]:
    """Ranking metrics over candidate pairs, overall and by tier; MAE of implied user totals."""
    grouped = scored.groupby("unique_id", sort=False)
    pairs = pd.DataFrame({
        "score": grouped["p_engage"].first(),
        "yhat_sum": grouped["yhat"].sum(),
        "label": grouped["y"].max() > 0,
    })
    # A model without a probability ranks by its forecast volume instead.
    pairs["score"] = pairs["score"].fillna(pairs["yhat_sum"])
    user_of_pair = series.split_pair_id(pairs.index.to_series())["user_id"]  # split each id once, not per row
    pairs["user_id"] = user_of_pair.to_numpy()
    pairs["tier"] = pairs["user_id"].map(tiers).to_numpy()
    implied = scored.assign(user_id=scored["unique_id"].map(user_of_pair))
    implied = implied.groupby(["user_id", "period"], as_index=False)["yhat"].sum()
    implied = implied.merge(user_totals[["unique_id", "period", "y"]].rename(columns={"unique_id": "user_id"}),
                            on=["user_id", "period"], how="left").fillna({"y": 0.0})
    implied["tier"] = implied["user_id"].map(tiers)
    rows: list[dict[str, Any]] = []
    for segment in ("all", *metrics.TIERS):
        part = pairs if segment == "all" else pairs[pairs["tier"] == segment]
        totals = implied if segment == "all" else implied[implied["tier"] == segment]
        if part.empty:
            continue
        values = {"auc": metrics.auc(part["label"], part["score"])}
        for k in RANK_KS:
            values[f"hit_rate@{k}"] = metrics.hit_rate_at_k(part, k, score_col="score")
            values[f"ndcg@{k}"] = metrics.ndcg_at_k(part, k, score_col="score")
        if grouped["p_engage"].first().notna().all():
            values["brier"] = float(np.mean((part["score"] - part["label"]) ** 2))
        values["positive_rate"] = float(part["label"].mean())
        values["mae_user_total"] = metrics.mae(totals["y"], totals["yhat"])
        rows += _rows(values, segment)
    return rows


def _point_scores(scored: pd.DataFrame, train: pd.DataFrame, levels: tuple[int, ...],
                  tiers: pd.Series | None) -> list[dict[str, Any]]:
    """MAE, RMSE, sMAPE, MASE and interval coverage / width, overall and (user totals) by tier."""
    insample, ids, _ = to_matrix(train)
    wide_y = scored.pivot_table(index="unique_id", columns="period", values="y", aggfunc="sum")
    wide_f = scored.pivot_table(index="unique_id", columns="period", values="yhat", aggfunc="sum")
    id_order = pd.Index(ids.astype(str))
    wide_y, wide_f = wide_y.reindex(id_order), wide_f.reindex(id_order)
    rows: list[dict[str, Any]] = []
    for segment in ("all", *(metrics.TIERS if tiers is not None else ())):
        if segment == "all":
            part, keep = scored, np.ones(len(id_order), dtype=bool)
        else:
            assert tiers is not None
            part = scored[scored["unique_id"].map(tiers) == segment]
            keep = (id_order.to_series().map(tiers) == segment).to_numpy()
        if part.empty:
            continue
        values = {"mae": metrics.mae(part["y"], part["yhat"]), "rmse": metrics.rmse(part["y"], part["yhat"]),
                  "smape": metrics.smape(part["y"], part["yhat"])}
        mase = metrics.mase(wide_y.to_numpy()[keep], wide_f.to_numpy()[keep], insample[keep])
        values.update({"mase": mase.value, "mase_excluded": float(mase.n_excluded)})
        values.update(metrics.interval_metrics(part, levels))
        rows += _rows(values, segment)
    return rows


def run(
    panel: pd.DataFrame,
    target: str,
    models: Sequence[Forecaster],
    freq: str,
    horizon: int,
    folds: int,
    *,
    step: int = 1,
    levels: Sequence[int] = (80, 95),
    data_end: pd.Timestamp | None = None,
    category_map_fn: CategoryMapFn | None = None,
    progress: ProgressCallback | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of ``models`` (cloned per fold) on one target of an interest panel.

    ``step``: periods between cutoffs (1 = overlapping test windows, the most training data per fold;
    ``horizon`` = disjoint windows). ``data_end``: the last event timestamp; a partial last period is
    dropped. ``category_map_fn(train_end)`` returns the (category, group) map learned from events before
    ``train_end`` (the fold's exclusive timestamp bound), or None for raw categories.
    """
    if target not in TARGETS:
        raise ModelError(f"unknown target {target!r}", f"use one of {', '.join(TARGETS)}")
    if not models:
        raise ModelError("no models to backtest", "pass at least one forecaster")
    if panel.empty:
        raise ModelError("the panel is empty", "build it from a dataset with events")
    level_tuple = tuple(int(v) for v in levels)
    last = pd.Timestamp(panel["period"].max())
    if data_end is not None:
        last = series.last_complete_period(last, pd.Timestamp(data_end), freq)
    grid = period_grid(pd.Timestamp(panel["period"].min()), last, freq)
    cutoffs = fold_cutoffs(grid, horizon, folds, step)
    labels = _labels(models)
    metric_rows: list[dict[str, Any]] = []
    timing_rows: list[dict[str, Any]] = []
    forecast_parts: list[pd.DataFrame] = []
    total_steps, done = len(cutoffs) * len(models), 0
    for fold, cutoff in enumerate(cutoffs):
        train_end = cutoff + PERIOD_OFFSETS[freq]
        fold_panel = regroup(panel, category_map_fn(train_end) if category_map_fn is not None else None)
        train_panel = fold_panel[fold_panel["period"] <= cutoff]
        train = series.training_frame(train_panel, target, freq, start=grid[0], end=cutoff)  # type: ignore[arg-type]
        test_periods = future_periods(cutoff, freq, horizon)
        actual = series.actuals(fold_panel, target, test_periods)  # type: ignore[arg-type]
        activity = train_panel.groupby("user_id")["interest"].sum()
        tiers = metrics.activity_tiers(activity.sort_index())
        user_totals = series.actuals(fold_panel, "user_total", test_periods) if target == "engagement" else None
        for model, label in zip(models, labels, strict=True):
            fitted = model.clone()
            started = time.perf_counter()
            fitted.fit(train, freq)
            fit_s = time.perf_counter() - started
            forecast = fitted.predict(horizon, level=level_tuple)
            predict_s = time.perf_counter() - started - fit_s
            scored = _with_actuals(forecast.assign(model=label), actual)
            if target == "engagement":
                assert user_totals is not None
                rows = _engagement_scores(scored, tiers, user_totals)
            else:
                rows = _point_scores(scored, train, level_tuple, tiers if target == "user_total" else None)
            if hasattr(fitted, "n_fallback_"):
                rows.append({"metric": "n_fallback", "segment": "all", "value": float(fitted.n_fallback_)})
            metric_rows += [{"model": label, "fold": fold, "cutoff": cutoff, **r} for r in rows]
            timing_rows.append({"model": label, "fold": fold, "fit_s": fit_s, "predict_s": predict_s,
                                "n_series": int(train["unique_id"].nunique())})
            forecast_parts.append(scored.assign(fold=fold, cutoff=cutoff))
            done += 1
            if progress is not None:
                progress(done / total_steps, f"fold {fold + 1}/{len(cutoffs)}: {label}")
    fold_metrics = pd.DataFrame(metric_rows, columns=["model", "metric", "segment", "fold", "cutoff", "value"])
    board = (fold_metrics.groupby(["model", "metric", "segment"], sort=False)["value"]
             .agg(value="mean", n_folds="count").reset_index())
    columns = ["unique_id", "period", "model", "yhat", "p_engage", *interval_columns(level_tuple), "y", "fold",
               "cutoff"]
    forecasts = pd.concat(forecast_parts, ignore_index=True).reindex(columns=columns)
    forecasts["unique_id"] = forecasts["unique_id"].astype("category")  # engagement folds repeat ids a lot
    return BacktestResult(target=target, freq=freq, horizon=horizon, levels=level_tuple, cutoffs=tuple(cutoffs),
                          leaderboard=board, fold_metrics=fold_metrics, forecasts=forecasts,
                          timings=pd.DataFrame(timing_rows))


def leaderboard_table(result: BacktestResult, segment: str = "all") -> pd.DataFrame:
    """model x metric for one segment, models in the order they were given, for display."""
    board = result.leaderboard[result.leaderboard["segment"] == segment]
    table = board.pivot_table(index="model", columns="metric", values="value", aggfunc="first", sort=False)
    table.columns.name = None
    return table


# -- the "latest backtest" file the Forecasts page reads --------------------------------------

def backtest_path(models_dir: str | Path, dataset: str, target: str, freq: str) -> Path:
    return Path(models_dir) / "backtests" / f"{dataset}-{target}-{freq}.json"


def result_to_json(result: BacktestResult, meta: dict[str, Any] | None = None,
                   max_forecast_rows: int = 20_000) -> dict[str, Any]:
    """JSON-able summary; forecasts are included only when small (aggregates), never per pair."""
    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    out: dict[str, Any] = {
        "meta": {**(meta or {}), "target": result.target, "freq": result.freq, "horizon": result.horizon,
                 "levels": list(result.levels), "cutoffs": [str(c) for c in result.cutoffs],
                 "created_at": datetime.now(UTC).isoformat(timespec="seconds")},
        "leaderboard": records(result.leaderboard),
        "fold_metrics": records(result.fold_metrics),
        "timings": records(result.timings),
    }
    if len(result.forecasts) <= max_forecast_rows:
        out["forecasts"] = records(result.forecasts.assign(unique_id=result.forecasts["unique_id"].astype(str)))
    return out


def write_json(payload: dict[str, Any], path: str | Path) -> Path:
    """Write atomically (temp file in the same folder, then rename): readers never see half a file."""
    from interest_core import atomic

    return atomic.write_json(path, payload)


def read_json(path: str | Path) -> dict[str, Any]:
    """A saved backtest with its frames rebuilt: leaderboard, fold_metrics, timings (and forecasts)."""
    try:
        payload: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"no backtest saved at {str(path)!r}", "run: python -m interest_core backtest NAME") from None
    for key in ("leaderboard", "fold_metrics", "timings", "forecasts"):
        if key in payload:
            payload[key] = pd.DataFrame(payload[key])
    return payload
