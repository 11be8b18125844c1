"""Small literal fixtures shared by the test files: week indices, hand-written panels.

A panel here looks like ``panel.build_panel``'s output (user_id and category as strings, one row per
user, category and period), so a test can state its rows as short tuples and read like a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
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


def write_taobao_log(path: str | Path, events: int, *, users: int, categories: int, days: int,
                     start: str = "2017-11-25", seed: float = 0.42) -> Path:
    """A Taobao UserBehavior-format CSV (no header; pv/fav/cart/buy; epoch seconds) generated in DuckDB.

    Users and categories are skewed (a few heavy users, a few big categories), each user keeps to a few
    favourite categories, behaviours are mostly views; a fifth of the users join late and two fifths stop
    early (churners). Nothing is held in pandas, so any size fits.
    """
    import duckdb

    out = Path(path)
    t0 = int(pd.Timestamp(start, tz="UTC").timestamp())
    con = duckdb.connect()
    try:
        con.execute(f"SELECT setseed({seed})")
        con.execute(f"""
            COPY (
              WITH e AS (
                SELECT i,
                       CAST(floor({users} * pow(random(), 2.0)) AS BIGINT) AS u,
                       random() AS r_cat, random() AS r_fav, random() AS r_beh, random() AS r_ts,
                       CAST(floor(random() * 4) AS BIGINT) AS slot
                FROM range({int(events)}) t(i)
              ), life AS (  -- each user's active stretch, as fractions of the span
                SELECT *, CASE WHEN hash(u * 19) % 10 < 2 THEN 0.5 * (hash(u * 23) % 1000) / 1000.0
                               ELSE 0.0 END AS joined,
                          CASE WHEN hash(u * 13) % 10 < 4 THEN 0.3 + 0.7 * (hash(u * 17) % 1000) / 1000.0
                               ELSE 1.0 END AS stopped
                FROM e
              )
              SELECT u + 1 AS user_id,
                     CAST(floor(r_fav * 5000000) AS BIGINT) + 1 AS item_id,
                     CASE WHEN r_cat < 0.8 THEN (hash(u * 7 + slot) % {categories}) + 1
                          ELSE CAST(floor({categories} * pow(r_cat, 3.0)) AS BIGINT) + 1 END AS category_id,
                     CASE WHEN r_beh < 0.89 THEN 'pv' WHEN r_beh < 0.92 THEN 'fav'
                          WHEN r_beh < 0.98 THEN 'cart' ELSE 'buy' END AS behavior_type,
                     {t0} + CAST(floor((joined + r_ts * (greatest(stopped, joined + 0.2) - joined))
                                       * {days * 86400}) AS BIGINT) AS timestamp
              FROM life
            ) TO '{out}' (FORMAT csv, HEADER false)
        """)
    finally:
        con.close()
    return out
