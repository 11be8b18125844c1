"""The forecaster contract (scikit-learn style, Nixtla-style long frames).

Input to ``fit``: a long frame with columns ``unique_id`` (str), ``period`` (datetime64, period
start), ``y`` (float, >= 0), one row per series and period, dense (zeros included) over the
training window. For engagement (user x category) series it also carries ``user_id`` and
``category`` so global models can derive the user's total and the category's popularity.

Output of ``predict(h, level=...)``: the long Forecasts frame ``FORECAST_COLUMNS`` plus
``lo_<L>`` / ``hi_<L>`` for each level L: one row per series and future period, with
``p_engage`` = probability that the series is > 0 in at least one of the next h periods
(the same value on every row of a series; NaN where a model has no notion of it).

Rules: ``__init__`` only stores parameters; ``fit`` returns self; learned state ends in ``_``;
using an unfitted model raises NotFittedError; results are deterministic given ``seed``.
Models save to / load from JSON-able state (+ named binary files for Keras), never pickle.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from interest_core.errors import ModelError, NotFittedError

FORECAST_COLUMNS: tuple[str, ...] = ("unique_id", "period", "model", "yhat", "p_engage")
ProgressCallback = Callable[[float, str], None]


def interval_columns(levels: Sequence[int]) -> list[str]:
    return [c for lv in levels for c in (f"lo_{lv}", f"hi_{lv}")]


def check_levels(level: Sequence[int] | None) -> tuple[int, ...]:
    levels = tuple(int(v) for v in (level or ()))
    for lv in levels:
        if not 0 < lv < 100:
            raise ModelError(f"interval level {lv} is not between 0 and 100", "use e.g. level=[80, 95]")
    return levels


def validate_training_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Check the long training frame and return it sorted by series and period."""
    missing = [c for c in ("unique_id", "period", "y") if c not in df.columns]
    if missing:
        raise ModelError(f"training frame lacks column(s) {missing}",
                         "pass a long frame with unique_id, period and y (see forecasters.base)")
    if df.empty:
        raise ModelError("training frame is empty", "widen the date range or pick a dataset with events")
    if df["y"].isna().any():
        raise ModelError("training frame has missing y values", "fill gaps with 0 (dense panel) before fitting")
    return df.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)


def future_periods(last: pd.Timestamp, h: int, freq: str) -> pd.DatetimeIndex:
    from interest_core.periods import PERIOD_OFFSETS

    step = PERIOD_OFFSETS[freq]
    return pd.DatetimeIndex([pd.Timestamp(last) + step * (i + 1) for i in range(h)])


def to_matrix(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Dense (series x period) matrix of y, the series ids and the period index."""
    wide = df.pivot_table(index="unique_id", columns="period", values="y", aggfunc="sum", fill_value=0.0)
    return wide.to_numpy(dtype=float), wide.index.to_numpy(dtype=object), pd.DatetimeIndex(wide.columns)


def forecast_frame(ids: np.ndarray, periods: pd.DatetimeIndex, model: str, yhat: np.ndarray,
                   p_engage: np.ndarray | None = None,
                   intervals: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """Build the long Forecasts frame from (series x h) arrays."""
    n, h = yhat.shape
    out = pd.DataFrame({
        "unique_id": np.repeat(ids, h),
        "period": np.tile(periods.to_numpy(), n),
        "model": model,
        "yhat": np.clip(yhat, 0.0, None).ravel(),
        "p_engage": np.repeat(p_engage if p_engage is not None else np.full(n, np.nan), h),
    })
    for lv, (lo, hi) in (intervals or {}).items():
        out[f"lo_{lv}"] = np.clip(lo, 0.0, None).ravel()
        out[f"hi_{lv}"] = np.clip(hi, 0.0, None).ravel()
    return out


class Forecaster(ABC):
    """Base of every forecaster. Subclasses set ``name`` and implement ``_fit`` and ``_predict``."""

    name: ClassVar[str] = "forecaster"

    # -- scikit-learn style parameters ----------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def clone(self) -> Forecaster:
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- the contract ---------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None = None) -> Forecaster:
        frame = validate_training_frame(df)
        self.freq_ = freq
        self.last_period_ = pd.Timestamp(frame["period"].max())
        self._fit(frame, freq, progress)
        self.fitted_ = True
        return self

    def predict(self, h: int, level: Sequence[int] | None = None) -> pd.DataFrame:
        self.check_fitted()
        if h < 1:
            raise ModelError(f"horizon h={h} must be at least 1", "ask for h >= 1 periods")
        levels = check_levels(level)
        out = self._predict(h, levels)
        return out

    def check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted", "call fit(panel, freq) before predict")

    @abstractmethod
    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None: ...

    @abstractmethod
    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame: ...

    # -- persistence (no pickle) -----------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """JSON-able learned state (subclasses extend); arrays as lists."""
        self.check_fitted()
        return {"freq_": self.freq_, "last_period_": str(self.last_period_)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.freq_ = state["freq_"]
        self.last_period_ = pd.Timestamp(state["last_period_"])
        self.fitted_ = True

    def binary_files(self) -> dict[str, Callable[[str], None]]:
        """Extra files to save beside the JSON state: name -> writer(path). Keras models use this."""
        return {}

    def load_binary_files(self, paths: dict[str, str]) -> None:
        return None
