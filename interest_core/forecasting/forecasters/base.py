"""The forecaster contract (scikit-learn style, Nixtla-style long frames).

Input to ``fit``: a long frame with columns ``unique_id`` (str), ``period`` (datetime64, period
start), ``y`` (float, >= 0), one row per series and period, dense (zeros included) over the
training window. For engagement (user x category) series it also carries ``user_id`` and
``category`` so global models can derive the user's total and the category's popularity.

Output of ``predict(h, level=...)``: the long Forecasts frame ``FORECAST_COLUMNS`` plus
``lo_<L>`` / ``hi_<L>`` for each level L: one row per series and future period, with
``p_engage`` = probability that the series is > 0 in at least one of the next h periods
(the same value on every row of a series; NaN where a model has no notion of it).

Rules: ``__init__`` only stores parameters (scikit-learn's ``BaseEstimator`` gives get_params,
set_params, clone and repr); ``fit`` returns self; learned state ends in ``_`` and each class
lists it once in ``learned``, which the base class turns into JSON (``to_state``) and back
(``from_state``, the one loader, which returns a fitted model); binary files (Keras) are named
in ``files``. Using an unfitted model raises NotFittedError; results are deterministic given
``seed``. Never pickle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.base import clone as sk_clone

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


# -- learned state <-> JSON (arrays, timestamps, tuples and nested forecasters keep their type) ----

def encode_state(value: Any) -> Any:
    if isinstance(value, Forecaster):
        from interest_core.forecasting.forecasters.registry import registry_name

        return {"__forecaster__": registry_name(value), "params": encode_state(value.get_params()),
                "state": value.to_state()}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"__ndarray__": [str(v) for v in value.ravel()], "dtype": "str", "shape": list(value.shape)}
        return {"__ndarray__": value.ravel().tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, pd.Timestamp):
        return {"__timestamp__": value.isoformat()}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_state(v) for v in value]}
    if isinstance(value, list):
        return [encode_state(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_state(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"learned state of type {type(value).__name__} has no JSON form")


def decode_state(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_state(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        dtype = object if value["dtype"] == "str" else np.dtype(value["dtype"])
        return np.asarray(value["__ndarray__"], dtype=dtype).reshape(value["shape"])
    if "__timestamp__" in value:
        return pd.Timestamp(value["__timestamp__"])
    if "__tuple__" in value:
        return tuple(decode_state(v) for v in value["__tuple__"])
    if "__forecaster__" in value:  # only registered classes are ever built
        from interest_core.forecasting.forecasters.registry import check_available

        cls = check_available(str(value["__forecaster__"])).load()
        if not issubclass(cls, Forecaster):
            raise TypeError(f"{value['__forecaster__']!r} is not a forecaster")
        return cls.from_state(decode_state(value["params"]), value["state"])
    return {k: decode_state(v) for k, v in value.items()}


class Forecaster(BaseEstimator, ABC):  # type: ignore[misc]
    """Base of every forecaster. Subclasses set ``name`` and ``learned``, and implement ``_fit`` and ``_predict``."""

    name: ClassVar[str] = "forecaster"
    learned: ClassVar[tuple[str, ...]] = ("freq_", "last_period_")  # extended (not repeated) by subclasses
    files: ClassVar[tuple[str, ...]] = ()  # binary files saved beside state.json (written by _write_files)

    @classmethod
    def _param_names(cls) -> list[str]:
        return list(cls._get_param_names())

    @classmethod
    def learned_attributes(cls) -> tuple[str, ...]:
        """Every ``learned`` name along the class hierarchy, base class first."""
        out: list[str] = []
        for klass in reversed(cls.__mro__):
            out += [a for a in vars(klass).get("learned", ()) if a not in out]
        return tuple(out)

    def clone(self) -> Self:
        """Same parameters, not fitted (scikit-learn's clone)."""
        cloned: Self = sk_clone(self)
        return cloned

    # -- the contract ---------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None = None) -> Self:
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
        return self._predict(h, check_levels(level))

    def check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted", "call fit(panel, freq) before predict")

    @abstractmethod
    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None: ...

    @abstractmethod
    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame: ...

    # -- persistence (no pickle) -----------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The learned state as JSON-able data (every name in ``learned_attributes``)."""
        self.check_fitted()
        return {a: encode_state(getattr(self, a)) for a in self.learned_attributes()}

    @classmethod
    def from_state(cls, params: Mapping[str, Any], state: Mapping[str, Any],
                   files: Mapping[str, Path] | None = None) -> Self:
        """A fitted model from its parameters, ``to_state`` output and binary files (the one loader)."""
        missing = [a for a in cls.learned_attributes() if a not in state]
        if missing:
            raise ValueError(f"state lacks {', '.join(missing)}")
        model = cls(**params)
        for attribute in cls.learned_attributes():
            setattr(model, attribute, decode_state(state[attribute]))
        absent = [f for f in cls.files if files is None or f not in files]
        if absent:
            raise ValueError(f"binary file(s) {', '.join(absent)} not given")
        model._read_files({f: Path(files[f]) for f in cls.files} if files else {})
        model.fitted_ = True
        return model

    def write_files(self, folder: Path) -> tuple[str, ...]:
        """Write the binary files named in ``files`` into ``folder``; returns their names."""
        self.check_fitted()
        self._write_files(Path(folder))
        return self.files

    def _write_files(self, folder: Path) -> None:
        return None

    def _read_files(self, paths: dict[str, Path]) -> None:
        return None
