"""Forecaster registry: ``make_forecaster(name, **params)`` and ``available()``.

The LSTM is imported only when asked for (its module pulls TensorFlow in lazily itself, but it
may not be installed or present everywhere); the others are cheap to import.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from interest_core.errors import ModelError
from interest_core.forecasting.forecasters.base import Forecaster

# name -> (module, class); every built-in forecaster, in the order they are listed to people.
REGISTRY: dict[str, tuple[str, str]] = {
    "last_value": ("interest_core.forecasting.forecasters.baselines", "LastValue"),
    "seasonal_naive": ("interest_core.forecasting.forecasters.baselines", "SeasonalNaive"),
    "window_mean": ("interest_core.forecasting.forecasters.baselines", "WindowMean"),
    "recency_decay": ("interest_core.forecasting.forecasters.baselines", "RecencyDecay"),
    "arima": ("interest_core.forecasting.forecasters.arima", "ArimaForecaster"),
    "lstm": ("interest_core.forecasting.forecasters.lstm", "LSTMForecaster"),
}
BASELINE_NAMES: tuple[str, ...] = ("last_value", "seasonal_naive", "window_mean", "recency_decay")


def forecaster_class(name: str) -> type[Forecaster]:
    """The class registered under ``name`` (imports its module on first use)."""
    if name not in REGISTRY:
        raise ModelError(f"unknown forecaster {name!r}", f"use one of {', '.join(REGISTRY)}")
    module_name, class_name = REGISTRY[name]
    if importlib.util.find_spec(module_name) is None:
        raise ModelError(f"forecaster {name!r} is not installed here ({module_name} is missing)",
                         "pick another model, or install the version of interest_core that has it")
    cls: type[Forecaster] = getattr(importlib.import_module(module_name), class_name)
    return cls


def make_forecaster(name: str, **params: Any) -> Forecaster:
    """A new, unfitted forecaster; unknown parameters raise a ModelError naming the valid ones."""
    cls = forecaster_class(name)
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ModelError(f"{name} has no parameter(s) {unknown}", f"use {', '.join(valid) or 'none'}")
    return cls(**params)


def available() -> dict[str, type[Forecaster]]:
    """name -> class for every forecaster whose module is present (the LSTM's only if it is)."""
    out: dict[str, type[Forecaster]] = {}
    for name, (module_name, _) in REGISTRY.items():
        if importlib.util.find_spec(module_name) is not None:
            out[name] = forecaster_class(name)
    return out
