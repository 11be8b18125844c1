"""Small literal fixtures shared by the test files: week indices, hand-written panels.

A panel here looks like ``panel.build_panel``'s output (user_id and category as strings, one row per
user, category and period), so a test can state its rows as short tuples and read like a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")  # a Monday: weekly periods start here


def week(i: int) -> pd.Timestamp:
    """The start of week ``i`` counted from ``START``."""
    return START + pd.Timedelta(weeks=i)


def panel_of(rows: Iterable[tuple[str, str, int, float]],
             **columns: Callable[[pd.DataFrame], Any] | Any) -> pd.DataFrame:
    """(user, category, week index, interest) rows -> a panel with ``period`` and ``share``.

    ``columns`` adds columns in the order given, each a value (scalar or one per row) or a function
    of the frame built so far, e.g. ``n_view=lambda f: f["interest"].astype(int)``.
    """
    frame = pd.DataFrame(list(rows), columns=["user_id", "category", "w", "interest"]).astype({"interest": float})
    frame["period"] = frame["w"].map(week)
    frame["share"] = frame["interest"] / frame.groupby(["user_id", "period"])["interest"].transform("sum")
    for name, value in columns.items():
        frame[name] = value(frame) if callable(value) else value
    return frame.drop(columns="w").astype({"user_id": "string", "category": "string"})


def counts_panel(rows: Iterable[tuple[str, str, pd.Timestamp, int, int]]) -> pd.DataFrame:
    """(user, category, period, views, buys) rows -> a panel with every behaviour count.

    Interest weighs a buy 5 and a view 1 (the default weights); favourites, carts and ratings are 0.
    """
    frame = pd.DataFrame(list(rows), columns=["user_id", "category", "period", "n_view", "n_buy"])
    frame["interest"] = frame["n_view"] + 5.0 * frame["n_buy"]
    for behaviour in ("fav", "cart", "rate"):
        frame[f"n_{behaviour}"] = 0
    return frame.astype({"user_id": "string", "category": "string"})


def churny_panel(n_users: int = 120, n_weeks: int = 20, seed: int = 0) -> pd.DataFrame:
    """Users with a steady weekly rate; a third fade and stop at a random week (the planted churners)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        rate = rng.gamma(2.0, 2.0)
        stop = rng.integers(min(6, n_weeks - 1), n_weeks) if u % 3 == 0 else n_weeks + 10
        for t in range(n_weeks):
            fade = 1.0 if t < stop - 3 else max(0.0, (stop - t) / 4)
            n = rng.poisson(rate * fade) if t < stop else 0
            if n:
                rows.append((f"u{u:03d}", f"c{rng.integers(0, 4)}", week(t), n, int(rng.random() < 0.2)))
    return counts_panel(rows)
