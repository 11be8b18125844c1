"""What the User page shows of one person: shares over time, long- vs short-term interest, the
changes of top category, diversity, a profile card, and a forecast of their next periods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from interest_core.analytics import trajectories as traj
from interest_core.config import BehaviorWeights, PanelSpec
from interest_core.forecasting.series import last_complete_period
from interest_core.panel import EventsSource
from interest_core.transforms import interest_profile

# The share columns a change of top category can be read in: each period's raw shares, or the
# short- and long-term (smoothed) shares.
CHANGE_BASES: tuple[str, ...] = ("share", "short_share", "long_share")
FORECAST_COLUMNS = ("category", "period", "kind", "model", "interest", "share")  # trajectories.merge_forecast
LONG_SHORT_TOP_K = 3  # categories on the long- vs short-term chart: more lines stop being readable


@dataclass(frozen=True, eq=False)
class UserView:
    """One user's frames (the panel rows of that user only, so it costs what one user has)."""

    shares: pd.DataFrame
    long_short: pd.DataFrame
    changes: Mapping[str, pd.DataFrame]  # CHANGE_BASES -> change points
    diversity: pd.DataFrame
    card: Mapping[str, Any]
    long_half_life: float
    short_half_life: float


def user_view(rows: pd.DataFrame, spec: PanelSpec, user: str, *, top_k: int = 8) -> UserView:
    """The User page's view of ``user`` from their panel rows (``panel.build_panel(..., users=[user])``)."""
    profile = interest_profile(rows, spec)
    return UserView(
        shares=traj.stacked_shares(rows, user, spec.freq, top_k=top_k),
        long_short=traj.long_short_interest(rows, spec, user, top_k=LONG_SHORT_TOP_K),
        changes={col: traj.change_points(rows if col == "share" else profile, share_col=col) for col in CHANGE_BASES},
        diversity=traj.diversity(rows),
        card=traj.profile_card(rows, user, spec.freq),
        long_half_life=spec.long_half_life,
        short_half_life=spec.short_half_life,
    )


def user_forecast(rows: pd.DataFrame, user: str, freq: str, data_end: pd.Timestamp, *, model: str = "recency_decay",
                  h: int = 4) -> pd.DataFrame:
    """History and an h-period forecast of one user, fitted up to the last complete period (a partial
    last period would read as the user slowing down); a user with no rows gets an empty frame."""
    if rows.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS))
    end = last_complete_period(rows["period"].max(), pd.Timestamp(data_end), freq)
    return traj.forecast_user(rows, user, freq, model=model, h=h, end=end)


def user_tops(user_category: pd.DataFrame, category_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """user_id, top, top_share, interest: each user's top category (or group of ``category_map``) over the
    whole log, its share of their interest and their total interest; most engaged users first."""
    frame = user_category[user_category["interest"] > 0].astype({"user_id": str, "category": str})
    if category_map is not None:
        groups = category_map.astype(str).set_index("category")["group"]
        frame = frame.assign(category=frame["category"].map(groups).fillna(frame["category"]))
    per = frame.groupby(["user_id", "category"], as_index=False)["interest"].sum()
    total = per.groupby("user_id")["interest"].transform("sum")
    per = per.assign(top_share=per["interest"] / total, total=total)
    top = per.sort_values(["user_id", "interest", "category"], ascending=[True, False, True]).drop_duplicates("user_id")
    out = top.rename(columns={"category": "top"})[["user_id", "top", "top_share", "total"]]
    out = out.rename(columns={"total": "interest"})
    return out.sort_values(["interest", "user_id"], ascending=[False, True]).reset_index(drop=True)


def user_tops_in_db(source: EventsSource, category_map: pd.DataFrame | None = None,
                    weights: BehaviorWeights = BehaviorWeights()) -> pd.DataFrame:
    """``user_tops`` of every user of a log, summed in the database (a large log's user x category pairs would
    not fit in pandas); equal to ``user_tops(panel.user_category_totals(source), category_map)``."""
    from interest_core.panel import _weight_sql

    frames = {"ic_groups": category_map[["category", "group"]].astype(str)} if category_map is not None else {}
    label = 'coalesce(g."group", uc.category)' if frames else "uc.category"
    join = "LEFT JOIN ic_groups g ON uc.category = g.category" if frames else ""
    sql = f"""WITH uc AS (SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(category AS VARCHAR) AS category,
                                 sum({_weight_sql(weights)}) AS interest FROM {{events}} GROUP BY ALL),
                   per AS (SELECT uc.user_id, {label} AS top, sum(uc.interest) AS interest
                           FROM uc {join} WHERE uc.interest > 0 GROUP BY ALL),
                   best AS (SELECT user_id, max(interest) AS best, sum(interest) AS total FROM per GROUP BY ALL)
              SELECT p.user_id, min(p.top) AS top, any_value(b.best / b.total) AS top_share,
                     any_value(b.total) AS interest
              FROM per p JOIN best b ON p.user_id = b.user_id AND p.interest = b.best
              GROUP BY p.user_id ORDER BY interest DESC, p.user_id"""
    out = source.query_arrow(sql, frames=frames or None)
    return out.astype({"user_id": str, "top": str, "top_share": "float64", "interest": "float64"})


def default_user(recent: pd.DataFrame, recs: pd.DataFrame, min_recs: int = 3) -> str | None:
    """The user a page opens on: among the recently active users (``recent``: user_id, interest, most active
    first), the one whose new recommendations (``recs``: user_id, score, rank) stand out most (the top score
    against the last one shown), at least ``min_recs`` of them; None when no user has any."""
    counts = recs.groupby("user_id")["score"].agg(["size", "max", "min"])
    counts = counts[counts["size"] >= min_recs]
    if counts.empty:
        return None
    spread = ((counts["max"] - counts["min"]) / counts["max"].where(counts["max"] > 0)).fillna(0.0)
    order = {str(u): i for i, u in enumerate(recent["user_id"].astype(str))}
    ranked = sorted(spread.index.astype(str), key=lambda u: (-round(float(spread[u]), 2), order.get(u, len(order))))
    return ranked[0]
