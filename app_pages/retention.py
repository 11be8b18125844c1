"""Retention: how many new users come back (a cohort grid), and how many go view -> cart -> buy in order."""

from __future__ import annotations

import streamlit as st

from interest_core.analytics.retention import DEFAULT_STEPS, MAX_COHORTS, funnel_words, retention_words
from interest_core.charts import retention as charts
from interest_core.charts.style import BEHAVIOR_LABELS, TABLE_PERCENT, as_percent
from interest_core.ingest.formats import BEHAVIORS
from interest_core.text import md_escape
from ui import frame, queries, retention, widgets
from ui.store import DatasetKey

RETURNING = {"any": "any event", "buy": "a purchase"}
FUNNEL_COLUMNS = {"users": "users in order", "of_previous": "% of the step before", "of_first": "% of the first step",
                  "dropped": "dropped off", "did_at_all": "did it at all (any order)"}
PERCENT_COLUMNS = (FUNNEL_COLUMNS["of_previous"], FUNNEL_COLUMNS["of_first"])
WINDOWS = {1: "1 hour", 24: "1 day", 72: "3 days", 168: "7 days", 336: "14 days", 720: "30 days"}


def bullets(lines: list[str]) -> None:
    if lines:
        st.markdown("\n".join(f"- {md_escape(line)}" for line in lines))


def draw(ds: DatasetKey, freq: str) -> None:
    unit = widgets.period_name(freq)
    st.subheader("Do new users come back?")
    c1, c2 = st.columns(2)
    returning = c1.radio("Counts as coming back", list(RETURNING), format_func=RETURNING.__getitem__,
                         horizontal=True, key="ret_returning",
                         help="Any event: the user is active again. A purchase: the user buys in that period.")
    n_cohorts = int(c2.slider(f"Cohorts (latest first-active {unit}s)", 4, MAX_COHORTS, 12, key="ret_cohorts",
                              help=f"Each row is the users whose first event fell in that {unit}; cohorts of fewer "
                                   "than 5 users are hidden."))
    result = retention.cohorts(ds, freq, returning, n_cohorts)  # type: ignore[arg-type]
    bullets(retention_words(result))
    st.plotly_chart(charts.retention_heatmap(result), key="ret_grid")
    st.plotly_chart(charts.retention_curve(result), key="ret_curve")
    with st.expander("The grid as a table"):
        grid = as_percent(result.grid, ["retention"]).rename(columns={
            "offset": f"{unit}s since", "period": unit, "users": "users back", "size": "cohort size",
            "retention": "retention (%)", "partial": f"partial {unit}"})
        st.dataframe(grid, hide_index=True, key="ret_table", column_config={
            "cohort": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
            unit: st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
            "retention (%)": st.column_config.NumberColumn(format=TABLE_PERCENT),
        })
        widgets.csv_download("Cohort grid (CSV)", grid, f"{ds.name}_retention.csv", key="ret_csv")

    st.subheader("Who goes all the way?")
    present = [b for b in BEHAVIORS if b in set(queries.funnel(ds)["behavior"].astype(str))]
    f1, f2 = st.columns([2, 1])
    steps = f1.multiselect("Steps, in order", list(BEHAVIORS), default=list(DEFAULT_STEPS), key="ret_steps",
                           format_func=lambda b: BEHAVIOR_LABELS.get(b, b),
                           help="The order you pick them in is the order users must follow. Steps this log "
                                f"has no events of are left out (this log has: "
                                f"{', '.join(BEHAVIOR_LABELS[b] for b in present)}).")
    hours = int(f2.selectbox("Within", list(WINDOWS), index=list(WINDOWS).index(168), key="ret_window",
                             format_func=WINDOWS.__getitem__,
                             help="Every step must follow the first one within this time."))
    if not steps:
        st.info("Pick at least one step.")
        return
    flow = retention.funnel(ds, tuple(steps), hours)
    bullets(funnel_words(flow))
    st.plotly_chart(charts.ordered_funnel_chart(flow), key="ret_funnel")
    table = as_percent(flow.table, ["of_previous", "of_first"]).assign(
        step=[BEHAVIOR_LABELS.get(s, s) for s in flow.table["step"]]).rename(columns=FUNNEL_COLUMNS)
    st.dataframe(table, hide_index=True, key="ret_funnel_table", column_config={
        **{c: st.column_config.NumberColumn(format="localized") for c in table.columns[1:]},
        **{c: st.column_config.NumberColumn(format=TABLE_PERCENT) for c in PERCENT_COLUMNS},
    })
    widgets.csv_download("Funnel (CSV)", table, f"{ds.name}_funnel.csv", key="ret_funnel_csv")


here = frame.current()
draw(here.ds, here.freq)
