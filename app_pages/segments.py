"""Segments: groups of users with similar tastes and habits, in words, over time, and who is in them."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import streamlit as st

from interest_core.analytics.segments import segment_table, segment_users
from interest_core.charts import segments as seg_charts
from interest_core.views.segments import SIZES_WINDOW
from ui import frame, views, widgets
from ui.store import DatasetKey

METHODS = {"kmeans": "K-means (number of segments by silhouette, or fixed)", "dbscan": "DBSCAN (dense groups + noise)"}


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
    names = dict(zip(table["segment"].astype(int), table["description"], strict=True))
    sil = seg.silhouette
    best = max(sil, key=lambda k: sil[k]) if sil else None
    chosen = f" (silhouette {sil[best]:.2f} at k = {best})" if best is not None else ""
    st.caption(f"{len(seg.features):,} users in {len(table)} segment(s){chosen}; {hidden} segment(s) under "
               f"{min_users} users hidden. Features: recency, share of {unit}s active, events per active {unit}, "
               "buy share, fav/cart/buy share, number of categories, and category shares.")
    shown = table.drop(columns="traits")
    st.dataframe(shown, hide_index=True, key="seg_table", column_config={
        "share_of_users": st.column_config.NumberColumn("share of users", format="percent"),
        "description": st.column_config.TextColumn("in words", width="large"),
    })
    widgets.csv_download("Segments (CSV)", shown, f"{dataset}_segments.csv", key="seg_table_csv")
    visible = seg.projection[seg.projection["segment"].isin(list(names))]
    left, right = st.columns(2)
    with left:
        st.plotly_chart(seg_charts.projection_chart(visible, names), key="seg_projection")
    with right:
        st.plotly_chart(seg_charts.segment_traits_chart(table), key="seg_traits")
    sizes = seg.sizes[seg.sizes["segment"].isin(list(names))]
    st.plotly_chart(seg_charts.segment_sizes_chart(sizes, freq, names, window=SIZES_WINDOW), key="seg_sizes")
    widgets.csv_download("Segment sizes over time (CSV)", sizes, f"{dataset}_segment_sizes.csv", key="seg_sizes_csv")

    st.subheader("Users of a segment")
    if not names:
        st.info("No segment is large enough to list.")
        return
    # One widget per segmentation: a selectbox whose labels change under the same option keeps showing
    # the old label (Streamlit keeps the formatted value), e.g. segment 0's old description after k changes.
    pick = st.selectbox("Segment", list(names), key=f"seg_pick_{dataset}_{freq}_{method}_{k}_{last}",
                        format_func=lambda s: f"{s}: {names[s]}")
    users = segment_users(seg.features, seg.labels, pick)
    users = users.assign(open=[f"user?user={quote(str(u))}&dataset={quote(dataset)}" for u in users["user_id"]])
    st.dataframe(users, hide_index=True, key="seg_users", column_config={
        "open": st.column_config.LinkColumn("User page", display_text="open"),
        "frequency": st.column_config.NumberColumn(f"share of {unit}s active", format="percent"),
        "buy_share": st.column_config.NumberColumn("buy share", format="percent"),
        "action_share": st.column_config.NumberColumn("fav/cart/buy share", format="percent"),
        "recency": st.column_config.NumberColumn(f"{unit}s since last active"),
        "intensity": st.column_config.NumberColumn(f"log(1 + events per active {unit})", format="%.2f"),
        "diversity": st.column_config.NumberColumn("effective categories", format="%.1f"),
    })
    widgets.csv_download("These users (CSV)", pd.DataFrame(users.drop(columns="open")),
                         f"{dataset}_segment_{pick}_users.csv", key="seg_users_csv")


here = frame.current()
draw(here.ds, here.freq)
