"""Small synthetic interest panels for forecaster and backtest tests (seeded, built in milliseconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from interest_core.forecasting import series
from tests.builders import START


def synthetic_panel(n_users: int = 6, n_categories: int = 4, n_periods: int = 20, seed: int = 0) -> pd.DataFrame:
    """Sparse panel (user_id, category, period, interest, n_view): Poisson interest with per-pair rates.

    Rates span sparse to busy pairs, with a slow trend, so every model has something to learn.
    """
    rng = np.random.default_rng(seed)
    periods = pd.date_range(START, periods=n_periods, freq="7D")
    rows = []
    for u in range(n_users):
        for c in range(n_categories):
            rate = rng.gamma(0.8, 2.0)
            trend = rng.normal(0.0, 0.03)
            for t, period in enumerate(periods):
                value = rng.poisson(max(rate * (1.0 + trend * t), 0.0))
                if value:
                    rows.append((f"u{u}", f"c{c}", period, float(value), int(value)))
    panel = pd.DataFrame(rows, columns=["user_id", "category", "period", "interest", "n_view"])
    panel["user_id"] = panel["user_id"].astype("string")
    panel["category"] = panel["category"].astype("string")
    return panel


def engagement_frame(n_users: int = 6, n_categories: int = 4, n_periods: int = 20, seed: int = 0) -> pd.DataFrame:
    """Dense engagement training frame (unique_id, user_id, category, period, y)."""
    return series.training_frame(synthetic_panel(n_users, n_categories, n_periods, seed), "engagement", "W")
