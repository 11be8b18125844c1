"""Finding users on the User page: by id, by top category (or group) and by segment, and the user the page
opens on (an active one with recommendations that stand out)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from interest_core.config import GroupingSpec
from ui.store import DatasetKey

DEFAULT_CANDIDATES = 30  # most active users of the last complete period tried as the default user


@st.cache_data(show_spinner=False, max_entries=16)
def user_tops(ds: DatasetKey, spec: GroupingSpec) -> pd.DataFrame:
    """user_id, top, top_share, interest of every user (views.users.user_tops), most engaged first."""
    from interest_core.views.users import user_tops as tops
    from ui import grouping

    return tops(grouping.user_category(ds), grouping.base_map(ds, spec))


@st.cache_data(show_spinner="Finding an active user to start with...", max_entries=16)
def default_user(ds: DatasetKey, freq: str) -> str | None:
    """An active user (most interest in the last complete period) whose new recommendations stand out."""
    from interest_core.periods import Window
    from interest_core.views.users import default_user as pick
    from ui import queries, views

    last = queries.last_complete_period(ds, freq)
    # Only that period's panel rows (the stored panel filtered in DuckDB), not the whole panel.
    frame = queries.analytics_panel(ds.within(Window.of_periods(last, last, freq)), freq)
    recent = frame[frame["period"] == last].groupby("user_id", as_index=False)["interest"].sum()
    recent = recent.sort_values(["interest", "user_id"], ascending=[False, True]).head(DEFAULT_CANDIDATES)
    if recent.empty:
        return None
    recs = [views.recommendations(ds, user, k=10).assign(user_id=user) for user in recent["user_id"].astype(str)]
    return pick(recent, pd.concat(recs, ignore_index=True))
