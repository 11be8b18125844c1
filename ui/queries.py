"""Cached queries of one dataset (``cache_data`` on its ``DatasetKey`` and the query's arguments).

Each returns a small aggregate (``cache_data`` hands every caller a copy). The interest panel is
the one frame the analytics pages share; it is built in DuckDB per dataset, frequency and grouping.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from interest_core import panel
from interest_core.charts import category_colors
from interest_core.derived_results import result_key
from interest_core.grouping import CategoryChoice
from ui.store import DatasetKey, stored
from ui.store import describe as describe  # re-exported: the pages' usual place for them
from ui.store import kpis as kpis

TOP_K = 8


def data_end(ds: DatasetKey) -> pd.Timestamp:
    """Time of the dataset's last event."""
    return pd.Timestamp(kpis(ds)["end"])


@st.cache_data(show_spinner=False, max_entries=64)
def window(ds: DatasetKey) -> dict[str, Any]:
    """Where most events are in time (start, end, outside, first, last): time axes show this span."""
    from interest_core.derived_results import row_dict

    found = stored(ds, "time_window")
    return row_dict(found) if found is not None else panel.time_window(ds.source())


@st.cache_data(show_spinner=False, max_entries=128)
def activity(ds: DatasetKey, freq: str) -> pd.DataFrame:
    found = stored(ds, result_key("activity", freq))
    return found.frame if found is not None else panel.activity_over_time(ds.source(), freq)


@st.cache_data(show_spinner=False, max_entries=64)
def funnel(ds: DatasetKey) -> pd.DataFrame:
    found = stored(ds, "funnel")
    return found.frame if found is not None else panel.funnel(ds.source())


@st.cache_data(show_spinner=False, max_entries=128)
def top_categories(ds: DatasetKey, freq: str, k: int = TOP_K) -> pd.DataFrame:
    return panel.top_categories_over_time(ds.source(), freq, k=k)


def colors(ds: DatasetKey, n: int = 64) -> dict[str, str]:
    """One colour per category for every chart of this dataset (its n most engaged categories ranked over the
    whole span: a category keeps its colour whatever the date range)."""
    return _colors(ds.whole(), n)


@st.cache_data(show_spinner=False, max_entries=64)
def _colors(ds: DatasetKey, n: int) -> dict[str, str]:
    from ui.grouping import category_totals

    ranked = category_totals(ds)["category"].astype(str).head(n).tolist()
    return category_colors(ranked)


@st.cache_data(show_spinner=False, max_entries=32)
def report(ds: DatasetKey) -> pd.DataFrame:
    return ds.store().report(ds.name).to_frame()


@st.cache_data(show_spinner=False, max_entries=16)
def rejected_rows(ds: DatasetKey) -> pd.DataFrame:
    return ds.store().rejected_rows(ds.name)


@st.cache_data(show_spinner=False, max_entries=64)
def search_users(ds: DatasetKey, text: str = "", limit: int = 50) -> pd.DataFrame:
    """user_id, events, last_seen of users whose id contains ``text``, most active first (from the stored users
    table when the key reads the whole dataset: a million rows, not every event)."""
    from interest_core.derived_panel import search_stored_users

    found = search_stored_users(ds.store(), ds.name, text.strip(), limit) if whole_dataset(ds) else None
    return found if found is not None else panel.search_users(ds.source(), text.strip(), limit)


@st.cache_data(show_spinner=False, max_entries=64)
def period_list(ds: DatasetKey, freq: str) -> list[pd.Timestamp]:
    """Every period start of the date range at this frequency, oldest first, inside the data's main span: the
    periods of a few stray events far from the rest (a log's outliers) are left out."""
    from interest_core.periods import period_grid, period_start

    lo, hi = panel.period_bounds(ds.source(), freq)
    span = window(ds.whole())
    main_lo, main_hi = period_start(span["main_first"], freq), period_start(span["main_last"], freq)
    if max(lo, main_lo) <= min(hi, main_hi):  # else the range holds only stray events: show them
        lo, hi = max(lo, main_lo), min(hi, main_hi)
    return list(period_grid(lo, hi, freq))


@st.cache_data(show_spinner="Building the interest panel...", max_entries=16)
def analytics_panel(ds: DatasetKey, freq: str, grouping: CategoryChoice | int | None = None) -> pd.DataFrame:
    """The interest panel at this frequency, categories grouped as ``grouping`` says (``ui.widgets.category_grouping``;
    an int k: the top k, the rest folded into 'other'; None: raw categories)."""
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.periods import check_freq
    from ui.grouping import choice_of, panel_map

    choice = choice_of(grouping)
    spec = PanelSpec(freq=check_freq(freq), grouping=choice.spec)
    groups = panel_map(ds, choice)
    # The panel `prepare` stored (filtered by period to the key's date window); else built from the events.
    stored = stored_panel(ds.store(), ds.name, spec, groups, window=ds.window) if whole_dataset(ds.whole()) else None
    return choice.filter(stored if stored is not None else panel.build_panel(ds.source(), spec, category_map=groups))


@st.cache_data(show_spinner="Reading the interest panel...", max_entries=16)
def panel_periods(ds: DatasetKey, freq: str, grouping: CategoryChoice | int | None, first: object, last: object
                  ) -> pd.DataFrame:
    """``analytics_panel``'s rows of periods ``first`` to ``last`` (inclusive period starts) only: read from the
    stored panel filtered in DuckDB, so a page that looks at a few periods does not load them all. The grouping
    is the one of ``ds``'s own date range, as in ``analytics_panel``."""
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.periods import Window, check_freq
    from ui.grouping import choice_of, panel_map

    choice = choice_of(grouping)
    wanted = Window.of_periods(first, last, freq)
    own = ds.window or Window()
    starts = [b for b in (wanted.start, own.start) if b is not None]
    ends = [b for b in (wanted.end, own.end) if b is not None]
    window = Window(max(starts) if starts else None, min(ends) if ends else None)
    empty = window.start is not None and window.end is not None and window.start >= window.end
    spec = PanelSpec(freq=check_freq(freq), grouping=choice.spec)
    stored = None if empty else stored_panel(ds.store(), ds.name, spec, panel_map(ds, choice), window=window)
    if stored is None:  # not prepared (or a range cutting periods): the whole panel's rows of those periods
        return window.clip(analytics_panel(ds, freq, grouping)).reset_index(drop=True)
    return choice.filter(stored)


def whole_dataset(ds: DatasetKey) -> bool:
    """True when the key reads every event of its dataset (no date window), as the stored panels hold."""
    from dataclasses import fields

    return all(getattr(ds, f.name) is None for f in fields(ds) if f.name not in ("db", "name", "fingerprint"))


@st.cache_data(show_spinner=False, max_entries=64)
def user_rows(ds: DatasetKey, user: str, freq: str, grouping: CategoryChoice | None = None) -> pd.DataFrame:
    """One user's panel rows, categories grouped as ``grouping`` says. Cached (a few rows): the user's view and
    forecast both read them (from the stored panel when prepare built it, else from the events)."""
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.periods import check_freq
    from ui.grouping import choice_of, panel_map

    choice = choice_of(grouping)
    spec = PanelSpec(freq=check_freq(freq), grouping=choice.spec)
    groups = panel_map(ds, choice)
    quoted = str(user).replace("'", "''")  # the stored panel's rows of the user (a scan of 100 M events took 4 s)
    stored = stored_panel(ds.store(), ds.name, spec, groups, window=ds.window, where=f"user_id = '{quoted}'")
    return choice.filter(stored if stored is not None else
                         panel.build_panel(ds.source(), spec, users=[user], category_map=groups))


@st.cache_data(show_spinner=False, max_entries=64)
def last_complete_period(ds: DatasetKey, freq: str) -> pd.Timestamp:
    """The last period whose whole span has data: what churn, promotions, demand and forecasts stand on
    (a partial last period would read as everyone slowing down)."""
    from interest_core.forecasting.series import last_complete_period as last_complete

    main_last = pd.Timestamp(window(ds.whole())["main_last"])
    return last_complete(period_list(ds, freq)[-1], min(data_end(ds), main_last), freq)


@st.cache_data(show_spinner="Writing a Taobao-like sample from the dataset...", max_entries=8)
def scoring_sample(ds: DatasetKey) -> bytes:
    """CSV bytes in Taobao layout: the dataset's latest weeks, some users new, one category unseen."""
    from interest_core.forecasting.scoring_sample import taobao_like

    return taobao_like(ds.source())


@st.cache_data(show_spinner=False, max_entries=64)
def partial_periods(ds: DatasetKey, freq: str) -> list[pd.Timestamp]:
    """The first and last period of the date range when the data covers them only in part (a week with 4
    days of data): flag them in charts (``charts.style.mark_partial``) or leave them out. The data's edges
    are where the bulk of the whole dataset starts and ends (``panel.time_window``), so a date range (cut at
    period starts) never makes a period partial."""
    from interest_core.periods import partial_periods as partial

    periods, span = _main_periods(ds, freq)
    return partial(periods, freq, span["bulk_first"], span["bulk_last"])


def partial_note(ds: DatasetKey, freq: str) -> str | None:
    """The sentence that says so ("The week from 2013-08-12 has 4 days of data: ..."), or None."""
    from interest_core.periods import partial_note as note

    periods, span = _main_periods(ds, freq)
    return note(periods, freq, span["bulk_first"], span["bulk_last"])


def _main_periods(ds: DatasetKey, freq: str) -> tuple[list[pd.Timestamp], dict[str, Any]]:
    """The range's periods (inside the data's main span) and the whole dataset's span."""
    return period_list(ds, freq), window(ds.whole())
