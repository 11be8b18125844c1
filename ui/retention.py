"""Cached views of the Retention page (``interest_core.analytics.retention``): small aggregates built in
DuckDB, keyed on the dataset's key and the page's choices."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from interest_core.analytics.retention import CohortRetention, OrderedFunnel, Returning
from ui.queries import window
from ui.store import DatasetKey, stored


@st.cache_data(show_spinner="Counting cohorts...", max_entries=32)
def cohorts(ds: DatasetKey, freq: str, returning: Returning, max_cohorts: int, max_offset: int = 52
            ) -> CohortRetention:
    """The cohort grid over the dataset's main span (stray far-off timestamps left out)."""
    from interest_core.analytics.retention import MAX_COHORTS, cohort_retention
    from interest_core.derived_results import result_key

    found = stored(ds, result_key("cohorts", freq, returning))  # the opening grid, from prepare
    if found is not None and max_offset == 52 and max_cohorts <= MAX_COHORTS:
        return CohortRetention.from_facts(found.frame, found.facts).latest(max_cohorts)
    span = window(ds)
    return cohort_retention(ds.source(), freq, returning=returning, max_cohorts=max_cohorts, max_offset=max_offset,
                            start=span["start"], end=span["end"])


@st.cache_data(show_spinner="Following users through the funnel...", max_entries=32)
def funnel(ds: DatasetKey, steps: tuple[str, ...], window_hours: int) -> OrderedFunnel:
    """Users who did ``steps`` in order, each within ``window_hours`` of the first step."""
    from interest_core.analytics.retention import ordered_funnel
    from interest_core.derived_results import result_key

    found = stored(ds, result_key("ordered_funnel", ",".join(steps), window_hours))  # the default, from prepare
    if found is not None:
        facts = found.facts
        return OrderedFunnel(tuple(facts["steps"]), tuple(facts["missing"]), pd.Timedelta(hours=window_hours),
                             found.frame, bool(facts["day_granular"]))
    span = window(ds)
    return ordered_funnel(ds.source(), steps, pd.Timedelta(hours=window_hours), start=span["start"], end=span["end"])
