"""Split-conformal prediction intervals and a calibrated p_engage, shared by every forecaster.

How a forecaster uses it (baselines do exactly this; the LSTM can too):

1. In ``fit``, hold out the last ``h_cal`` periods of the (series x period) matrix, fit the
   point model on the rest and forecast the held-out periods: ``predicted`` (n x h_cal).
2. ``quantiles = residual_quantiles(actual, predicted, scale=series_scale(history))``:
   an array (99 x h_cal), row L-1 = the level-L quantile of |actual - predicted| / scale
   at each horizon step, over series (finite-sample corrected). Keep it as learned state
   (``conformal_``); it is JSON-able with ``.tolist()``.
3. ``calibration = fit_engage_calibration(predicted.sum(axis=1), (actual > 0).any(axis=1))``:
   two floats (slope, intercept) of a logistic on log1p(score), or None. Keep it too.
4. Refit the point model on the full history. In ``predict(h, level)``:
   ``apply_quantiles(yhat, quantiles, levels, scale=series_scale(full_history))`` returns
   {level: (lo, hi)} arrays (n x h) for ``forecast_frame``; steps past h_cal reuse the
   last step's quantile. ``engage_probability(yhat, calibration, h_cal)`` gives p_engage.

Scaling residuals by each series' mean level (normalised conformal) keeps intervals narrow
for light users and wide for heavy ones instead of one width for all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ALL_LEVELS: tuple[int, ...] = tuple(range(1, 100))  # stored so predict may ask for any level later
SCALE_FLOOR = 1e-6


def series_scale(history: np.ndarray) -> np.ndarray:
    """Per-series mean |y| over the history, floored so an all-zero series does not divide by 0."""
    if history.shape[1] == 0:
        return np.ones(history.shape[0])
    scale = np.abs(history).mean(axis=1)
    floor = max(float(np.median(scale[scale > 0])) * 1e-3, SCALE_FLOOR) if (scale > 0).any() else 1.0
    return np.maximum(scale, floor)


def residual_quantiles(actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray | None = None,
                       levels: Sequence[int] = ALL_LEVELS) -> np.ndarray:
    """(len(levels) x h) quantiles of |actual - predicted| (/ scale) per horizon step, over series.

    Uses the conformal rank ceil((n+1) L/100) among n residuals, so coverage holds in finite samples.
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if actual.shape != predicted.shape or actual.ndim != 2:
        raise ValueError(f"actual {actual.shape} and predicted {predicted.shape} must be equal (n x h) arrays")
    resid = np.abs(actual - predicted)
    if scale is not None:
        resid = resid / np.asarray(scale, dtype=float)[:, None]
    n = resid.shape[0]
    ordered = np.sort(resid, axis=0)
    out = np.empty((len(levels), resid.shape[1]))
    for i, level in enumerate(levels):
        rank = min(math.ceil((n + 1) * level / 100.0), n)  # 1-based
        out[i] = ordered[max(rank, 1) - 1]
    return out


def apply_quantiles(yhat: np.ndarray, quantiles: np.ndarray | None, levels: Sequence[int],
                    scale: np.ndarray | None = None, stored_levels: Sequence[int] = ALL_LEVELS
                    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{level: (lo, hi)} around yhat (n x h); NaN bounds when no quantiles were learned."""
    n, h = yhat.shape
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for level in levels:
        if quantiles is None:
            nan = np.full((n, h), np.nan)
            out[level] = (nan, nan.copy())
            continue
        q = np.asarray(quantiles, dtype=float)[list(stored_levels).index(level)]
        steps = q[np.minimum(np.arange(h), len(q) - 1)]  # past h_cal: the last step's width
        half = steps[None, :] * (np.asarray(scale, dtype=float)[:, None] if scale is not None else 1.0)
        out[level] = (yhat - half, yhat + half)
    return out


def fit_engage_calibration(scores: np.ndarray, engaged: np.ndarray, c: float = 1.0,
                           ) -> tuple[float, float] | None:
    """Logistic fit of P(engaged in the window) on log1p(score); None if it cannot rank (one class, slope <= 0).

    scikit-learn's L2-regularised logistic regression (lbfgs): it converges even when the classes
    separate or the scores are heavily skewed, where plain Newton steps ran off to slopes of 1e8.
    The probability serves Brier scores and reliability; rankings use each model's own score.
    """
    engaged = np.asarray(engaged, dtype=bool)
    if engaged.size == 0 or engaged.all() or not engaged.any():
        return None
    from sklearn.linear_model import LogisticRegression

    x = np.log1p(np.clip(np.asarray(scores, dtype=float), 0.0, None))[:, None]
    if not np.isfinite(x).all():
        return None
    model = LogisticRegression(C=c, max_iter=1000).fit(x, engaged)
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    return (slope, intercept) if slope > 0 and np.isfinite([slope, intercept]).all() else None


def engage_probability(yhat: np.ndarray, calibration: Sequence[float] | None, h_cal: int) -> np.ndarray:
    """P(y > 0 in at least one of the h forecast periods), per series, from yhat (n x h).

    With a calibration fitted on h_cal-period windows: p_cal on the score rescaled to h_cal
    periods, then 1 - (1 - p_cal)^(h/h_cal). Without one: 1 - exp(-sum yhat) (Poisson).
    Both are increasing in the forecast, so ranking is the forecast's own. ``-expm1`` keeps small
    forecasts from rounding to a probability of 0.
    """
    h = yhat.shape[1]
    total = np.clip(yhat, 0.0, None).sum(axis=1)
    if calibration is None or h_cal < 1:
        return np.asarray(-np.expm1(-total))
    slope, intercept = calibration
    p_window = 1.0 / (1.0 + np.exp(-np.clip(slope * np.log1p(total * h_cal / h) + intercept, -500.0, 500.0)))
    return np.asarray(-np.expm1(np.log1p(-np.minimum(p_window, 1.0 - 1e-16)) * (h / h_cal)))
