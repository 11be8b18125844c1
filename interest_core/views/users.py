"""What the User page shows of one person: shares over time, long- vs short-term interest, the
changes of top category, diversity, a profile card, and a forecast of their next periods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from interest_core.analytics import trajectories as traj
from interest_core.config import PanelSpec
from interest_core.forecasting.series import last_complete_period
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
