"""Rolling-origin backtests: every fold sees only data up to its cutoff, for everything.

For each cutoff (the last training period) a fold rebuilds the category grouping (through
``category_map_fn``), the training frame, the candidate set, the activity tiers and every model
(cloned, then fitted) from periods <= cutoff, and scores the next ``horizon`` periods.

- engagement: candidates are the (user, category) pairs of users active in the last ``lookback``
  periods before the cutoff; the label is y > 0 in any of the next h periods. Each model ranks by
  its own score: pooled AUC and per-user gauc, HitRate / precision / recall / NDCG @K (ties broken
  pessimistically) beside a random ranking's (model ``random``), each with a bootstrap interval over
  users and the users counted; the share of the window's positive pairs the candidates hold
  (``coverage``); Brier score of p_engage; MAE of the user totals the pair forecasts add up to.
- next_interest: every category for each active user, new ones included (see ``next_interest``).
- user_total and category_demand: MAE, RMSE, sMAPE, MASE (non-seasonal scale, series with a flat
  history excluded and counted as ``mase_excluded``), coverage and width of each interval level.

Metrics come overall (segment ``all``) and, where series belong to users, by activity tier
(terciles of the user's training interest). A partial trailing period (pass ``data_end``) is dropped.
Cutoffs are ``step`` periods apart, by default ``horizon``: test windows do not overlap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting import metrics, ranking, series
from interest_core.forecasting.forecasters.base import Forecaster, ProgressCallback, interval_columns, to_matrix
from interest_core.periods import PERIOD_OFFSETS, future_periods, period_grid

TARGETS: tuple[str, ...] = ("engagement", "user_total", "category_demand")  # per-series forecasts (the pages')
ALL_TARGETS: tuple[str, ...] = (*TARGETS, "next_interest")  # + ranking every category per user
RANK_KS: tuple[int, ...] = ranking.KS
RANDOM = "random"  # the model label of a random ranking's expected metrics, beside the models
MIN_TRAIN_PERIODS = 3
DEFAULT_LOOKBACK = 4  # periods: who counts as an active user at a cutoff
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
    step: int = 1  # periods between cutoffs (= horizon: test windows do not overlap)
    lookback: int | None = None  # ranking targets: candidates are users active in this many periods


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


def category_totals(panel: pd.DataFrame) -> pd.DataFrame:
    """category, period, interest: the rows a category_demand backtest reads (its series and actuals sum
    interest by category and period), summed once instead of once per fold over every user's rows. Each
    fold's sums are those of the full rows (each group's rows are summed in the same order, once)."""
    if "user_id" not in panel.columns:  # summed already (page_frames.category_totals_panel)
        return panel[["category", "period", "interest"]]
    return panel.groupby(["category", "period"], as_index=False, observed=True, sort=False)["interest"].sum()


def regroup(panel: pd.DataFrame, category_map: pd.DataFrame | None) -> pd.DataFrame:
    """Fold categories into groups (category -> group); unmapped categories keep their id. ``panel``: per user,
    category and period, or per category and period (``category_totals``)."""
    if category_map is None:
        return panel
    groups = category_map.set_index("category")["group"]
    mapped = panel["category"].map(groups).fillna(panel["category"]).astype("string")
    summed = [c for c in panel.columns if c == "interest" or c.startswith("n_")]
    keys = [c for c in ("user_id", "category", "period") if c in panel.columns]
    return panel.assign(category=mapped).groupby(keys, as_index=False)[summed].sum()


def topk_map_fn(panel: pd.DataFrame, k: int) -> CategoryMapFn:
    """A category_map_fn keeping the k categories with most interest before each fold's end (rest: other)."""
    from interest_core.grouping import topk_map

    def learn(train_end: pd.Timestamp) -> pd.DataFrame:
        before = panel[panel["period"] < train_end]
        totals = before.groupby("category", as_index=False)["interest"].sum()
        return topk_map(totals, k)

    return learn


def model_labels(models: Sequence[Forecaster]) -> list[str]:
    names = [m.name for m in models]
    return [n if names.count(n) == 1 else f"{n}#{names[:i + 1].count(n)}" for i, n in enumerate(names)]


def _with_actuals(forecast: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    y = actual[["unique_id", "period", "y"]].assign(unique_id=lambda d: d["unique_id"].astype(str))
    out = forecast.assign(unique_id=forecast["unique_id"].astype(str)).merge(y, on=["unique_id", "period"],
                                                                             how="left")
    out["y"] = out["y"].fillna(0.0)
    return out


def estimate_rows(values: Mapping[str, float | ranking.Estimate], segment: str) -> list[dict[str, Any]]:
    rows = []
    for k, v in values.items():
        est = v if isinstance(v, ranking.Estimate) else ranking.Estimate(float(v), np.nan, np.nan, -1)
        rows.append({"metric": k, "segment": segment, "value": float(est.value), "lo": est.lo, "hi": est.hi,
                     "n_users": est.n if est.n >= 0 else np.nan})
    return rows


def active_users(train_panel: pd.DataFrame, cutoff: pd.Timestamp, freq: str, lookback: int | None) -> pd.Index:
    """Users with interest in the last ``lookback`` periods up to the cutoff (every user when None)."""
    recent = train_panel
    if lookback is not None:
        recent = train_panel[train_panel["period"] > cutoff - PERIOD_OFFSETS[freq] * lookback]
    totals = recent.groupby("user_id")["interest"].sum()
    return pd.Index(totals.index[totals.to_numpy() > 0].astype(str))


def _engagement_scores(scored: pd.DataFrame, tiers: pd.Series, user_totals: pd.DataFrame, active: pd.Index,
                       positives: pd.DataFrame, score_col: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ranking metrics over the active users' candidate pairs, overall and by tier, and a random ranking's.

    Each model ranks by its own score (``score_col``: its summed forecast, or its own probability);
    the calibrated p_engage serves the Brier score only.
    """
    grouped = scored.groupby("unique_id", sort=False)
    pairs = pd.DataFrame({
        "p_engage": grouped["p_engage"].first(),
        "yhat_sum": grouped["yhat"].sum(),
        "label": grouped["y"].max() > 0,
    })
    pairs["score"] = pairs["p_engage"] if score_col == "p_engage" else pairs["yhat_sum"]
    split = series.split_pair_id(pairs.index.to_series())  # split each id once, not per row
    pairs["user_id"], pairs["category"] = split["user_id"].to_numpy(), split["category"].to_numpy()
    user_of_pair = pairs["user_id"]
    pairs = pairs[pairs["user_id"].isin(active)]
    pairs["tier"] = pairs["user_id"].map(tiers).to_numpy()
    implied = scored.assign(user_id=scored["unique_id"].map(user_of_pair))
    implied = implied[implied["user_id"].isin(active)]
    implied = implied.groupby(["user_id", "period"], as_index=False)["yhat"].sum()
    implied = implied.merge(user_totals[["unique_id", "period", "y"]].rename(columns={"unique_id": "user_id"}),
                            on=["user_id", "period"], how="left").fillna({"y": 0.0})
    implied["tier"] = implied["user_id"].map(tiers)
    has_probability = bool(pairs["p_engage"].notna().all())
    rows: list[dict[str, Any]] = []
    random_rows: list[dict[str, Any]] = []
    for segment in ("all", *metrics.TIERS):
        part = pairs if segment == "all" else pairs[pairs["tier"] == segment]
        totals = implied if segment == "all" else implied[implied["tier"] == segment]
        if part.empty:
            continue
        per_user = ranking.frame_ranking(part, RANK_KS)
        summary = ranking.summarise(per_user, RANK_KS)
        values: dict[str, float | ranking.Estimate] = {
            "auc": ranking.pooled_auc(part["label"], part["score"], part["user_id"]), "gauc": summary["gauc"]}
        values.update({k: v for k, v in summary.items() if k != "gauc" and not k.startswith("random_")})
        if has_probability:
            values["brier"] = float(np.mean((part["p_engage"] - part["label"]) ** 2))
        values["positive_rate"] = float(part["label"].mean())
        values["mae_user_total"] = metrics.mae(totals["y"], totals["yhat"])
        values["n_candidates"] = float(len(part))
        if segment == "all":
            values["coverage"] = metrics.candidate_coverage(part, positives)
        rows += estimate_rows(values, segment)
        random_values: dict[str, float | ranking.Estimate] = {"auc": 0.5, "gauc": 0.5}
        random_values.update({k.removeprefix("random_"): v for k, v in summary.items() if k.startswith("random_")})
        random_rows += estimate_rows(random_values, segment)
    return rows, random_rows


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
        rows += estimate_rows(values, segment)
    return rows


def run(
    panel: pd.DataFrame,
    target: str,
    models: Sequence[Forecaster],
    freq: str,
    horizon: int,
    folds: int,
    *,
    step: int | None = None,
    lookback: int | None = DEFAULT_LOOKBACK,
    levels: Sequence[int] = (80, 95),
    data_end: pd.Timestamp | None = None,
    category_map_fn: CategoryMapFn | None = None,
    progress: ProgressCallback | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of ``models`` (cloned per fold) on one target of an interest panel.

    ``step``: periods between cutoffs (default ``horizon``: disjoint test windows; 1 overlaps them).
    ``lookback``: for ranking targets, candidates are the users with interest in the last ``lookback``
    periods up to the cutoff (None: every user of the training window). ``data_end``: the last event
    timestamp; a partial last period is dropped. ``category_map_fn(train_end)`` returns the (category,
    group) map learned from events before ``train_end`` (the fold's exclusive bound), or None.
    """
    if target not in ALL_TARGETS:
        raise ModelError(f"unknown target {target!r}", f"use one of {', '.join(ALL_TARGETS)}")
    if not models:
        raise ModelError("no models to backtest", "pass at least one forecaster")
    if panel.empty:
        raise ModelError("the panel is empty", "build it from a dataset with events")
    if lookback is not None and lookback < 1:
        raise ModelError(f"lookback={lookback}", "pass lookback >= 1 periods, or None for every user")
    step = horizon if step is None else step
    if target == "next_interest":  # ranks every category: its own loop (it builds on this module)
        raise ModelError("backtest.run does not rank every category",
                         "use interest_core.forecasting.next_interest.evaluate.run_next_interest")
    level_tuple = tuple(int(v) for v in levels)
    if target == "category_demand":  # totals are all it reads; groups fold them as they fold users' rows
        panel = category_totals(panel)
    last = pd.Timestamp(panel["period"].max())
    if data_end is not None:
        last = series.last_complete_period(last, pd.Timestamp(data_end), freq)
    grid = period_grid(pd.Timestamp(panel["period"].min()), last, freq)
    cutoffs = fold_cutoffs(grid, horizon, folds, step)
    labels = model_labels(models)
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
        # users' tiers and the active users score user totals and engagement only (a group-by of every user)
        tiers, active = pd.Series(dtype=object), pd.Index([])
        if target != "category_demand":
            activity = train_panel.groupby("user_id")["interest"].sum()
            tiers = metrics.activity_tiers(activity.sort_index())
            active = active_users(train_panel, cutoff, freq, lookback)
        user_totals = series.actuals(fold_panel, "user_total", test_periods) if target == "engagement" else None
        if target == "engagement":
            tiers = metrics.activity_tiers(activity[activity.index.astype(str).isin(active)].sort_index())
        random_rows: list[dict[str, Any]] = []
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
                positives = actual[actual["y"] > 0]
                rows, random_rows = _engagement_scores(scored, tiers, user_totals, active, positives,
                                                       getattr(fitted, "ranking_score", "yhat"))
            else:
                rows = _point_scores(scored, train, level_tuple, tiers if target == "user_total" else None)
            if hasattr(fitted, "n_fallback_"):
                rows += estimate_rows({"n_fallback": float(fitted.n_fallback_)}, "all")
            metric_rows += [{"model": label, "fold": fold, "cutoff": cutoff, **r} for r in rows]
            timing_rows.append({"model": label, "fold": fold, "fit_s": fit_s, "predict_s": predict_s,
                                "n_series": int(train["unique_id"].nunique())})
            forecast_parts.append(scored.assign(fold=fold, cutoff=cutoff))
            done += 1
            if progress is not None:
                progress(done / total_steps, f"fold {fold + 1}/{len(cutoffs)}: {label}")
        metric_rows += [{"model": RANDOM, "fold": fold, "cutoff": cutoff, **r} for r in random_rows]
    fold_metrics = metrics_frame(metric_rows)
    board = leaderboard_of(fold_metrics)
    columns = ["unique_id", "period", "model", "yhat", "p_engage", *interval_columns(level_tuple), "y", "fold",
               "cutoff"]
    forecasts = pd.concat(forecast_parts, ignore_index=True).reindex(columns=columns)
    forecasts["unique_id"] = forecasts["unique_id"].astype("category")  # engagement folds repeat ids a lot
    return BacktestResult(target=target, freq=freq, horizon=horizon, levels=level_tuple, cutoffs=tuple(cutoffs),
                          leaderboard=board, fold_metrics=fold_metrics, forecasts=forecasts,
                          timings=pd.DataFrame(timing_rows), step=step,
                          lookback=lookback if target == "engagement" else None)


FOLD_COLUMNS = ["model", "metric", "segment", "fold", "cutoff", "value", "lo", "hi", "n_users"]


def metrics_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """fold_metrics from rows: value with its bootstrap interval (lo, hi) and users counted, where measured."""
    return pd.DataFrame(rows, columns=FOLD_COLUMNS)


def leaderboard_of(fold_metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean over folds of each (model, metric, segment); n_users is the mean per fold."""
    return (fold_metrics.groupby(["model", "metric", "segment"], sort=False)
            .agg(value=("value", "mean"), n_folds=("value", "count"), n_users=("n_users", "mean")).reset_index())


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
                 "step": result.step, "lookback": result.lookback,
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
            frame = pd.DataFrame(payload[key])
            for column in ("value", "lo", "hi", "n_users"):  # all-null columns come back as objects
                if column in frame and key in ("leaderboard", "fold_metrics"):
                    frame[column] = pd.to_numeric(frame[column]).astype(float)
            payload[key] = frame
    return payload
