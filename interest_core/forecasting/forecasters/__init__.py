"""Forecasters; ``registry`` is the one list of them (names, classes, kinds, capabilities)."""

from __future__ import annotations

from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.forecasters.registry import (
    BASELINE_NAMES,
    REGISTRY,
    ModelEntry,
    available,
    forecaster_class,
    make_forecaster,
    names,
    offered_models,
    registry_name,
)

__all__ = ["BASELINE_NAMES", "REGISTRY", "Forecaster", "ModelEntry", "available", "forecaster_class",
           "make_forecaster", "names", "offered_models", "registry_name"]
