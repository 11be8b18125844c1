"""A Taobao-like file to try scoring with: the latest weeks of a stored dataset in Taobao UserBehavior layout.

The Scoring page offers it beside the uploader, so scoring can be tried without a file at hand.
It is what an analyst would export a few weeks after training: mostly users the model knows,
some new ones (renamed ids: cold start) and one category the model never saw (folded into
``other``), written as ``user_id,item_id,category_id,behavior_type,timestamp`` with pv/fav/cart/buy
codes and epoch seconds, so it goes through the Taobao preset of the ordinary ingest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interest_core.panel import EventsSource

TAOBAO_CODES: dict[str, str] = {"view": "pv", "fav": "fav", "cart": "cart", "buy": "buy"}  # Taobao has no ratings
UNSEEN_CATEGORY = "Drones"


def taobao_like(source: EventsSource, *, days: int = 35, users: int = 300, new_user_share: float = 0.1,
                unseen_share: float = 0.03, seed: int = 0) -> bytes:
    """CSV bytes: ``users`` sampled users' events of the last ``days`` days, some renamed, some recategorised."""
    last = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
    start = last - pd.Timedelta(days=days)
    events = source.query(
        "SELECT user_id, item_id, category, behavior, ts FROM {events} WHERE ts > ? AND behavior IN (?, ?, ?, ?) "
        "ORDER BY ts, user_id", [start.to_pydatetime(), *TAOBAO_CODES])
    rng = np.random.default_rng(seed)
    ids = np.sort(events["user_id"].astype(str).unique())
    chosen = rng.choice(ids, size=min(users, len(ids)), replace=False)
    events = events[events["user_id"].astype(str).isin(set(chosen))].reset_index(drop=True)
    renamed = rng.choice(chosen, size=int(len(chosen) * new_user_share), replace=False)
    user = events["user_id"].astype(str)
    user = user.where(~user.isin(set(renamed)), "new-" + user)
    category = events["category"].astype(str).where(rng.random(len(events)) >= unseen_share, UNSEEN_CATEGORY)
    out = pd.DataFrame({
        "user_id": user, "item_id": events["item_id"].astype("string").fillna(""), "category_id": category,
        "behavior_type": events["behavior"].astype(str).map(TAOBAO_CODES),
        "timestamp": (pd.to_datetime(events["ts"]) - pd.Timestamp(0)) // pd.Timedelta(seconds=1),
    })
    return out.to_csv(index=False).encode("utf-8")
