"""User: one person's interest over time, what changed, how varied it is, and what to show them next.

Arrives by link too: ``?user=<id>`` (and ``&dataset=<name>``) opens that user.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from interest_core.analytics.churn import DEFAULT_HORIZON
from interest_core.charts import user as user_charts
from interest_core.text import md_code, md_escape
from ui import fits, frame, ops, queries, state, views, widgets
from ui.store import DatasetKey

WHAT = {"category": "categories", "item": "items"}
BASES = {"long_share": "long-term interest", "short_share": "short-term interest", "share": "each period's shares"}


def pick_user(ds: DatasetKey) -> str | None:
    """The user picked by search (or arrived by link); None when no id matches."""
    search_col, pick_col = st.columns([1, 2])
    text = search_col.text_input("Search user id", key="user_search", placeholder="part of an id",
                                 help="Lists the 50 most active users whose id contains this text.")
    found = queries.search_users(ds, text)
    options = found["user_id"].astype(str).tolist()
    current = state.get("user")
    if current and current not in options and not text:
        options = [current, *options]  # arrived by link: keep that user selectable
    if not options:
        st.info(f"No user id contains {md_code(text)} in dataset `{ds.name}`.")
        return None
    events_of = dict(zip(found["user_id"].astype(str), found["events"], strict=True))
    user = pick_col.selectbox(
        "User", options, index=options.index(current) if current in options else 0, key="user_pick",
        format_func=lambda u: f"{u} ({events_of[u]:,} events)" if u in events_of else u)
    state.put("user", user)
    return str(user)


def draw(ds: DatasetKey, user: str, freq: str) -> None:
    dataset = ds.name
    view = views.user_view(ds, user, freq)
    card = view.card
    if not card["events"]:
        st.warning(f"User {md_code(user)} has no events in dataset `{dataset}`.")
        return
    unit = widgets.period_name(freq)
    seg_text = "segment not known yet"
    with fits.section():  # the segmentation is fitted in the background: the page goes on meanwhile
        seg = views.segmentation(ds, freq)
        labels, words = seg.labels, seg.descriptions.set_index("segment")["description"]
        segment = int(labels[user]) if user in labels.index else None
        seg_text = f"Segment {segment}: {md_escape(words.get(segment, ''))}" if segment is not None else "no segment"
    widgets.metrics([
        ("Events", f"{card['events']:,}", "all behaviours"),
        ("Buys", f"{card['buys']:,}", None),
        (f"Active {unit}s", f"{card['active_periods']:,} of {card['span_periods']:,}",
         f"{unit}s with any event, between the first and the last active {unit}"),
    ])
    widgets.metrics([  # a row of its own: five boxes in a row cut the dates off
        (f"First active {unit}", f"{card['first_seen']:%Y-%m-%d}", f"start of the {unit} (UTC)"),
        (f"Last active {unit}", f"{card['last_seen']:%Y-%m-%d}", f"start of the {unit} (UTC)"),
    ])
    top = ", ".join(f"{md_escape(c['category'])} {c['share']:.0%}" for c in card["top_categories"])
    st.markdown(f"**Top categories:** {top} · **{seg_text}** (Segments page)")
    horizon = DEFAULT_HORIZON.get(freq, 1)
    with fits.section():
        risk = ops.churn_risk(ds, freq, horizon)
        mine = risk[risk["user_id"].astype(str) == user]
        ahead = f"the next {horizon} {unit}{'s' if horizon > 1 else ''}"
        why = f" ({md_escape(mine['reasons'].iloc[0])})" if len(mine) and mine["reasons"].iloc[0] else ""
        st.markdown(f"**Churn risk:** {mine['risk'].iloc[0]:.0%} of no event in {ahead}{why}" if len(mine) else
                    "**Churn risk:** not scored (not active lately; see the Churn page)")

    colors = queries.colors(ds)
    basis = st.radio("Mark a change of top category in", list(BASES), format_func=BASES.__getitem__,
                     horizontal=True, key="user_change_basis",
                     help="Long-term interest changes only when a shift lasts; raw shares flip often.")
    changes = view.changes[basis]
    st.plotly_chart(user_charts.user_shares_chart(view.shares, freq, colors, changes=changes,
                                                  user_id=user), key="user_shares")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(user_charts.long_short_chart(
            view.long_short, freq, colors, long_half_life=view.long_half_life,
            short_half_life=view.short_half_life), key="user_long_short")
    with right:
        st.plotly_chart(user_charts.diversity_chart(view.diversity, freq), key="user_diversity")

    st.subheader(f"When the top category changed ({BASES[basis]})")
    changes = changes.drop(columns="user_id")
    st.dataframe(changes, hide_index=True, key="user_changes_table", column_config={
        "period": st.column_config.DateColumn(f"{unit} (UTC)"),
        "previous_period": st.column_config.DateColumn(f"previous active {unit}"),
        "from_category": "old top", "to_category": "new top",
        "from_share": st.column_config.NumberColumn("old top's share now", format="percent"),
        "to_share": st.column_config.NumberColumn("new top's share now", format="percent"),
    })
    widgets.csv_download("Change points (CSV)", changes, f"{dataset}_{user}_changes.csv",
                         key="user_changes_csv")
    div = view.diversity.drop(columns="user_id")
    widgets.csv_download("Diversity per period (CSV)", div, f"{dataset}_{user}_diversity.csv",
                         key="user_diversity_csv")

    st.subheader(f"Next {unit}s: forecast")
    f1, f2 = st.columns(2)
    model = f1.selectbox("Model", views.FORECAST_MODELS, key="user_fc_model",
                         help="Fitted on this user's own series up to the last complete period.")
    h = f2.slider(f"{unit.capitalize()}s ahead", 1, 8, 4, key="user_fc_h")
    merged = views.user_forecast(ds, user, freq, model, h)
    top3 = [c["category"] for c in card["top_categories"]]
    st.plotly_chart(user_charts.user_forecast_chart(merged[merged["category"].isin(top3)], freq, colors,
                                                    level=80), key="user_forecast")
    widgets.csv_download("Forecast (CSV)", merged[merged["kind"] == "forecast"],
                         f"{dataset}_{user}_forecast.csv", key="user_forecast_csv")

    st.subheader("Recommended next")
    has_items = bool(queries.kpis(ds).get("items"))
    r1, r2 = st.columns(2)
    level = r1.radio("Recommend", ["category", "item"] if has_items else ["category"], horizontal=True,
                     key="user_rec_level", format_func=WHAT.__getitem__)
    keep = r2.toggle("Include what the user already has (half weight)", key="user_rec_known",
                     help="Off: only categories (or items) new to this user.")
    recs = views.recommendations(ds, user, k=10, level=level, known_weight=0.5 if keep else 0.0)
    if recs.empty and not keep:  # a broad user can have every category the similar users have
        recs = views.recommendations(ds, user, k=10, level=level, known_weight=0.5)
        if not recs.empty:
            st.caption(f"Nothing new to recommend: {md_code(user)} already has every one of the {WHAT[level]} "
                       "that similar users engage with. Shown: those the user has (half weight).")
    st.plotly_chart(user_charts.recommendations_chart(recs, colors, what=WHAT[level]), key="user_recs")
    st.caption("Scores: cosine similarity of this user to the 50 most similar users, summed over what "
               "those users engaged with (weighted events, log-scaled). On the Tmall log this beats "
               "recommending the most popular brands on HitRate@10 (see README).")
    widgets.csv_download("Recommendations (CSV)", pd.DataFrame(recs), f"{dataset}_{user}_recs.csv",
                         key="user_recs_csv")


here = frame.current()
picked = pick_user(here.ds)
if picked is not None:
    draw(here.ds, picked, here.freq)
