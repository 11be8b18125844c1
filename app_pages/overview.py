"""Overview: how much happens in the date range (against as many periods before), what people do, and which
categories draw interest over time; a partial first or last period is shaded and said."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from interest_core import charts
from interest_core.config import BehaviorWeights
from interest_core.periods import PERIOD_ADJECTIVE, PERIOD_LABEL
from interest_core.text import counted, signed_percent
from ui import frame, grouping, queries, widgets

WEIGHTS = ", ".join(f"{b} {w:g}" for b, w in BehaviorWeights().as_dict().items())

here = frame.current()
ds, freq = here.ds, here.freq
k = queries.kpis(ds)
prior = here.previous.window if here.previous is not None else None  # closed: as many periods just before
before: dict[str, Any] = queries.kpis(here.previous) if here.previous is not None else {}
length, dates = widgets.span(k["start"], k["end"])
if prior is not None and prior.start is not None and prior.end is not None:
    unlike = (f" · arrows: change against the previous {counted(here.n_periods, PERIOD_LABEL[freq])} "
              f"({prior.start:%Y-%m-%d} to {prior.end - pd.Timedelta(seconds=1):%Y-%m-%d})")
elif ds.window is None:
    unlike = " · pick a shorter date range in the sidebar to compare it with as many periods before it"
else:
    unlike = " · the date range starts too early to compare it with as many periods before it"
st.caption(f"Dataset `{ds.name}` · {PERIOD_ADJECTIVE[freq]} periods · events from {dates} ({length}){unlike}")


def _metric(col: Any, label: str, name: str, help_text: str | None, shown: str | None = None) -> None:
    value = k[name]
    delta = signed_percent(value, before[name]) if before and value else None
    col.metric(label, shown or f"{value:,}", delta, help=help_text, border=True)


cols = st.columns(5)
_metric(cols[0], "Events", "events", "all behaviours, after validation")
_metric(cols[1], "Users", "users", "distinct users with at least one event")
_metric(cols[2], "Categories", "categories", None)
_metric(cols[3], "Items", "items", "distinct items" if k["items"] else "n/a: this log has no item ids",
        None if k["items"] else "n/a")
_metric(cols[4], "Buyers", "buyers", f"users with at least one purchase ({k['buys']:,} purchases)")

window = widgets.time_axis(ds)
partial = queries.partial_periods(ds, freq)
st.plotly_chart(charts.activity_chart(queries.activity(ds, freq), freq, window, partial), key="activity")
if note := queries.partial_note(ds, freq):
    st.caption(note)
choice = widgets.category_grouping(ds, "overview", default_k=queries.TOP_K)
left, right = st.columns([1, 2])
with left:
    measure = st.radio("Count", ["users", "events"], horizontal=True, key="funnel_measure")
    st.plotly_chart(charts.per_behavior_chart(queries.funnel(ds), measure), key="behaviours")
    st.caption("Each bar counts on its own: buyers need not have used the cart first (some logs record few "
               "carts), so a bar is not a share of the one above.")
with right:
    share = st.toggle("Show as share of all interest", key="top_share",
                      help="Each period sums to 100%: shows shifts between categories, not volume.")
    top = grouping.interest_over_time(ds, freq, choice)
    fig = charts.top_categories_chart(top, freq, grouping.colors(ds, choice.spec), share=share, window=window,
                                      partial=partial)
    st.plotly_chart(fig, key="top")
st.caption(f"Interest = weighted events ({WEIGHTS}). Categories are grouped as chosen above; what no group "
           "holds is summed as grey 'other'.")
