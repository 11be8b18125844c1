"""Churn: which active users are likely to go quiet next, why, and how well the model ranks them."""

from __future__ import annotations

import streamlit as st

from interest_core.analytics.churn import DEFAULT_HORIZON
from interest_core.charts import ops as ops_charts
from ui import frame, ops, queries, widgets
from ui.store import DatasetKey


def draw(ds: DatasetKey, freq: str) -> None:
    unit = widgets.period_name(freq)
    c1, c2 = st.columns(2)
    options = sorted({1, 2, 3, 4, DEFAULT_HORIZON.get(freq, 1)})
    horizon = int(c1.selectbox(f"Inactive for the next ... {unit}s", options,
                               index=options.index(DEFAULT_HORIZON.get(freq, 1)), key="churn_horizon",
                               help=f"A user churns when they have no event at all in the next {unit}s. "
                                    f"One quiet {unit} is common; {DEFAULT_HORIZON.get(freq, 1)} is the default."))
    threshold = c2.slider("High risk from", 0.05, 0.95, 0.3, 0.05, key="churn_threshold", format="%.2f",
                          help="Users at or above this risk are counted and listed as high risk.")
    horizon_text = f"next {horizon} {unit}{'s' if horizon > 1 else ''}"
    risk = ops.churn_risk(ds, freq, horizon)
    last = queries.last_complete_period(ds, freq)
    high = int((risk["risk"] >= threshold).sum())
    widgets.metrics([
        ("Active users", f"{len(risk):,}", f"with an event in the 4 {unit}s up to {last:%Y-%m-%d} (last complete "
                                           f"{unit})"),
        ("High risk", f"{high:,}", f"risk ≥ {threshold:.0%} of no event in the {horizon_text}"),
        ("Expected to churn", f"{risk['risk'].sum():,.0f}", "sum of risks: the model's count of churners"),
    ])
    left, right = st.columns(2)
    with left:
        st.plotly_chart(ops_charts.risk_histogram(risk, threshold, horizon_text), key="churn_hist")
    with right:
        bt = ops.churn_backtest(ds, freq, horizon)
        st.plotly_chart(ops_charts.reliability_chart(bt.reliability), key="churn_reliability")
    s = bt.summary
    st.caption(
        f"Backtest on the last 3 {unit}s with known outcomes ({int(s['n_test']):,} user snapshots, "
        f"{s['base_rate']:.0%} churned): ROC-AUC **{s['roc_auc']:.3f}** vs **{s['recency_roc_auc']:.3f}** for "
        f"ranking by {unit}s since last activity; PR-AUC {s['pr_auc']:.3f} vs {s['recency_pr_auc']:.3f}; "
        f"Brier {s['brier']:.3f} (always guessing the base rate: {bt.brier_base_rate:.3f}). "
        "Each cutoff's model saw only the data before it.")

    st.subheader("Users at highest risk")
    n = int(st.number_input("Show", 10, 1000, 50, 10, key="churn_n"))
    table = ops_charts.top_risk_table(risk, ds.name, n)
    if not high:
        st.info(f"No user has a risk of {threshold:.0%} or more; the riskiest are listed anyway.")
    st.dataframe(table, hide_index=True, key="churn_table", column_config={
        "risk_pct": st.column_config.ProgressColumn("risk", format="%.0f%%", min_value=0, max_value=100),
        "inactive_periods": st.column_config.NumberColumn(f"{unit}s inactive"),
        "reasons": st.column_config.TextColumn("why (what raises the risk most)", width="large"),
        "open": st.column_config.LinkColumn("User page", display_text="open"),
    })
    export = risk[risk["risk"] >= threshold].drop(columns=["cutoff"])
    widgets.csv_download(f"The {high:,} high-risk users (CSV)", export, f"{ds.name}_churn_risk.csv", key="churn_csv")
    with st.expander("Backtest by cutoff"):
        st.dataframe(bt.per_cutoff, hide_index=True, key="churn_per_cutoff")


here = frame.current()
draw(here.ds, here.freq)
