"""Plain frames for the Forecasts page: leaderboards from a saved backtest, one series' backtest
for predicted-vs-actual, and the request a training job is launched with.

Which metrics rank which target (see metrics.py): engagement series (user x category) are ~98%
zeros, so they are judged by ranking (AUC, HitRate@K, NDCG@K, Brier); user totals and category
demand by point and interval metrics (MAE, RMSE, sMAPE, MASE, coverage, width).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting import backtest, series
from interest_core.forecasting.forecasters import BASELINE_NAMES, make_forecaster, offered_models
from interest_core.forecasting.metrics import TIERS
from interest_core.forecasting.request import DEFAULT_TOP_K as DEFAULT_TOP_K  # re-exported: pages and ui read it here
from interest_core.forecasting.request import TrainRequest
from interest_core.forecasting.saved_backtest import SavedBacktest
from interest_core.periods import PERIOD_ADJECTIVE

SeriesKind = Literal["aggregate", "category", "user"]
TARGET_TEXT: dict[str, str] = {
    "engagement": "engagement (who engages with what)", "user_total": "user totals",
    "category_demand": "category demand",
}
RANKING = ("auc", "hit_rate@5", "ndcg@5", "hit_rate@10", "ndcg@10", "brier", "mae_user_total")
POINT = ("mae", "rmse", "smape", "mase", "coverage_80", "coverage_95", "width_80", "width_95")
METRICS: dict[str, tuple[str, ...]] = {"engagement": RANKING, "user_total": POINT, "category_demand": POINT}
PRIMARY: dict[str, str] = {"engagement": "auc", "user_total": "mase", "category_demand": "mase"}
HIGHER_BETTER = frozenset({"auc", "hit_rate@5", "ndcg@5", "hit_rate@10", "ndcg@10"})
# Series kind -> the target whose series it is (the aggregate is one 'category' holding everything).
KIND_TARGET: dict[str, str] = {"aggregate": "category_demand", "category": "category_demand", "user": "user_total"}
AGGREGATE_ID = "all users"


def metric_direction(metric: str) -> str | None:
    """'higher', 'lower', 'coverage' (best = closest to the nominal level) or None (not a score)."""
    if metric in HIGHER_BETTER:
        return "higher"
    if metric.startswith("coverage_"):
        return "coverage"
    if metric in RANKING or metric in POINT:
        return "lower"
    return None


def leaderboard(payload: SavedBacktest, segment: str = "all") -> pd.DataFrame:
    """model x metric (the target's ranking metrics, in order) of a saved backtest (read_saved_backtest)."""
    board = payload.leaderboard
    target = payload.meta.target
    part = board[board["segment"] == segment]
    table = part.pivot_table(index="model", columns="metric", values="value", aggfunc="first", sort=False)
    wanted = [m for m in METRICS.get(target, ()) if m in table.columns]
    table = table.reindex(columns=wanted)
    table.columns.name = None
    return table


def segments(payload: SavedBacktest) -> list[str]:
    """'all' and the activity tiers the backtest scored (tiers exist where series belong to users)."""
    found = set(payload.leaderboard["segment"].astype(str))
    return [s for s in ("all", *TIERS) if s in found]


def goodness(table: pd.DataFrame) -> pd.DataFrame:
    """Each metric rescaled per column to 0 (worst model) .. 1 (best); NaN where a metric has no direction."""
    out = pd.DataFrame(index=table.index, columns=table.columns, dtype=float)
    for metric in table.columns:
        direction = metric_direction(str(metric))
        values = table[metric].astype(float)
        if direction is None or values.notna().sum() == 0:
            continue
        if direction == "coverage":
            score = -(values - int(str(metric).split("_")[1]) / 100).abs()
        else:
            score = values if direction == "higher" else -values
        lo, hi = score.min(), score.max()
        out[metric] = 1.0 if hi == lo else (score - lo) / (hi - lo)
    return out


def best_models(table: pd.DataFrame) -> dict[str, str]:
    """metric -> the best model on it (ties: the first listed)."""
    good = goodness(table)
    return {str(m): str(good[m].idxmax()) for m in good.columns if good[m].notna().any()}


def by_tier(payload: SavedBacktest, metric: str) -> pd.DataFrame:
    """model, segment, value of one metric over 'all' and each activity tier."""
    board = payload.leaderboard
    part = board[(board["metric"] == metric) & board["segment"].isin(("all", *TIERS))]
    return part[["model", "segment", "value"]].reset_index(drop=True)


def backtest_forecasts(payload: SavedBacktest, unique_id: str) -> pd.DataFrame | None:
    """A saved backtest's forecasts of one series (periods and cutoffs as timestamps); None if not saved."""
    frame = payload.forecasts
    if frame is None or frame.empty:
        return None
    rows = frame[frame["unique_id"].astype(str) == unique_id]
    if rows.empty:
        return None
    out = rows.assign(period=pd.to_datetime(rows["period"]).dt.tz_localize(None),
                      cutoff=pd.to_datetime(rows["cutoff"]).dt.tz_localize(None))
    return out.reset_index(drop=True)


# -- one series: history and backtest ----------------------------------------------------------

def series_id(kind: SeriesKind, key: str | None) -> str:
    return AGGREGATE_ID if kind == "aggregate" else str(key)


def series_panel(panel: pd.DataFrame, kind: SeriesKind, key: str | None) -> pd.DataFrame:
    """The panel rows behind one series: all of it (as one category), one category's, or one user's."""
    if kind == "aggregate":
        return panel.assign(category=AGGREGATE_ID)
    column = "category" if kind == "category" else "user_id"
    rows = panel[panel[column].astype(str) == str(key)]
    if rows.empty:
        raise ModelError(f"no {kind} {key!r} in this dataset", f"pick a {kind} from the list")
    return rows


def series_history(panel: pd.DataFrame, kind: SeriesKind, key: str | None, freq: str,
                   end: pd.Timestamp | None = None) -> pd.DataFrame:
    """period, y of one series, dense (zeros included) from the panel's first period to ``end``."""
    rows = series_panel(panel, kind, key)
    frame = series.training_frame(rows, KIND_TARGET[kind], freq, start=pd.Timestamp(panel["period"].min()),  # type: ignore[arg-type]
                                  end=end)
    return frame[["period", "y"]].reset_index(drop=True)


def series_backtest(panel: pd.DataFrame, kind: SeriesKind, key: str | None, models: Sequence[str], freq: str,
                    horizon: int, folds: int, data_end: pd.Timestamp | None = None,
                    params: dict[str, dict[str, Any]] | None = None) -> backtest.BacktestResult:
    """Rolling-origin backtest of ``models`` (registry names, with optional params) on one series."""
    rows = series_panel(panel, kind, key)
    forecasters = [make_forecaster(name, **(params or {}).get(name, {})) for name in models]
    # step 1: the chart shows a forecast from every recent cutoff (overlapping windows on purpose).
    return backtest.run(rows, KIND_TARGET[kind], forecasters, freq, horizon, folds, step=1, data_end=data_end)


def ranked_models(result: backtest.BacktestResult) -> list[str]:
    """Models of a backtest, best first on the target's primary metric (MASE for series, AUC for pairs)."""
    table = backtest.leaderboard_table(result)
    metric = PRIMARY.get(result.target, "mae")
    if metric not in table.columns or table[metric].isna().all():
        metric = "mae" if "mae" in table.columns else str(table.columns[0])
    ascending = metric_direction(metric) != "higher"
    return [str(m) for m in table[metric].sort_values(ascending=ascending, na_position="last").index]


def residuals(forecasts: pd.DataFrame, model: str) -> pd.DataFrame:
    """period, cutoff, fold, step (periods ahead), y, yhat, residual (y - yhat) of one model's backtest."""
    rows = forecasts[forecasts["model"].astype(str) == model].sort_values(["fold", "period"])
    out = rows[["period", "cutoff", "fold", "y", "yhat"]].copy()
    out["step"] = rows.groupby("fold").cumcount().to_numpy() + 1
    out["residual"] = out["y"] - out["yhat"]
    return out.reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class SeriesView:
    """One series' history and backtest forecasts for predicted vs actual, and where they came from."""

    history: pd.DataFrame  # period, y up to the last complete period
    forecasts: pd.DataFrame  # backtest forecasts (model, fold, cutoff, period, y, yhat, intervals)
    ranked: list[str]  # models, lowest error on this series first
    source: str  # 'the saved backtest of ...' or 'a backtest of this series (...)'
    last: pd.Timestamp  # the last complete period


def series_top_k(kind: SeriesKind) -> int | None:
    """Categories kept by the panel behind a series: as the demand backtests group them (top 20 + other)."""
    return DEFAULT_TOP_K["category_demand"] if kind == "category" else None


def series_models(saved: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
    """Models (and their params) of one series' fresh backtest, given the saved models of its target and
    frequency: the baselines, and ARIMA when one is saved (a local model refits per fold in a second; an
    LSTM is global: its forecasts come from its training job's saved backtest)."""
    if (saved["model"].astype(str) == "arima").any():
        return (*BASELINE_NAMES, "arima"), {"arima": {"n_jobs": 1}}
    return tuple(BASELINE_NAMES), {}


def series_view(panel: pd.DataFrame, kind: SeriesKind, key: str | None, freq: str, *, models: Sequence[str],
                horizon: int, folds: int, data_end: pd.Timestamp, saved: SavedBacktest | None = None,
                params: dict[str, dict[str, Any]] | None = None) -> SeriesView:
    """The saved backtest's forecasts of the series when ``saved`` holds it, else a fresh backtest of it."""
    last = series.last_complete_period(panel["period"].max(), pd.Timestamp(data_end), freq)
    history = series_history(panel, kind, key, freq, end=last)
    rows = backtest_forecasts(saved, series_id(kind, key)) if saved is not None else None
    if rows is not None and saved is not None:
        source = f"the saved backtest of {saved.meta.created_at[:16]} UTC"
    else:
        result = series_backtest(panel, kind, key, models, freq, horizon, folds, data_end=pd.Timestamp(data_end),
                                 params=params)
        rows, source = result.forecasts, f"a backtest of this series ({folds} folds, {horizon} ahead)"
    return SeriesView(history=history, forecasts=rows, ranked=rank_by_mae(rows), source=source, last=last)


# -- training jobs ---------------------------------------------------------------------------------

def trainable_models(target: str) -> list[str]:
    """Models that can be trained on a target here (the registry's offered_models)."""
    return offered_models(target)


def train_payload(*, dataset: str, dataset_sha256: str, target: str, freq: str, horizon: int, folds: int,
                  model: str, models_dir: str | Path, data_end: pd.Timestamp | None,
                  top_k: int | None = None) -> TrainRequest:
    """The request of a ``tasks.train`` job: backtest the baselines and ``model``, save ``model``."""
    return TrainRequest.build(dataset=dataset, dataset_sha256=dataset_sha256, target=target, freq=freq,
                              horizon=horizon, folds=folds, model=model, models_dir=models_dir, data_end=data_end,
                              top_k=top_k)


def future_of(predictions: pd.DataFrame, unique_id: str) -> pd.DataFrame:
    """One series' rows of a saved model's forecast (empty when the model has no such series)."""
    rows = predictions[predictions["unique_id"].astype(str) == unique_id]
    return rows.reset_index(drop=True)


def rank_by_mae(forecasts: pd.DataFrame) -> list[str]:
    """Models of one series' backtest forecasts, lowest mean absolute error first."""
    if forecasts.empty:
        return []
    err = (forecasts["y"] - forecasts["yhat"]).abs().groupby(forecasts["model"].astype(str), sort=False).mean()
    return [str(m) for m in err.sort_values(kind="stable").index]


def metrics_text(metrics: dict[str, Any], target: str, n: int = 3) -> str:
    """The first ``n`` of a target's ranking metrics a saved model's backtest recorded ('AUC 0.811 · ...')."""
    from interest_core.charts.forecasts import metric_label
    from interest_core.charts.style import significant

    parts = [f"{metric_label(m)} {significant(float(metrics[m]))}" for m in METRICS.get(target, ()) if m in metrics]
    return " · ".join(parts[:n]) or "no backtest metrics"


def backtest_winner(payload: SavedBacktest | None, offered: Sequence[str]) -> str | None:
    """The model of ``offered`` that is best on the target's primary metric in a saved backtest (None: none)."""
    if payload is None:
        return None
    table = leaderboard(payload)
    metric = PRIMARY.get(payload.meta.target, "mae")
    if metric not in table or table[metric].isna().all():
        return None
    values = table[metric].astype(float).dropna()
    values = values[values.index.astype(str).isin(list(offered))]
    if values.empty:
        return None
    return str(values.idxmax() if metric_direction(metric) == "higher" else values.idxmin())


def time_left(started: float, fraction: float, now: float) -> str:
    """'about 3 min left' from the time a job started and the share done (a straight-line estimate)."""
    if not 0.02 <= fraction < 1.0 or now <= started:
        return "estimating time left"
    left = (now - started) * (1.0 - fraction) / fraction
    if left < 60:
        return "under a minute left"
    minutes = round(left / 60)
    return f"about {minutes} min left" if minutes < 90 else f"about {left / 3600:.1f} h left"


def saved_table(saved: pd.DataFrame) -> pd.DataFrame:
    """Saved models as the page lists them: readable dates (UTC) and metrics in words."""
    def day(value: object, with_time: bool) -> str:
        stamp = pd.to_datetime(str(value), errors="coerce", utc=True)
        if pd.isna(stamp):
            return str(value or "n/a")
        return stamp.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")

    return pd.DataFrame({
        "name": saved["name"].astype(str), "model": saved["model"].astype(str),
        "target": [TARGET_TEXT.get(str(t), str(t)) for t in saved["target"]],
        "period": [PERIOD_ADJECTIVE.get(str(f), str(f)) for f in saved["freq"]],
        "horizon": saved["horizon"].astype(int), "data up to": [day(v, False) for v in saved["last_period"]],
        "saved": [day(v, True) for v in saved["created"]],
        "backtest": [metrics_text(m, t) for m, t in zip(saved["metrics"], saved["target"], strict=True)],
    })
