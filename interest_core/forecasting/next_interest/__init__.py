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


def make_next_interest(name: str, **params: Any) -> Any:
    """A new, unfitted next-interest model; unknown names or parameters raise a ModelError naming the valid ones."""
    if name not in NEXT_INTEREST_REGISTRY:
        raise ModelError(f"unknown next_interest model {name!r}", f"use one of {', '.join(NEXT_INTEREST_REGISTRY)}")
    module_name, class_name = NEXT_INTEREST_REGISTRY[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    unknown = sorted(set(params) - set(cls._param_names()))
    if unknown:
        raise ModelError(f"{name} has no parameter(s) {unknown}", f"use {', '.join(cls._param_names()) or 'none'}")
    return cls(**params)
