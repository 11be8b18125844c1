"""Frozen configuration dataclasses: behaviour weights, panel and ingest specs.

Everything a stage needs to be reproduced is a parameter here, so a saved model's
manifest can record the exact spec it was trained on (``asdict`` round-trips).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from interest_core.periods import Freq, check_freq

DuplicatePolicy = Literal["keep", "drop", "auto"]


@dataclass(frozen=True)
class BehaviorWeights:
    """How much one event of each behaviour counts towards interest."""

    view: float = 1.0
    fav: float = 2.0
    cart: float = 3.0
    buy: float = 5.0
    rate: float = 2.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def __post_init__(self) -> None:
        for name, weight in asdict(self).items():
            if weight < 0:
                raise ValueError(f"behaviour weight {name}={weight} is negative; weights must be >= 0")


@dataclass(frozen=True)
class GroupingSpec:
    """How raw categories are grouped before the panel is built.

    method: ``none`` keeps raw categories; ``topk`` keeps the K most engaged and folds the rest
    into ``other``; ``map`` renames with ``names`` (unmapped ids kept or folded, see
    ``unmapped``); ``learned`` clusters categories by the users they share into ``n_groups``.
    """

    method: Literal["none", "topk", "map", "learned"] = "none"
    k: int = 20
    names: tuple[tuple[str, str], ...] = ()
    unmapped: Literal["keep", "other"] = "keep"
    n_groups: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("none", "topk", "map", "learned"):
            raise ValueError(f"unknown grouping method {self.method!r}; use none, topk, map or learned")
        if self.method == "topk" and self.k < 1:
            raise ValueError("grouping k must be at least 1")
        if self.method == "learned" and self.n_groups < 2:
            raise ValueError("learned grouping needs n_groups >= 2")


@dataclass(frozen=True)
class PanelSpec:
    """What an interest panel is: frequency, weights, decay, smoothing and grouping."""

    freq: Freq = "W"
    weights: BehaviorWeights = field(default_factory=BehaviorWeights)
    # Half-life, in periods, of exponential decay applied to interest; None = no decay.
    decay_half_life: float | None = None
    long_half_life: float = 8.0
    short_half_life: float = 1.0
    grouping: GroupingSpec = field(default_factory=GroupingSpec)

    def __post_init__(self) -> None:
        check_freq(self.freq)
        for name in ("long_half_life", "short_half_life"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 periods")
        if self.decay_half_life is not None and self.decay_half_life <= 0:
            raise ValueError("decay_half_life must be > 0 periods, or None for no decay")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelSpec:
        data = dict(data)
        weights = BehaviorWeights(**data.pop("weights", {}))
        grouping_raw = dict(data.pop("grouping", {}))
        grouping_raw["names"] = tuple(tuple(pair) for pair in grouping_raw.get("names", ()))
        return cls(weights=weights, grouping=GroupingSpec(**grouping_raw), **data)


@dataclass(frozen=True)
class IngestOptions:
    """Options of one ingest that change what is stored (and so the dataset's identity)."""

    duplicates: DuplicatePolicy = "auto"
    # Environment variable holding the HMAC key; when set, user ids are pseudonymised.
    pseudonymize_key_env: str | None = None
    encoding: str | None = None
    # Plausible time range; events outside are rejected as time_out_of_range.
    min_year: int = 1995
    max_future_days: int = 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
