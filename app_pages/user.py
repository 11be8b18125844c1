"""User: one person's interest over time, what changed, how varied it is, and what to show them next.

Arrives by link too: ``?user=<id>`` (and ``&dataset=<name>``) opens that user.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from interest_core.charts import user as user_charts
from interest_core.charts.style import TABLE_PERCENT, as_percent, mark_partial
from interest_core.errors import ModelError
from interest_core.grouping import CategoryChoice
from interest_core.text import counted, md_code, md_escape, percent
from ui import fits, frame, grouping, ops, planning, queries, state, users, views, widgets
from ui.store import DatasetKey

WHAT = {"category": "categories", "item": "items"}
BASES = {"long_share": "long-term interest", "short_share": "short-term interest", "share": "each period's shares"}


FIND_BY = {"id": "id", "top": "top category", "segment": "segment"}


def _candidates(ds: DatasetKey, freq: str, choice: CategoryChoice) -> tuple[list[str], dict[str, str], str | None]:
    """User ids to pick from, a line about each, and what to say when none matches."""
    by = st.radio("Find a user by", list(FIND_BY), format_func=FIND_BY.__getitem__, horizontal=True,
                  key="user_find_by")
    tops = users.user_tops(ds, choice.spec)
    about = {u: f"top: {t} {percent(s)}" for u, t, s in zip(tops["user_id"].head(5000), tops["top"].head(5000),
                                                             tops["top_share"].head(5000), strict=True)}
    if by == "top":
        counts = tops["top"].value_counts()
        top = st.selectbox("Top category (or group)", counts.index.astype(str).tolist(), key=f"user_top_{ds.name}",
                           format_func=lambda c: f"{c} ({counts[c]:,} users)")
        found = tops[tops["top"] == top].head(50)
        return found["user_id"].astype(str).tolist(), about, f"No user has {md_code(top)} as top category."
    if by == "segment":
        seg = views.segmentation(ds, freq)
        words = dict(zip(seg.descriptions["segment"].astype(int), seg.descriptions["description"], strict=True))
        segment = st.selectbox("Segment", list(words), key=f"user_segment_{ds.name}_{freq}",
                               format_func=lambda s: f"segment {s}: {words[s]}")
        members = set(seg.members(int(segment)))
        found = tops[tops["user_id"].astype(str).isin(members)].head(50)  # most engaged first
        return found["user_id"].astype(str).tolist(), about, "No user in this segment."
    text = st.text_input("Search user id", key="user_search", placeholder="part of an id",
                         help="Lists the 50 most active users whose id contains this text.")
    found = queries.search_users(ds, text)
    about |= {u: f"{n:,} events" for u, n in zip(found["user_id"].astype(str), found["events"], strict=True)}
    return found["user_id"].astype(str).tolist(), about, f"No user id contains {md_code(text)} in `{ds.name}`."


def pick_user(ds: DatasetKey, freq: str, choice: CategoryChoice) -> str | None:
    """The user picked by search (or arrived by link, or the default: an active user with recommendations)."""
    options, about, nothing = _candidates(ds, freq, choice)
    current = state.get("user")
    searching = bool(st.session_state.get("user_search")) or st.session_state.get("user_find_by", "id") != "id"
    if current is None and not searching:
        current = users.default_user(ds, freq)
    if current and not searching:  # arrived by link, or the default user: that user first
        options = [current, *(o for o in options if o != current)]
    if not options:
        st.info(nothing)
        return None
    user = st.selectbox("User", options, index=options.index(current) if current in options else 0, key="user_pick",
                        format_func=lambda u: f"{u} ({about[u]})" if u in about else u)
    state.put("user", user)
    return str(user)


def _churn_line(ds: DatasetKey, user: str, freq: str, unit: str) -> None:
    """The user's churn risk over the Churn page's horizon (fitted to the date range), or why it is not scored."""
    try:
        horizon = planning.churn_horizon(frame.current())
        risk = ops.churn_risk(ds, freq, horizon)
    except ModelError as err:  # a span too short, or a failed background fit: said in a line (Churn has Retry)
        st.markdown(f"**Churn risk:** not scored ({md_escape(err.problem)})")
        return
    ahead = f"the next {counted(horizon, unit)}" if horizon > 1 else f"the next {unit}"
    mine = risk[risk["user_id"].astype(str) == user]
    why = f" ({md_escape(mine['reasons'].iloc[0])})" if len(mine) and mine["reasons"].iloc[0] else ""
    st.markdown(f"**Churn risk:** {percent(mine['risk'].iloc[0])} chance of no event in {ahead}{why}" if len(mine) else
                "**Churn risk:** not scored (not active lately; see the Churn page)")


def draw(ds: DatasetKey, user: str, freq: str, choice: CategoryChoice) -> None:
    dataset = ds.name
    view = views.user_view(ds, user, freq, grouping=choice)
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
    with fits.section():  # the churn model is fitted in the background: the page goes on meanwhile
        _churn_line(ds, user, freq, unit)

    colors = grouping.colors(ds, choice.spec)
    basis = st.radio("Mark a change of top category in", list(BASES), format_func=BASES.__getitem__,
                     horizontal=True, key="user_change_basis",
                     help="Long-term interest changes only when a shift lasts; raw shares flip often.")
    changes = view.changes[basis]
    st.plotly_chart(user_charts.user_shares_chart(view.shares, freq, colors, changes=changes,
                                                  user_id=user), key="user_shares")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(mark_partial(user_charts.long_short_chart(
            view.long_short, freq, colors, long_half_life=view.long_half_life,
            short_half_life=view.short_half_life), queries.partial_periods(ds, freq), freq), key="user_long_short")
    with right:
        st.plotly_chart(user_charts.diversity_chart(view.diversity, freq), key="user_diversity")
    if note := queries.partial_note(ds, freq):
        st.caption(note)

    st.subheader(f"When the top category changed ({BASES[basis]})")
    changes = as_percent(changes.drop(columns="user_id"), ("from_share", "to_share"))  # the CSV = the table
    st.dataframe(changes, hide_index=True, key="user_changes_table", column_config={
        "period": st.column_config.DateColumn(f"{unit} (UTC)"),
        "previous_period": st.column_config.DateColumn(f"previous active {unit}"),
        "from_category": "old top", "to_category": "new top",
        "from_share": st.column_config.NumberColumn("old top's share now", format=TABLE_PERCENT),
        "to_share": st.column_config.NumberColumn("new top's share now", format=TABLE_PERCENT),
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
    fitted = frame.current().fitted(4)
    h = f2.slider(f"{unit.capitalize()}s ahead", 1, 8, fitted, key="user_fc_h",
                  help=frame.current().fitted_note("Default", fitted))
    merged = views.user_forecast(ds, user, freq, model, h, grouping=choice)
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
    rec_colors = queries.colors(ds)  # recommendations name raw categories, not groups
    recs = views.recommendations(ds, user, k=10, level=level, known_weight=0.5 if keep else 0.0)
    if recs.empty and not keep:  # a broad user can have every category the similar users have
        recs = views.recommendations(ds, user, k=10, level=level, known_weight=0.5)
        if not recs.empty:
            st.caption(f"Nothing new to recommend: {md_code(user)} already has every one of the {WHAT[level]} "
                       "that similar users engage with. Shown: those the user has (half weight).")
    st.plotly_chart(user_charts.recommendations_chart(recs, rec_colors, what=WHAT[level]), key="user_recs")
    st.caption("Scores: cosine similarity of this user to the 50 most similar users, summed over what "
               "those users engaged with (weighted events, log-scaled). On the Tmall log this finds more of "
               "the brands a user turns to next than a list of the most popular brands does."
               + (f" {note}" if (note := views.recommender_note(ds)) else ""))
    widgets.csv_download("Recommendations (CSV)", pd.DataFrame(recs), f"{dataset}_{user}_recs.csv",
                         key="user_recs_csv")


here = frame.current()
with st.expander("Categories: how they are grouped on this page", expanded=False):
    grouping_choice = widgets.category_grouping(here.ds, "user", default_k=8, picker=False, few="none")
picked = pick_user(here.ds, here.freq, grouping_choice)
if picked is not None:
    draw(here.ds, picked, here.freq, grouping_choice)
