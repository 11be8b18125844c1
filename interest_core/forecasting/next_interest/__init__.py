"""Which categories will each user care about next, new ones included (the ``next_interest`` target).

Models for this target rank every category per user (``history.NextInterestModel``); they are
registered here by name, apart from the per-series forecasters, because they learn from the whole
(user x category x period) history and answer a ranking, not a series of values.
"""

from __future__ import annotations

import importlib
from typing import Any

from interest_core.errors import ModelError

NEXT_INTEREST_REGISTRY: dict[str, tuple[str, str]] = {
    "popularity": ("interest_core.forecasting.next_interest.baselines", "Popularity"),
    "item_cf": ("interest_core.forecasting.next_interest.baselines", "ItemCF"),
    "recency_decay": ("interest_core.forecasting.next_interest.baselines", "RecencyDecay"),
    "lstm": ("interest_core.forecasting.next_interest.sequence", "SequenceLSTM"),
}
NEXT_INTEREST_BASELINES: tuple[str, ...] = ("popularity", "item_cf", "recency_decay")
SAVED_PREFIX = "next_interest:"  # a saved model's manifest name: "next_interest:lstm" is not the engagement "lstm"


def next_interest_class(name: str) -> Any:
    """The class registered under ``name`` (imports its module on first use)."""
    if name not in NEXT_INTEREST_REGISTRY:
        raise ModelError(f"unknown next_interest model {name!r}", f"use one of {', '.join(NEXT_INTEREST_REGISTRY)}")
    module_name, class_name = NEXT_INTEREST_REGISTRY[name]
    return getattr(importlib.import_module(module_name), class_name)


def saved_name(model: object) -> str:
    """The manifest name of a next-interest model (``next_interest:<registry name>``)."""
    key = (type(model).__module__, type(model).__name__)
    for name, entry in NEXT_INTEREST_REGISTRY.items():
        if entry == key:
            return SAVED_PREFIX + name
    raise ModelError(f"{type(model).__name__} is not a registered next_interest model",
                     "register it in interest_core.forecasting.next_interest before saving it")


def make_next_interest(name: str, **params: Any) -> Any:
    """A new, unfitted next-interest model; unknown names or parameters raise a ModelError naming the valid ones."""
    cls = next_interest_class(name)
    unknown = sorted(set(params) - set(cls._param_names()))
    if unknown:
        raise ModelError(f"{name} has no parameter(s) {unknown}", f"use {', '.join(cls._param_names()) or 'none'}")
    return cls(**params)
