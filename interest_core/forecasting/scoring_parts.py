"""Scoring a file in parts (groups of whole users) with the scores of scoring it whole.

A saved model's forecast of one (user, category) series reads a few things that span the whole
scored file: a refitted baseline calibrates p_engage over every series (so does ARIMA's fallback
baseline for the series it falls back on), and the LSTM's category channels count a category's
engaged users and total interest over every user. Everything else is per series or per user.
An engine that forecasts groups of users in parallel (Spark's executors) computes this
``FileContext`` first, from small aggregates, and hands it to every group; ``forecast_part``
then gives each group exactly the forecasts of the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.forecasters.conformal import fit_engage_calibration
from interest_core.forecasting.forecasters.registry import entry, registry_name
from interest_core.forecasting.forecasters.windows import CONTEXT_COLUMNS

SAMPLE_COLUMNS = ("score", "engaged")
CONTEXT_FRAME_COLUMNS = ("category", "period", *CONTEXT_COLUMNS)


@dataclass(frozen=True)
class FileContext:
    """What a part's forecasts need from the whole file."""

    engage_calibration: tuple[float, float] | None = None  # the (fallback) baseline's p_engage mapping
    category_context: pd.DataFrame | None = None  # CONTEXT_FRAME_COLUMNS, for a model reading category channels


def _calibrating_baseline(model: Forecaster) -> Forecaster | None:
    """The baseline whose p_engage calibration spans the file: the model itself, ARIMA's fallback, or none."""
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.forecasting.forecasters.arima import ArimaForecaster
    from interest_core.forecasting.forecasters.baselines import BaselineForecaster

    if isinstance(model, BaselineForecaster):
        return model
    if isinstance(model, ArimaForecaster):
        return make_forecaster(model.fallback)  # what ArimaForecaster fits for the series it falls back on
    return None


def calibrates_over_file(model: Forecaster) -> bool:
    """Whether the model's p_engage (or its fallback's) is calibrated over every series of the file."""
    return _calibrating_baseline(model) is not None


def reads_category_context(model: Forecaster) -> bool:
    """Whether the model applies learned weights to category channels (the LSTM) instead of refitting."""
    return entry(registry_name(model)).scores_unseen


def calibration_sample(model: Forecaster, part: pd.DataFrame, freq: str) -> pd.DataFrame:
    """SAMPLE_COLUMNS of the part's series that the model's p_engage calibration learns from (maybe none)."""
    from interest_core.forecasting.forecasters.baselines import BaselineForecaster

    baseline = _calibrating_baseline(model)
    if not isinstance(baseline, BaselineForecaster) or part.empty:
        return pd.DataFrame({"score": pd.Series(dtype=float), "engaged": pd.Series(dtype=bool)})
    return baseline.engage_sample(part, freq)


def calibration(sample: pd.DataFrame) -> tuple[float, float] | None:
    """The p_engage mapping from every part's ``calibration_sample`` (order-free: sorted first)."""
    ordered = sample.sort_values(list(SAMPLE_COLUMNS), kind="stable")
    return fit_engage_calibration(ordered["score"].to_numpy(float), ordered["engaged"].to_numpy(bool))


def category_context(frame: pd.DataFrame) -> pd.DataFrame:
    """CONTEXT_FRAME_COLUMNS of a whole training frame (what Spark computes in SQL from the panel)."""
    y = frame["y"].clip(lower=0.0)
    parts = frame.assign(cat_users=(y > 0).astype(float), cat_total=y)
    return parts.groupby(["category", "period"], as_index=False, observed=True)[list(CONTEXT_COLUMNS)].sum()


def file_context(model: Forecaster, frame: pd.DataFrame, freq: str) -> FileContext:
    """The context of a whole training frame, in pandas (the reference an engine's aggregates must equal)."""
    if reads_category_context(model):
        return FileContext(category_context=category_context(frame))
    return FileContext(engage_calibration=calibration(calibration_sample(model, frame, freq)))


def _with_context(part: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    keyed = context.astype({"category": part["category"].dtype, "period": part["period"].dtype})
    out = part.merge(keyed, on=["category", "period"], how="left", sort=False)
    return out.fillna({c: 0.0 for c in CONTEXT_COLUMNS})  # a (category, period) with no engaged series


def forecast_part(model: Forecaster, part: pd.DataFrame, freq: str, h: int, context: FileContext) -> pd.DataFrame:
    """The forecasts of the part's series, as scoring the whole file gives them (``scoring._forecast``)."""
    from interest_core.forecasting.forecasters.arima import ArimaForecaster
    from interest_core.forecasting.forecasters.baselines import BaselineForecaster

    if reads_category_context(model):
        frame = part if context.category_context is None else _with_context(part, context.category_context)
        return model.predict_frame(frame, h)  # type: ignore[attr-defined, no-any-return]
    fitted = model.clone().fit(part, freq)
    if isinstance(fitted, BaselineForecaster):
        fitted.with_engage_calibration(context.engage_calibration)
    elif isinstance(fitted, ArimaForecaster) and isinstance(fitted.fallback_model_, BaselineForecaster):
        fitted.fallback_model_.with_engage_calibration(context.engage_calibration)
    return fitted.predict(h)
