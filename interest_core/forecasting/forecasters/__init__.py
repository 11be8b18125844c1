"""Forecasters. ``registry`` is the one list of them (names, kinds, capabilities); the typed
constructors below build a registered class by name (and only those)."""

from __future__ import annotations

from typing import Any

from interest_core.errors import ModelError
from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.forecasters.registry import (
    BASELINE_NAMES,
    REGISTRY,
    ModelEntry,
    check_available,
    is_available,
    names,
    offered_models,
    registry_name,
)

__all__ = ["BASELINE_NAMES", "REGISTRY", "Forecaster", "ModelEntry", "available", "forecaster_class",
           "make_forecaster", "names", "offered_models", "registry_name"]


def forecaster_class(name: str) -> type[Forecaster]:
    """The class registered under ``name`` (imports its module on first use)."""
    cls = check_available(name).load()
    if not (isinstance(cls, type) and issubclass(cls, Forecaster)):
        raise ModelError(f"registry entry {name!r} is not a Forecaster", "fix forecasters/registry.py")
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
    """name -> class for every forecaster that can run here (the LSTM only with TensorFlow)."""
    return {name: forecaster_class(name) for name in names() if is_available(name)}
