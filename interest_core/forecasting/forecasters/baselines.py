"""Naive baselines, vectorised over the (series x period) matrix: the bar every model must clear.

Each one reduces a history to a *basis* (n x k): forecast step j is ``basis[:, j % k]``
(k = 1 for flat forecasts, k = season length for seasonal naive). Intervals are split-conformal
and p_engage is calibrated on a held-out tail (see ``conformal``); both are learned in ``fit``.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.forecasting.forecasters.base import (
    Forecaster,
    ProgressCallback,
    forecast_frame,
    future_periods,
    to_matrix,
)
from interest_core.forecasting.forecasters.conformal import (
    apply_quantiles,
    engage_probability,
    fit_engage_calibration,
    residual_quantiles,
    series_scale,
)
from interest_core.periods import SEASON_LENGTH


def expand_basis(basis: np.ndarray, h: int) -> np.ndarray:
    """(n x k) basis -> (n x h) forecast, cycling through the k columns."""
    return basis[:, np.arange(h) % basis.shape[1]]


class BaselineForecaster(Forecaster):
    """Shared fit/predict/state of the baselines; subclasses implement ``_basis``."""

    name: ClassVar[str] = "baseline"
    learned: ClassVar[tuple[str, ...]] = ("ids_", "basis_", "scale_", "conformal_", "engage_calibration_",
                                          "n_calibration_")

    def __init__(self, h_cal: int = 4) -> None:
        self.h_cal = h_cal

    def _basis(self, history: np.ndarray, freq: str) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None:
        if self.h_cal < 0:
            raise ModelError(f"h_cal={self.h_cal} is negative", "pass h_cal >= 0 (0 turns intervals off)")
        matrix, ids, _ = to_matrix(df)
        self.ids_ = ids
        self.conformal_: np.ndarray | None = None
        self.engage_calibration_: tuple[float, float] | None = None
        self.n_calibration_ = 0
        if 0 < self.h_cal < matrix.shape[1]:
            self._calibrate(matrix, freq)
        self.basis_ = self._basis(matrix, freq)
        self.scale_ = series_scale(matrix)
        if progress is not None:
            progress(1.0, f"{type(self).__name__}: {len(ids)} series")

    def _holdout(self, matrix: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(history, held, predicted) of the series seen before the last h_cal periods; None when none is."""
        if not 0 < self.h_cal < matrix.shape[1]:
            return None
        history, held = matrix[:, : -self.h_cal], matrix[:, -self.h_cal:]
        # Only series with history before the hold-out resemble those we will forecast.
        seen = np.abs(history).sum(axis=1) > 0
        if not seen.any():
            return None
        history, held = history[seen], held[seen]
        return history, held, expand_basis(self._basis(history, freq), self.h_cal)

    def _calibrate(self, matrix: np.ndarray, freq: str) -> None:
        """Conformal quantiles and the p_engage mapping from the last h_cal periods, held out."""
        holdout = self._holdout(matrix, freq)
        if holdout is None:
            return
        history, held, predicted = holdout
        self.conformal_ = residual_quantiles(held, predicted, scale=series_scale(history))
        self.engage_calibration_ = fit_engage_calibration(predicted.sum(axis=1), np.asarray((held > 0).any(axis=1)))
        self.n_calibration_ = len(held)

    def engage_sample(self, df: pd.DataFrame, freq: str) -> pd.DataFrame:
        """What ``fit`` calibrates p_engage on, one row per series of ``df`` seen before the hold-out:
        its held-out forecast total (``score``) and whether it engaged there (``engaged``).

        A fit split over parts of a file (whole users per part) gathers these from every part,
        calibrates once (``conformal.fit_engage_calibration``) and hands the result to each part's
        fit through ``with_engage_calibration``: the p_engage of fitting the whole file.
        """
        matrix, _, _ = to_matrix(df)
        holdout = self._holdout(matrix, freq)
        if holdout is None:
            return pd.DataFrame({"score": np.zeros(0), "engaged": np.zeros(0, dtype=bool)})
        _, held, predicted = holdout
        return pd.DataFrame({"score": predicted.sum(axis=1), "engaged": (held > 0).any(axis=1)})

    def with_engage_calibration(self, calibration: tuple[float, float] | None) -> Self:
        """This fitted baseline with the p_engage mapping calibrated over a whole file (see ``engage_sample``)."""
        self.check_fitted()
        self.engage_calibration_ = None if calibration is None else (float(calibration[0]), float(calibration[1]))
        return self

    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame:
        yhat = np.clip(expand_basis(self.basis_, h), 0.0, None)
        periods = future_periods(self.last_period_, h, self.freq_)
        intervals = apply_quantiles(yhat, self.conformal_, levels, scale=self.scale_)
        p_engage = engage_probability(yhat, self.engage_calibration_, self.h_cal)
        return forecast_frame(self.ids_, periods, self.name, yhat, p_engage, intervals)


class LastValue(BaselineForecaster):
    """Every future period equals the last observed one."""

    name: ClassVar[str] = "last_value"

    def _basis(self, history: np.ndarray, freq: str) -> np.ndarray:
        return history[:, -1:].copy()


class SeasonalNaive(BaselineForecaster):
    """Each future period equals the same period one season earlier (last value if history < a season)."""

    name: ClassVar[str] = "seasonal_naive"

    def __init__(self, h_cal: int = 4, season_length: int | None = None) -> None:
        self.h_cal = h_cal
        self.season_length = season_length

    def _basis(self, history: np.ndarray, freq: str) -> np.ndarray:
        season = self.season_length or SEASON_LENGTH[freq]
        if history.shape[1] < season:
            return history[:, -1:].copy()
        return history[:, -season:].copy()


class WindowMean(BaselineForecaster):
    """The mean of the last ``window`` periods (fewer when the history is shorter)."""

    name: ClassVar[str] = "window_mean"

    def __init__(self, h_cal: int = 4, window: int = 4) -> None:
        self.h_cal = h_cal
        self.window = window

    def _basis(self, history: np.ndarray, freq: str) -> np.ndarray:
        if self.window < 1:
            raise ModelError(f"window={self.window} is below 1", "pass window >= 1 periods")
        return history[:, -self.window:].mean(axis=1, keepdims=True)


class RecencyDecay(BaselineForecaster):
    """Exponentially decayed mean of the whole history: the period ``half_life`` ago weighs half.

    The ranking baseline to beat for engagement: recent and repeated interest ranks first.
    """

    name: ClassVar[str] = "recency_decay"

    def __init__(self, h_cal: int = 4, half_life: float = 2.0) -> None:
        self.h_cal = h_cal
        self.half_life = half_life

    def _basis(self, history: np.ndarray, freq: str) -> np.ndarray:
        if self.half_life <= 0:
            raise ModelError(f"half_life={self.half_life} is not positive", "pass half_life > 0 periods")
        age = np.arange(history.shape[1])[::-1]  # 0 for the last period
        weights = 0.5 ** (age / self.half_life)
        return (history @ weights / weights.sum())[:, None]
