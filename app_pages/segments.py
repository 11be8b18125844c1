"""Segments: groups of users with similar tastes and habits, named and compared side by side, over time,
and who is in them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from interest_core.analytics.segment_profiles import (
    feature_labels,
    segment_comparison,
    side_by_side,
    sizes_text,
)
from interest_core.analytics.segments import segment_table
from interest_core.charts import segments as seg_charts
from interest_core.charts.style import TABLE_PERCENT, as_percent
from interest_core.errors import InterestCoreError
from interest_core.text import md_escape
from interest_core.views.segments import SIZES_WINDOW
from ui import fits, frame, ops, queries, views, widgets
from ui.store import DatasetKey

METHODS = {"kmeans": "K-means (number of segments by silhouette, or fixed)", "dbscan": "DBSCAN (dense groups + noise)"}


def churn_or_why(ds: DatasetKey, freq: str) -> tuple[pd.DataFrame | None, str]:
    """Churn risk per active user at the Churn page's default horizon, or None and why not (the data is too
    short for it, or the model is still being fitted): the comparison goes on without it."""
    from interest_core.analytics.churn import span_horizon

    try:
        horizon, _ = span_horizon(freq, queries.window(ds)["start"], queries.last_complete_period(ds, freq))
        return ops.churn_risk(ds, freq, horizon), ""
    except InterestCoreError as exc:
        return None, exc.problem


def draw(ds: DatasetKey, freq: str) -> None:
    dataset = ds.name
    unit = widgets.period_name(freq)
    choice = widgets.category_grouping(ds, "seg", picker=False, few="none")
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Method", list(METHODS), format_func=METHODS.__getitem__, key="seg_method")
    k_text = c2.selectbox("Segments", ["auto", *map(str, range(2, 9))], key="seg_k",
                          disabled=method != "kmeans", help="auto: the k from 2 to 8 with the best silhouette.")
    windows = ["all the data", "last 4", "last 8", "last 13", "last 26", "last 52"]
    last_text = c3.selectbox("Features over", windows, key="seg_last",
                             format_func=lambda v: v if v == windows[0] else f"{v} {unit}s")
    min_users = int(c3.number_input("Hide segments under k users", 1, 100, 5, key="seg_min_users"))
    k = None if k_text == "auto" or method != "kmeans" else int(k_text)
    last = None if last_text == "all the data" else int(last_text.split()[1])
    seg = views.segmentation(ds, freq, method, k, last, grouping=choice)
    table, hidden = segment_table(seg.descriptions, min_users)
    names = {s: n for s, n in seg.names.items() if s in set(table["segment"].astype(int))}
    sil = seg.silhouette
    best = max(sil, key=lambda k: sil[k]) if sil else None
    chosen = f" Separation (silhouette) {sil[best]:.2f} at k = {best}." if best is not None else ""
    if 0 < seg.fitted_on < len(seg.features):  # K-means learns from a seeded sample on larger logs
        chosen += (f" The segments were learnt from a random sample of {seg.fitted_on:,} users; every user is "
                   "assigned to the nearest one.")
    st.caption(f"{sizes_text(len(seg.features), len(table), hidden, min_users)}{chosen} Features: time since last "
               f"active, share of {unit}s active, events per active {unit}, buy share, favourite/cart/buy share, "
               "number of categories, and category shares.")
    if (note := fits.sample_note(ds, freq)) is not None:  # a large log: the models read a stated sample
        st.caption(note)
    if seg.separation_warning:
        st.warning(seg.separation_warning, icon=":material/blur_on:")

    st.subheader("Segments side by side")
    churn, why_not = churn_or_why(ds, freq)
    compared = segment_comparison(seg.features, seg.labels.to_numpy(), freq, table, churn)
    sheet = side_by_side(compared, freq)
    # st.table wraps long cells (names, categories, descriptions) instead of cutting them; it reads markdown.
    st.table(sheet.rename(columns=md_escape).map(md_escape).rename(index=md_escape))
    if churn is None:
        st.caption(f"Churn risk is left out: {md_escape(why_not)}.")
    else:
        st.caption("Churn risk: the average risk of no event over the Churn page's default horizon, among the "
                   "segment's users active lately.")
    widgets.csv_download("Segments (CSV)", compared, f"{dataset}_segments.csv", key="seg_table_csv")
    visible = seg.projection[seg.projection["segment"].isin(list(names))]
    sizes = seg.sizes[seg.sizes["segment"].isin(list(names))]
    left, right = st.columns(2)
    with left:
        st.plotly_chart(seg_charts.projection_chart(visible, names), key="seg_projection")
    with right:
        st.plotly_chart(seg_charts.segment_sizes_chart(sizes, freq, names, window=SIZES_WINDOW), key="seg_sizes")
        widgets.csv_download("Segment sizes over time (CSV)", sizes, f"{dataset}_segment_sizes.csv",
                             key="seg_sizes_csv")
    traits = seg.traits.loc[list(names)] if not seg.traits.empty else table
    st.plotly_chart(seg_charts.segment_traits_chart(traits, names), key="seg_traits")

    st.subheader("Users of a segment")
    if not names:
        st.info("No segment is large enough to list.")
        return
    # One widget per segmentation: a selectbox whose labels change under the same option keeps showing
    # the old label (Streamlit keeps the formatted value), e.g. segment 0's old name after k changes.
    pick = st.selectbox("Segment", list(names), key=f"seg_pick_{dataset}_{freq}_{method}_{k}_{last}",
                        format_func=lambda s: f"{s}: {names[s]}")
    st.caption(md_escape(f"{names[pick]}: {table.set_index('segment').loc[pick, 'description']}"))
    users = views.segment_members(ds, freq, method, k, last, choice, pick)
    words = feature_labels(freq)
    shares = [words["frequency"], words["buy_share"], words["action_share"]]
    users = as_percent(users, shares)
    st.dataframe(users, hide_index=True, key="seg_users", column_config={
        "user_id": st.column_config.TextColumn("user"),
        "open": st.column_config.LinkColumn("User page", display_text="open"),
        **{c: st.column_config.NumberColumn(format=TABLE_PERCENT) for c in shares},
        words["intensity"]: st.column_config.NumberColumn(format="%.1f"),
        words["diversity"]: st.column_config.NumberColumn(format="%.1f"),
    })
    widgets.csv_download("These users (CSV)", pd.DataFrame(users.drop(columns="open")),
                         f"{dataset}_segment_{pick}_users.csv", key="seg_users_csv", deferred=True)


here = frame.current()
draw(here.ds, here.freq)
