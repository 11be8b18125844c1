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
    from interest_core.derived_results import category_noun, result_key
    from interest_core.views.users import user_tops as tops
    from interest_core.views.users import user_tops_in_db as tops_in_db
    from ui import grouping
    from ui.store import describe, over_model_cap, stored

    if spec.method == "learned":  # prepare ranked every user's top group of the default grouping
        found = stored(ds, result_key("user_tops", spec.n_groups, spec.seed, category_noun(describe(ds).format)))
        if found is not None:
            return found.frame
    if over_model_cap(ds):  # summed in DuckDB: every user, no frame of every user's categories
        return tops_in_db(ds.source(), grouping.base_map(ds, spec))
    return tops(grouping.user_category(ds), grouping.base_map(ds, spec))


@st.cache_data(show_spinner="Finding an active user to start with...", max_entries=16)
def default_user(ds: DatasetKey, freq: str) -> str | None:
    """An active user (most interest in the last complete period) whose new recommendations stand out."""
    from interest_core.derived_panel import most_engaged_users, stored_source
    from interest_core.periods import Window
    from interest_core.views.users import default_user as pick
    from ui import queries, views

    last = queries.last_complete_period(ds, freq)
    source = stored_source(ds.store(), ds.name, freq, ds.window)
    if source is not None:  # summed in DuckDB: that period holds 3.3 M rows of the 100 M-event log's daily panel
        recent = most_engaged_users(source, last, DEFAULT_CANDIDATES)
    else:  # only that period's panel rows, not the whole panel
        frame = queries.analytics_panel(ds.within(Window.of_periods(last, last, freq)), freq)
        recent = frame[frame["period"] == last].groupby("user_id", as_index=False)["interest"].sum()
        recent = recent.sort_values(["interest", "user_id"], ascending=[False, True]).head(DEFAULT_CANDIDATES)
    if recent.empty:
        return None
    # One call for every candidate: per call the recommender's overhead was 0.1-0.4 s on a 100 k-user log.
    recs = views.recommendations_of(ds, recent["user_id"].astype(str).tolist(), k=10)
    return pick(recent, recs)
