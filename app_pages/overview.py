"""Overview: how much happens, who buys, and which categories draw interest over time."""

from __future__ import annotations

import streamlit as st

from interest_core import charts
from interest_core.config import BehaviorWeights
from interest_core.periods import PERIOD_ADJECTIVE
from ui import frame, grouping, queries, widgets

WEIGHTS = ", ".join(f"{b} {w:g}" for b, w in BehaviorWeights().as_dict().items())

here = frame.current()
ds, freq = here.ds, here.freq
k = queries.kpis(ds)
st.caption(f"Dataset `{ds.name}` · {PERIOD_ADJECTIVE[freq]} periods · events from "
           f"{widgets.span(k['start'], k['end'])[1]}")
widgets.metrics([
    ("Events", f"{k['events']:,}", "all behaviours, after validation"),
    ("Users", f"{k['users']:,}", "distinct users with at least one event"),
    ("Categories", f"{k['categories']:,}", None),
    ("Buyers", f"{k['buyers']:,}", f"users with at least one purchase ({k['buys']:,} purchases)"),
    widgets.span_metric(k["start"], k["end"]),
])
window = widgets.time_axis(ds)
st.plotly_chart(charts.activity_chart(queries.activity(ds, freq), freq, window), key="activity")
choice = widgets.category_grouping(ds, "overview", default_k=queries.TOP_K)
left, right = st.columns([1, 2])
with left:
    measure = st.radio("Funnel counts", ["users", "events"], horizontal=True, key="funnel_measure")
    st.plotly_chart(charts.funnel_chart(queries.funnel(ds), measure), key="funnel")
with right:
    share = st.toggle("Show as share of all interest", key="top_share",
                      help="Each period sums to 100%: shows shifts between categories, not volume.")
    top = grouping.interest_over_time(ds, freq, choice)
    fig = charts.top_categories_chart(top, freq, grouping.colors(ds, choice.spec), share=share, window=window)
    st.plotly_chart(fig, key="top")
st.caption(f"Interest = weighted events ({WEIGHTS}). Categories are grouped as chosen above; what no group "
           "holds is summed as grey 'other'.")
