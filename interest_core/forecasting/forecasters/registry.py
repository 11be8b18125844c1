"""The one model registry: name -> class, kind and capabilities. Every list of model names derives from it.

Kinds: ``baseline`` (naive, vectorised), ``statistical`` (per-series ARIMA), ``neural`` (Keras).
Capabilities: ``scores_unseen`` (applies learned weights to series it never saw, instead of
refitting on them), ``needs_tensorflow`` and ``per_series``. Modules are imported on first use,
so listing the registry costs nothing. This module is data only (it imports no forecaster, so
``base`` can read it without a cycle); the typed constructors (``forecaster_class``,
``make_forecaster``, ``available``) are in the package's ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Literal

from interest_core.errors import ModelError

Kind = Literal["baseline", "statistical", "neural"]
_PKG = "interest_core.forecasting.forecasters"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    module: str
    class_name: str
    kind: Kind
    scores_unseen: bool = False
    needs_tensorflow: bool = False
    per_series: bool = False  # one model per series: never on every user x category pair

    def load(self) -> type[Any]:
        """The class (imports its module on first use); the package's forecaster_class types it."""
        cls: type[Any] = getattr(importlib.import_module(self.module), self.class_name)
        return cls


# In the order they are listed to people.
ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry("last_value", f"{_PKG}.baselines", "LastValue", "baseline"),
    ModelEntry("seasonal_naive", f"{_PKG}.baselines", "SeasonalNaive", "baseline"),
    ModelEntry("window_mean", f"{_PKG}.baselines", "WindowMean", "baseline"),
    ModelEntry("recency_decay", f"{_PKG}.baselines", "RecencyDecay", "baseline"),
    ModelEntry("arima", f"{_PKG}.arima", "ArimaForecaster", "statistical", per_series=True),
    ModelEntry("lstm", f"{_PKG}.lstm", "LSTMForecaster", "neural", scores_unseen=True, needs_tensorflow=True),
)
REGISTRY: dict[str, ModelEntry] = {e.name: e for e in ENTRIES}


def entry(name: str) -> ModelEntry:
    if name not in REGISTRY:
        raise ModelError(f"unknown forecaster {name!r}", f"use one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def names(kind: Kind | None = None) -> tuple[str, ...]:
    """Registered names (of one kind), in listing order."""
    return tuple(e.name for e in ENTRIES if kind is None or e.kind == kind)


BASELINE_NAMES: tuple[str, ...] = names("baseline")


def tensorflow_installed() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def is_available(name: str) -> bool:
    """Whether ``name`` can be built here (the LSTM only where TensorFlow itself is installed)."""
    return not entry(name).needs_tensorflow or tensorflow_installed()


def check_available(name: str) -> ModelEntry:
    """The entry of ``name``, or a ModelError saying why it cannot run here."""
    found = entry(name)
    if not is_available(name):
        raise ModelError(f"forecaster {name!r} needs TensorFlow, which is not installed here",
                         "pick another model, or pip install tensorflow")
    return found


def offered_models(target: str | None = None) -> list[str]:
    """Models a person can pick to train on ``target`` here: per-series models never on engagement pairs."""
    return [n for n in names() if is_available(n) and not (REGISTRY[n].per_series and target == "engagement")]


def registry_name(model: object) -> str:
    """The name under which the model's class is registered (only those can be saved or loaded)."""
    key = (type(model).__module__, type(model).__name__)
    for e in ENTRIES:
        if (e.module, e.class_name) == key:
            return e.name
    raise ModelError(f"{type(model).__name__} is not a registered forecaster",
                     "register it in interest_core.forecasting.forecasters.registry before saving it")
