"""Backtest of the ``next_interest`` target: rank every category for each active user, new ones included.

Per fold (cutoff = last training period): the models learn from the interest history up to the
cutoff; candidates are the users with interest in the last ``lookback`` periods; each ranks every
category known to the log at the cutoff. A positive is a (user, category) pair with interest in the
next ``horizon`` periods; positives in categories first seen after the cutoff cannot be ranked but
count in recall's and NDCG's denominators. Metrics (per user, averaged, with bootstrap intervals):
recall@K, hit_rate@K, precision@K, ndcg@K, gauc; pooled over users: ``new_share@K`` (the share of
hits in categories new to the user), ``new_positive_share`` (the share of positives that are) and
``coverage`` (the share of positives in categories the model can rank).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting import backtest, ranking, series
from interest_core.forecasting.next_interest.history import NextInterestModel, history_from_panel
from interest_core.periods import future_periods, period_grid

KS: tuple[int, ...] = (5, 10, 20)


def fold_labels(panel: pd.DataFrame, users: np.ndarray, categories: np.ndarray,
                periods: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, int]:
    """(users x categories) positives in ``periods``, each user's positives overall, and positive pairs total."""
    test = panel[panel["period"].isin(periods) & (panel["interest"] > 0)]
    pairs = test[["user_id", "category"]].astype(str).drop_duplicates()
    pairs = pairs[pairs["user_id"].isin(users)]
    row = pd.Index(users).get_indexer(pairs["user_id"])
    col = pd.Index(categories).get_indexer(pairs["category"])
    labels = np.zeros((len(users), len(categories)), dtype=bool)
    known = col >= 0
    labels[row[known], col[known]] = True
    relevant = np.bincount(row, minlength=len(users)).astype(float)
    return labels, relevant, len(pairs)


def run_next_interest(panel: pd.DataFrame, models: Sequence[Any], freq: str, horizon: int, folds: int, *,
                      step: int | None = None, lookback: int | None = 4, data_end: pd.Timestamp | None = None,
                      progress: Any = None, ks: Sequence[int] = KS) -> backtest.BacktestResult:
    """Rolling-origin backtest of next-interest models (cloned per fold); see the module docstring.

    ``step`` defaults to the horizon (test windows do not overlap); ``lookback`` as in ``backtest.run``.
    """
    if lookback is not None and lookback < 1:
        raise ModelError(f"lookback={lookback}", "pass lookback >= 1 periods, or None for every user")
    step = horizon if step is None else step
    for model in models:
        if not isinstance(model, NextInterestModel):
            raise ModelError(f"{model!r} is not a next-interest model",
                             "pick models for this target: popularity, item_cf, recency_decay, lstm")
    last = pd.Timestamp(panel["period"].max())
    if data_end is not None:
        last = series.last_complete_period(last, pd.Timestamp(data_end), freq)
    grid = period_grid(pd.Timestamp(panel["period"].min()), last, freq)
    cutoffs = backtest.fold_cutoffs(grid, horizon, folds, step)
    labels_ = backtest.model_labels(models)
    metric_rows: list[dict[str, Any]] = []
    timing_rows: list[dict[str, Any]] = []
    for fold, cutoff in enumerate(cutoffs):
        train = panel[panel["period"] <= cutoff]
        history = history_from_panel(train, freq, grid[0], cutoff)
        active = backtest.active_users(train, cutoff, freq, lookback)
        rows = np.flatnonzero(pd.Index(history.users).isin(active))
        users = history.users[rows]
        labels, relevant, n_positive_pairs = fold_labels(panel, users, history.categories,
                                                         future_periods(cutoff, freq, horizon))
        known = np.asarray(history.window(0, len(history.periods))[rows].todense()) > 0
        shared = {"coverage": float(labels.sum() / max(n_positive_pairs, 1)),
                  "new_positive_share": float((labels & ~known).sum() / max(labels.sum(), 1)),
                  "n_candidates": float(labels.size)}
        random_rows: list[dict[str, Any]] = []
        for model, label in zip(models, labels_, strict=True):
            started = time.perf_counter()
            fitted = model.clone().fit(history, horizon)
            fit_s = time.perf_counter() - started
            scores = fitted.score(rows)
            predict_s = time.perf_counter() - started - fit_s
            per_user = ranking.matrix_ranking(scores, labels, relevant=relevant, ks=ks, new=~known)
            summary = ranking.summarise(per_user, ks)
            values: dict[str, Any] = {k: v for k, v in summary.items() if not k.startswith("random_")}
            for k in ks:
                hits = float(per_user[f"hits@{k}"].sum())
                values[f"new_share@{k}"] = float(per_user[f"new_hits@{k}"].sum() / hits) if hits else float("nan")
            values.update(shared)
            metric_rows += [{"model": label, "fold": fold, "cutoff": cutoff, **r}
                            for r in backtest.estimate_rows(values, "all")]
            if not random_rows:
                random_values: dict[str, Any] = {"gauc": 0.5}
                random_values.update({k.removeprefix("random_"): v for k, v in summary.items()
                                      if k.startswith("random_")})
                random_rows = backtest.estimate_rows(random_values, "all")
            timing_rows.append({"model": label, "fold": fold, "fit_s": fit_s, "predict_s": predict_s,
                                "n_series": len(rows)})
            if progress is not None:
                progress(len(timing_rows) / (len(cutoffs) * len(models)), f"fold {fold + 1}/{len(cutoffs)}: {label}")
        metric_rows += [{"model": backtest.RANDOM, "fold": fold, "cutoff": cutoff, **r} for r in random_rows]
    fold_metrics = backtest.metrics_frame(metric_rows)
    forecasts = pd.DataFrame(columns=["unique_id", "period", "model", "yhat", "p_engage", "y", "fold", "cutoff"])
    return backtest.BacktestResult(target="next_interest", freq=freq, horizon=horizon, levels=(),
                                   cutoffs=tuple(cutoffs), leaderboard=backtest.leaderboard_of(fold_metrics),
                                   fold_metrics=fold_metrics, forecasts=forecasts,
                                   timings=pd.DataFrame(timing_rows), step=step, lookback=lookback)
