"""Synthetic behaviour logs with planted, known structure (the demo dataset and test fixtures).

What is planted, so that every analysis in the app has a ground truth to recover:

- segments: users belong to one of a few segments with distinct category preferences and
  behaviour profiles (activity level, views per session, cart and buy rates);
- seasonality (Swimwear/Cycling peak in summer, Ski gear/Outerwear in winter) and promotions
  (one category's interest multiplied for about two weeks, buys at a discount);
- migrations: a fraction of one segment's users move their interest from category A to B
  around a date, each user switching on their own day inside the migration window;
- churn: some users' activity fades over the weeks before their churn date, then stops;
- weekly rhythm (busier weekends), a daily rhythm, and a view > fav/cart > buy funnel.

Everything is vectorised numpy over user-days, sessions and events (no per-event Python), and
the output depends only on the spec: the same seed gives an identical events frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "category", "behavior", "ts", "value")

# department -> categories (human names, so charts read without a lookup table)
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Phones", "Laptops", "Headphones", "Cameras"),
    "Home": ("Furniture", "Kitchen", "Bedding", "Garden"),
    "Fashion": ("Shoes", "Dresses", "Outerwear", "Swimwear"),
    "Sports": ("Running", "Cycling", "Ski gear", "Camping"),
    "Beauty": ("Skincare", "Makeup", "Fragrance", "Haircare"),
}
CATEGORIES: tuple[str, ...] = tuple(c for cats in DEPARTMENTS.values() for c in cats)
# Median item price per category (buys carry the price as value).
PRICES: dict[str, float] = {
    "Phones": 450, "Laptops": 900, "Headphones": 80, "Cameras": 600, "Furniture": 320, "Kitchen": 45,
    "Bedding": 60, "Garden": 55, "Shoes": 90, "Dresses": 70, "Outerwear": 160, "Swimwear": 40,
    "Running": 85, "Cycling": 420, "Ski gear": 260, "Camping": 120, "Skincare": 30, "Makeup": 25,
    "Fragrance": 75, "Haircare": 20,
}
# category -> (peak day of year, amplitude of log-interest); the multiplier is exp(amp * cos(...)).
SEASONS: dict[str, tuple[int, float]] = {
    "Swimwear": (196, 1.0), "Cycling": (175, 0.6), "Ski gear": (15, 1.0), "Outerwear": (350, 0.6),
}
WEEKDAY_FACTOR = np.array([0.88, 0.85, 0.88, 0.92, 1.0, 1.3, 1.25])  # Mon..Sun: busier weekends
HOUR_WEIGHT = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
                        3.6, 3.4, 3.0, 2.9, 3.0, 3.3, 3.9, 4.6, 5.0, 4.6, 3.4, 2.0])
BEHAVIOR_ORDER: tuple[str, ...] = ("view", "fav", "cart", "buy", "rate")


@dataclass(frozen=True)
class Segment:
    """A planted user segment: category preference and behaviour profile."""

    name: str
    weight: float  # share of users
    prefs: tuple[tuple[str, float], ...]  # category -> relative preference; unlisted get `floor`
    sessions_per_day: float
    views_per_session: float  # mean extra views beyond the first
    p_fav: float
    p_cart: float
    p_buy_given_cart: float
    churn_risk: float = 1.0  # relative churn probability
    floor: float = 0.12


@dataclass(frozen=True)
class Migration:
    """A fraction of a segment's users move interest from one category to another."""

    segment: str
    from_category: str
    to_category: str
    at: float  # start, as a fraction of the span (so small test specs still contain it)
    fraction: float = 0.5
    ramp_days: int = 21


@dataclass(frozen=True)
class Promotion:
    category: str
    at: float  # start, as a fraction of the span
    days: int = 14
    uplift: float = 3.0  # multiplier on the category's interest weight
    discount: float = 0.2  # buys in the window are at this discount


DEFAULT_SEGMENTS: tuple[Segment, ...] = (
    Segment("tech enthusiasts", 0.22, (("Phones", 3.0), ("Laptops", 2.2), ("Headphones", 2.0), ("Cameras", 2.6)),
            0.24, 2.5, 0.12, 0.14, 0.45, churn_risk=0.8),
    Segment("home makers", 0.20, (("Furniture", 2.4), ("Kitchen", 3.0), ("Bedding", 2.0), ("Garden", 1.6)),
            0.15, 1.8, 0.15, 0.24, 0.65, churn_risk=0.7),
    Segment("fashion followers", 0.24, (("Shoes", 2.4), ("Dresses", 2.6), ("Outerwear", 1.4), ("Swimwear", 1.2),
                                        ("Skincare", 1.4), ("Makeup", 1.6), ("Fragrance", 0.9)),
            0.26, 3.0, 0.25, 0.17, 0.42, churn_risk=1.0),
    Segment("outdoor sports", 0.16, (("Running", 3.0), ("Cycling", 1.8), ("Ski gear", 1.5), ("Camping", 1.8),
                                     ("Outerwear", 0.6), ("Shoes", 0.5)),
            0.18, 2.2, 0.10, 0.16, 0.5, churn_risk=0.9),
    Segment("bargain browsers", 0.18, tuple((c, 0.55) for c in CATEGORIES), 0.22, 4.5, 0.07, 0.06, 0.2,
            churn_risk=1.8, floor=0.0),
)
DEFAULT_MIGRATIONS: tuple[Migration, ...] = (
    Migration("tech enthusiasts", "Cameras", "Phones", at=0.22, fraction=0.5),
    Migration("home makers", "Kitchen", "Garden", at=0.42, fraction=0.45),
    Migration("outdoor sports", "Running", "Cycling", at=0.62, fraction=0.55),
)
DEFAULT_PROMOTIONS: tuple[Promotion, ...] = (
    Promotion("Makeup", at=0.10, days=14, uplift=3.0),
    Promotion("Headphones", at=0.78, days=14, uplift=4.0),
)


@dataclass(frozen=True)
class SynthSpec:
    n_users: int = 1500
    start: str = "2024-01-01"
    days: int = 420
    seed: int = 7
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    migrations: tuple[Migration, ...] = DEFAULT_MIGRATIONS
    promotions: tuple[Promotion, ...] = DEFAULT_PROMOTIONS
    churn_rate: float = 0.15
    churn_fade_days: int = 42  # activity declines linearly over this many days before churn
    late_joiners: float = 0.25  # share of users who join during the first half of the span
    pref_concentration: float = 30.0  # Dirichlet concentration of a user's preference around the segment's
    items_per_category: tuple[int, int] = (150, 400)
    rate_share: float = 0.25  # share of buys later rated (behaviour 'rate', value 1-5)
    extra: dict[str, float] = field(default_factory=dict, hash=False, compare=False)  # reserved for callers

    def __post_init__(self) -> None:
        if self.n_users < 10 or self.days < 56:
            raise ValueError("synthetic data needs n_users >= 10 and days >= 56 (8 weeks)")
        names = {s.name for s in self.segments}
        for m in self.migrations:
            if m.segment not in names or {m.from_category, m.to_category} - set(CATEGORIES):
                raise ValueError(f"migration {m} names an unknown segment or category")
        for p in self.promotions:
            if p.category not in CATEGORIES:
                raise ValueError(f"promotion {p} names an unknown category")


@dataclass(frozen=True)
class SynthResult:
    events: pd.DataFrame
    users: pd.DataFrame
    migrations: pd.DataFrame
    migrating_users: pd.DataFrame
    categories: pd.DataFrame
    promotions: pd.DataFrame
