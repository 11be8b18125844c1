"""Migration: where users' interest moved between categories, who moved, and a safe export."""

from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from interest_core.analytics.migration import matrix_wide, noisy_export, top_flows
from interest_core.charts import migration as mig_charts
from interest_core.forecasting.page_frames import FLOWS_SHARE
from interest_core.text import percent, plural
from interest_core.views.migration import MIGRATION_MODELS, MODEL_TEXT, SANKEY_LAST_PAIRS, SANKEY_MAX_CATEGORIES
from ui import fits, frame, grouping, queries, views, widgets
from ui.store import DatasetKey

MODES = {
    "periods": "each period with the next (share of interest)",
    "windows": "a window before with a window after (share of interest)",
    "top": "top category in each period with the next (users)",
}
VALUES = {"mass": "interest moved", "users": "users", "share_of_row": "% of the from-category"}

def draw(ds: DatasetKey, freq: str, periods: list[str], unit: str) -> None:
    dataset = ds.name
    choice = widgets.category_grouping(ds, "mig")
    grp_nouns = "groups" if choice.spec.method in ("learned", "map") else plural(grouping.noun(ds), 2)
    c1, c3 = st.columns([3, 1])
    mode = c1.radio("Compare", list(MODES), format_func=MODES.__getitem__, key="mig_mode")
    min_users = int(c3.number_input("Hide cells under k users", 1, 100, 5, key="mig_min_users",
                                    help="A cell or link with fewer users is not shown or exported."))
    default = (periods[max(0, len(periods) - 9)], periods[-1])
    start, end = st.select_slider(f"{unit.capitalize()}s (start of each, UTC)", periods, value=default,
                                  key="mig_range")
    inside = [p for p in periods if start < p <= end]
    split = None
    if mode == "windows" and inside:
        split = st.select_slider("The 'after' window starts at", inside, value=inside[len(inside) // 2],
                                 key="mig_split")
    seg = views.segmentation(ds, freq).descriptions
    seg_options = [None, *seg["segment"].astype(int).tolist()]
    words = dict(zip(seg["segment"].astype(int), seg["description"], strict=True))
    # One widget per dataset and period: segments are learned per dataset and period, and a selectbox keeps showing an
    # option's old label when only the label changes (see pages/segments.py).
    segment = st.selectbox("Users", seg_options, key=f"mig_segment_{dataset}_{freq}",
                           format_func=lambda s: "all users" if s is None else f"segment {s}: {words[s]}")
    if start == end or (mode == "windows" and split is None):
        st.info(f"Pick a range of at least two {unit}s.")
        return

    view = views.migration_view(ds, freq, choice, mode, start, end, split, segment, min_users)
    matrix = view.matrix
    st.caption(f"{view.users:,} users, {view.pairs} {unit} pair(s). Share of interest: each user's "
               f"share that left a category is split over the categories that gained, in proportion "
               f"to their gains; '(new)' and '(gone)' are users active on one side only. "
               f"{view.hidden} cell(s) with fewer than {min_users} users hidden."
               + (f" {note}" if (note := fits.sample_note(ds, freq, "Flows and forecasts on this page are those of",
                                                          FLOWS_SHARE)) else ""))
    v1, v2, v3 = st.columns([2, 1, 1])
    value = v1.radio("Cells show", list(VALUES), format_func=VALUES.__getitem__, horizontal=True, key="mig_value")
    stay = v2.toggle("What stayed (A → A)", key="mig_diagonal")
    entry = v3.toggle("New and gone users", key="mig_entry", help="(new): users not active in the "
                      "earlier period; (gone): users not active in the later one.")
    wide = matrix_wide(matrix, value, diagonal=stay, entry_exit=entry)
    st.plotly_chart(mig_charts.migration_heatmap(wide, value=value), key="mig_heatmap")
    if view.hidden:
        st.caption(f"Blank cells: fewer than {min_users} users moved that way (hidden for privacy), or nothing did.")
    colors = grouping.colors(ds, choice.spec)
    flows = view.net.head(12) if mode == "periods" else top_flows(matrix, 12)
    # Long group names ('brand 911, 26288 +702 → ...') need the page's width: side by side only for short ones.
    longest = max((len(f"{a} → {b}") for a, b in zip(flows["from_category"], flows["to_category"], strict=True)),
                  default=0)
    left, right = st.columns([3, 2]) if longest <= 32 else (st.container(), st.container())
    with left:
        st.plotly_chart(mig_charts.sankey_chart(view.links, colors), key="mig_sankey")
        if mode == "periods" and view.pairs > SANKEY_LAST_PAIRS:
            st.caption(f"The Sankey follows the last {SANKEY_LAST_PAIRS} of the range's {view.pairs} {unit} pairs "
                       f"and at most {SANKEY_MAX_CATEGORIES} categories, to stay legible; the matrix above covers "
                       "the whole range.")
    with right:
        st.plotly_chart(mig_charts.top_flows_chart(flows, value="net" if mode == "periods" else "mass",
                                                   colors=colors), key="mig_flows")

    st.subheader("Who moved")
    strongest = view.net.head(30) if mode == "periods" else top_flows(matrix, 30)  # as in the bar chart
    choices = list(zip(strongest["from_category"].astype(str), strongest["to_category"].astype(str), strict=True))
    if not choices:
        st.info("No flow between different categories in this selection.")
    else:
        flow = st.selectbox("Flow", choices, key="mig_flow", format_func=lambda f: f"{f[0]} → {f[1]}")
        who = views.flow_users(ds, freq, choice, mode, start, end, split, segment, flow[0], flow[1])
        who = who.assign(open=[f"user?user={quote(u)}&dataset={quote(dataset)}" for u in who["user_id"]])
        st.dataframe(who, hide_index=True, key="mig_users", column_config={
            "open": st.column_config.LinkColumn("User page", display_text="open"),
            "flow": st.column_config.NumberColumn("share moved", format="%.2f",
                                                  help="summed over the period pairs (1 = a whole user's interest)"),
            "n_periods": st.column_config.NumberColumn(f"{unit}s"),
            "first_period": st.column_config.DateColumn(f"first {unit}"),
            "last_period": st.column_config.DateColumn(f"last {unit}"),
        })
        widgets.csv_download("These users (CSV)", who.drop(columns="open"),
                             f"{dataset}_{flow[0]}_to_{flow[1]}_users.csv", key="mig_users_csv")

    st.subheader("Forecast of the next move")
    if st.toggle("Forecast where interest moves next, and check it on the last pair of the range", key="mig_fc",
                 help="Fits a model on every user's history: a few seconds on a large dataset."):
        model = st.selectbox("Model", MIGRATION_MODELS, key="mig_fc_model", format_func=lambda m: MODEL_TEXT[m],
                             help="Each user active in a period is forecast for the next one from the data up to "
                                  "that period only (all users, the grouping above).")
        t = periods[periods.index(end) - 1]
        check = views.migration_forecast(ds, freq, choice, t, model, min_users)
        still = views.migration_forecast(ds, freq, choice, t, "last_value", min_users)
        st.plotly_chart(mig_charts.forecast_vs_actual_chart(check.compared, title_suffix=f", {t} → {end}"),
                        key="mig_fc_check")
        st.caption(f"Backtest of the last pair of the range: forecast from data up to {t} for the {check.users:,} "
                   f"users active in {t}, compared with where the interest of those also active in {end} went. "
                   f"Relative error {check.l1:.2f} (0 = every cell right); 'nobody moves' scores {still.l1:.2f}. "
                   f"{percent(check.new_share)} of the forecast interest goes to {grp_nouns} the user never had.")
        last = f"{queries.last_complete_period(ds, freq):%Y-%m-%d}"
        ahead = views.migration_forecast(ds, freq, choice, last, model, min_users)
        st.plotly_chart(mig_charts.migration_heatmap(matrix_wide(ahead.implied, "mass", diagonal=False,
                                                                 entry_exit=False),
                                                     title_suffix=f", expected after {last}"),
                        key="mig_fc_next")
        st.caption(f"What the forecast counts: each of the {ahead.users:,} users active in {last} moves from their "
                   f"shares then to the shares the model expects next ({MODEL_TEXT[model]}); "
                   f"{percent(ahead.new_share)} of it lands in {grp_nouns} new to the user. Moves only (what stays "
                   "is left out); users who stop or start are not forecast.")

    st.subheader("Export the matrix")
    eps = st.number_input("Laplace noise ε (0 = none; smaller = more noise)", 0.0, 10.0, 0.0, 0.1,
                          key="mig_eps", help="Noise on the exported users and interest counts "
                          "(differential privacy); hidden cells stay hidden.")
    export = noisy_export(matrix, eps or None, seed=0, sensitivity=max(1, view.pairs))
    widgets.csv_download("Matrix (CSV)", export, f"{dataset}_migration_{start}_{end}.csv", key="mig_csv")


here = frame.current()
periods = [f"{p:%Y-%m-%d}" for p in queries.period_list(here.ds, here.freq)]
unit = widgets.period_name(here.freq)
if len(periods) < 2:
    st.info(f"Migration needs at least two {unit}s of data; pick a shorter period in the sidebar.")
else:
    draw(here.ds, here.freq, periods, unit)
