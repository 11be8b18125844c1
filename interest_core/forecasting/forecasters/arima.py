"""ARIMA per series (statsmodels SARIMAX), for aggregates and selected series only.

Order selection (``order=None``): d from a KPSS test (1 when it rejects level stationarity),
then every (p, d, q) with p and q in 0..2 whose lags the PACF / ACF of the differenced series
mark significant (|r| > 1.96/sqrt(n)), plus (0,1,1), (1,1,0) and (1,0,0); lowest AIC wins among
fits that converge. (AIC across d is only roughly comparable; the small grid keeps it sane.)
A constant is fitted when d = 0. Series that are too short, flat, or whose every candidate
fails fall back to a baseline; ``fallbacks()`` returns which and why (an ``ArimaFallbacks``).

Fits run in spawned worker processes (``n_jobs``), each pinned to one BLAS thread. The state is
the orders, fitted parameters and histories: ``SARIMAX(...).filter(params)`` rebuilds each model
exactly, so a loaded model predicts without refitting and without pickle.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting.forecasters import registry
from interest_core.forecasting.forecasters.base import (
    Forecaster,
    ProgressCallback,
    forecast_frame,
    future_periods,
    to_matrix,
)

Order = tuple[int, int, int]
EXTRA_ORDERS: tuple[Order, ...] = ((0, 1, 1), (1, 1, 0), (1, 0, 0))
FALLBACKS: tuple[str, ...] = registry.names("baseline")
# A spawned worker spends ~2-3 s importing statsmodels: give each enough series to repay that
# (a fit is ~35 ms per series and order grid, a forecast from stored parameters ~3 ms).
FIT_SERIES_PER_WORKER = 64
FORECAST_SERIES_PER_WORKER = 1000


@dataclass(frozen=True)
class ArimaFallbacks:
    """Series an ArimaForecaster forecast with its fallback baseline: their ids and reason -> count."""

    model: str
    ids: tuple[str, ...]
    reasons: dict[str, int]

    @property
    def count(self) -> int:
        return len(self.ids)


# -- one series (top-level functions: they run in worker processes) -------------------------

def _trend(order: Sequence[int]) -> str:
    return "c" if order[1] == 0 else "n"


def _sarimax(y: np.ndarray, order: Sequence[int]) -> Any:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    return SARIMAX(y, order=tuple(order), trend=_trend(order))


def choose_d(y: np.ndarray) -> int:
    """1 when KPSS rejects level stationarity at 5%, else 0."""
    from statsmodels.tsa.stattools import kpss

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # p-value outside the lookup table: still a usable verdict
            p_value = kpss(y, regression="c", nlags="auto")[1]
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
        return 1
    return 1 if p_value < 0.05 else 0


def candidate_orders(y: np.ndarray, max_p: int = 2, max_q: int = 2) -> list[Order]:
    """Orders worth fitting: the ones ACF/PACF suggest at the KPSS-chosen d, plus the usual three."""
    from statsmodels.tsa.stattools import acf, pacf

    d = choose_d(y)
    z = np.diff(y, n=d) if d else y
    nlags = min(max(max_p, max_q), len(z) // 2 - 1)
    ps, qs = [0], [0]
    if nlags >= 1 and np.ptp(z) > 0:
        bound = 1.96 / math.sqrt(len(z))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r_acf = acf(z, nlags=nlags, fft=False)
            r_pacf = pacf(z, nlags=nlags, method="ywm")
        ps += [k for k in range(1, min(max_p, nlags) + 1) if abs(r_pacf[k]) > bound]
        qs += [k for k in range(1, min(max_q, nlags) + 1) if abs(r_acf[k]) > bound]
    orders = [(p, d, q) for p in ps for q in qs]
    return orders + [o for o in EXTRA_ORDERS if o not in orders]


def fit_series(y_list: list[float], order: list[int] | None, min_length: int, maxiter: int) -> dict[str, Any]:
    """Best ARIMA of one series: {'order', 'params', 'aic'} or {'order': None, 'reason'} to fall back."""
    y = np.asarray(y_list, dtype=float)
    if len(y) < min_length:
        return {"order": None, "reason": "too_short"}
    if np.ptp(y) == 0:
        return {"order": None, "reason": "flat"}
    try:
        orders: list[Order] = [tuple(order)] if order is not None else candidate_orders(y)  # type: ignore[list-item]
    except Exception:  # a degenerate series can break the KPSS / ACF step: still try the usual three
        orders = list(EXTRA_ORDERS)
    best: dict[str, Any] = {"order": None, "reason": "not_converged"}
    for cand in orders:
        if sum(cand) + 2 > len(y) - cand[1]:
            continue  # more parameters than observations
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = _sarimax(y, cand).fit(disp=False, maxiter=maxiter)
        except Exception as exc:  # one order failing (singular, non-finite, ...) must not sink the series
            best.setdefault("errors", []).append(f"{cand}: {type(exc).__name__}")
            continue
        params = np.asarray(res.params, dtype=float)
        if not res.mle_retvals.get("converged", False) or not np.isfinite(params).all() or not np.isfinite(res.aic):
            continue
        if best["order"] is None or res.aic < best["aic"]:
            best = {"order": list(cand), "params": params.tolist(), "aic": float(res.aic)}
    if best["order"] is None and "errors" in best:
        best["reason"] = "error"
    return best


def forecast_series(y_list: list[float], order: list[int], params: list[float], h: int
                    ) -> tuple[list[float], list[float]]:
    """Mean and standard error of the h-step forecast, rebuilt from stored parameters (no refit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _sarimax(np.asarray(y_list, dtype=float), order).filter(np.asarray(params, dtype=float))
        fc = res.get_forecast(h)
    return np.asarray(fc.predicted_mean, dtype=float).tolist(), np.asarray(fc.se_mean, dtype=float).tolist()


def _run_chunk(fn: Callable[..., Any], chunk: list[tuple[Any, ...]]) -> list[Any]:
    return [fn(*args) for args in chunk]


def _init_worker() -> None:
    # Spawned workers import numpy before this runs, so env vars alone come too late: cap pools live.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def run_tasks(fn: Callable[..., Any], tasks: list[tuple[Any, ...]], n_jobs: int, per_worker: int,
              progress: ProgressCallback | None = None, what: str = "series") -> list[Any]:
    """fn(*task) for every task, in order; over spawned processes when each gets >= per_worker tasks."""
    from threadpoolctl import threadpool_limits

    n = len(tasks)
    requested = (os.cpu_count() or 1) if n_jobs < 1 else n_jobs
    workers = min(requested, n // max(per_worker, 1))
    if workers <= 1:
        out = []
        with threadpool_limits(limits=1):  # same BLAS threading as the workers: identical results
            for i, args in enumerate(tasks):
                out.append(fn(*args))
                if progress is not None and (i + 1 == n or (i + 1) % 10 == 0):
                    progress((i + 1) / n, f"{i + 1}/{n} {what}")
        return out
    size = max(1, math.ceil(n / (workers * 4)))  # a few chunks per worker keeps progress moving
    chunks = [tasks[i:i + size] for i in range(0, n, size)]
    results: list[list[Any]] = [[] for _ in chunks]
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker) as pool:
        futures = {pool.submit(_run_chunk, fn, chunk): i for i, chunk in enumerate(chunks)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                raise ModelError("an ARIMA worker process died (out of memory, or a script re-ran on spawn)",
                                 "guard a script's entry point with if __name__ == '__main__', or pass n_jobs=1"
                                 ) from None
            done += len(chunks[i])
            if progress is not None:
                progress(done / n, f"{done}/{n} {what}")
    return [r for chunk in results for r in chunk]


# -- the forecaster ----------------------------------------------------------------------------

class ArimaForecaster(Forecaster):
    """Per-series ARIMA with AIC order selection, model-based intervals and a baseline fallback."""

    name: ClassVar[str] = "arima"
    learned: ClassVar[tuple[str, ...]] = ("ids_", "history_", "orders_", "params_", "n_fallback_",
                                          "fallback_reasons_", "fallback_model_")

    def __init__(self, order: tuple[int, int, int] | None = None, max_series: int = 2000, n_jobs: int = 1,
                 min_length: int = 8, maxiter: int = 200, fallback: str = "window_mean") -> None:
        self.order = order
        self.max_series = max_series
        self.n_jobs = n_jobs
        self.min_length = min_length
        self.maxiter = maxiter
        self.fallback = fallback

    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None:
        n_series = df["unique_id"].nunique()
        if n_series > self.max_series:
            raise ModelError(
                f"ARIMA would fit {n_series:,} series, over max_series={self.max_series:,}",
                "ARIMA runs per series on aggregates (user_total, category_demand) and on series you select, "
                "never on every user x category pair: pick fewer series or raise max_series",
            )
        if self.fallback not in FALLBACKS:
            raise ModelError(f"unknown fallback {self.fallback!r}", f"use one of {sorted(FALLBACKS)}")
        matrix, ids, _ = to_matrix(df)
        order = list(self.order) if self.order is not None else None
        tasks = [(row.tolist(), order, self.min_length, self.maxiter) for row in matrix]
        fits = run_tasks(fit_series, tasks, self.n_jobs, FIT_SERIES_PER_WORKER, progress, "series fitted")
        self.ids_ = ids
        self.history_ = matrix
        self.orders_: list[list[int] | None] = [f["order"] for f in fits]
        self.params_: list[list[float] | None] = [f.get("params") for f in fits]
        reasons = [f.get("reason") for f in fits if f["order"] is None]
        self.fallback_reasons_ = {r: reasons.count(r) for r in sorted(set(map(str, reasons)))}
        self.n_fallback_ = len(reasons)
        self.fallback_model_: Forecaster | None = None
        if self.n_fallback_:
            # Fitted on every series so its conformal widths rest on more than the few failures.
            from interest_core.forecasting.forecasters import make_forecaster

            self.fallback_model_ = make_forecaster(self.fallback).fit(df, freq)

    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame:
        from scipy.stats import norm

        n = len(self.ids_)
        mean = np.zeros((n, h))
        se = np.zeros((n, h))
        fitted = [i for i, o in enumerate(self.orders_) if o is not None]
        tasks = [(self.history_[i].tolist(), self.orders_[i], self.params_[i], h) for i in fitted]
        forecasts = run_tasks(forecast_series, tasks, self.n_jobs, FORECAST_SERIES_PER_WORKER)
        for i, (m, s) in zip(fitted, forecasts, strict=True):
            mean[i], se[i] = m, s
        intervals = {}
        for lv in levels:
            z = float(norm.ppf(0.5 + lv / 200.0))
            intervals[lv] = (mean - z * se, mean + z * se)  # what get_forecast().conf_int(alpha) returns
        # P(at least one period > 0) under the model's Gaussian forecast, periods taken as independent.
        with np.errstate(divide="ignore", invalid="ignore"):
            p_zero = np.where(se > 0, norm.cdf(-mean / np.where(se > 0, se, 1.0)), (mean <= 0).astype(float))
        p_engage = 1.0 - p_zero.prod(axis=1)
        out = forecast_frame(self.ids_[fitted], future_periods(self.last_period_, h, self.freq_), self.name,
                             mean[fitted], p_engage[fitted], {lv: (lo[fitted], hi[fitted])
                                                              for lv, (lo, hi) in intervals.items()})
        if self.fallback_model_ is not None:
            failed_ids = {str(self.ids_[i]) for i, o in enumerate(self.orders_) if o is None}
            back = self.fallback_model_.predict(h, level=levels).assign(model=self.name)
            back = back[back["unique_id"].astype(str).isin(failed_ids)]
            out = pd.concat([out, back], ignore_index=True)
            out = out.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)
        return out

    def fallbacks(self) -> ArimaFallbacks:
        """Which series were forecast by the fallback baseline instead of an ARIMA, and why."""
        self.check_fitted()
        ids = tuple(str(self.ids_[i]) for i, o in enumerate(self.orders_) if o is None)
        return ArimaFallbacks(self.fallback, ids, dict(self.fallback_reasons_))
