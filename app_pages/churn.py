"""Churn: which active users are likely to go quiet next, why, and how well the model ranks them."""

from __future__ import annotations

import streamlit as st

from interest_core.analytics.churn import DEFAULT_HORIZON, max_horizon, quality_in_words, span_horizon
from interest_core.charts import ops as ops_charts
from interest_core.charts.style import TABLE_PERCENT, as_percent
from interest_core.text import counted, percent
from ui import fits, frame, ops, queries, widgets
from ui.store import DatasetKey

WRAPPED_ROW = 76  # px: three lines of a wrapped text cell (Streamlit wraps text in rows taller than 64 px)


def draw(ds: DatasetKey, freq: str) -> None:
    unit = widgets.period_name(freq)
    last = queries.last_complete_period(ds, freq)
    # A clear error when the span is too short for any horizon.
    default, n_periods = span_horizon(freq, queries.window(ds)["start"], last)
    options = [h for h in sorted({1, 2, 3, 4, default}) if h <= max_horizon(n_periods)]
    chosen_from_span = default < DEFAULT_HORIZON.get(freq, 1)
    c1, c2 = st.columns(2)
    horizon = int(c1.selectbox(
        f"Inactive for the next ... {unit}s", options, index=options.index(default), key="churn_horizon",
        help=f"A user churns when they have no event at all in the next {unit}s. The data holds "
             f"{counted(n_periods, f'complete {unit}')}, enough to test up to {counted(max(options), unit)} ahead; "
             f"{default} is the default."))
    if (note := fits.sample_note(ds, freq)) is not None:  # a large log: the models read a stated sample
        st.caption(note)
    threshold = c2.slider("High risk from", 0.05, 0.95, 0.3, 0.05, key="churn_threshold", format="%.2f",
                          help="Users at or above this risk are counted as high risk.")
    if chosen_from_span:
        st.caption(f":material/info: Horizon chosen from the span: the usual "
                   f"{counted(DEFAULT_HORIZON.get(freq, 1), unit)} needs more than the "
                   f"{counted(n_periods, f'complete {unit}')} this data holds, so the default is "
                   f"{counted(default, unit)}.")
    horizon_text = f"next {counted(horizon, unit)}" if horizon > 1 else f"next {unit}"
    risk = ops.churn_risk(ds, freq, horizon)
    high = int((risk["risk"] >= threshold).sum())
    widgets.metrics([
        ("Active users", f"{len(risk):,}", f"with an event in the 4 {unit}s up to {last:%Y-%m-%d} (last complete "
                                           f"{unit})"),
        ("High risk", f"{high:,}", f"risk ≥ {percent(threshold)} of no event in the {horizon_text}"),
        ("Expected to churn", f"{risk['risk'].sum():,.0f}", "sum of risks: the model's count of churners"),
    ])
    left, right = st.columns(2)
    with left:
        st.plotly_chart(ops_charts.risk_histogram(risk, threshold, horizon_text), key="churn_hist")
    with right:
        bt = ops.churn_backtest(ds, freq, horizon)
        st.plotly_chart(ops_charts.reliability_chart(bt.reliability), key="churn_reliability")
    s = bt.summary
    st.markdown(quality_in_words(dict(s), unit) + " The figures for analysts are at the bottom of the page.")
    st.subheader("Users at highest risk")
    n = int(st.number_input("Show", 10, 1000, 50, 10, key="churn_n"))
    table = ops_charts.top_risk_table(risk, ds.name, n)
    if not high:
        st.info(f"No user has a risk of {percent(threshold)} or more; the riskiest are listed anyway.")
    labels = {"user_id": "user", "risk_pct": "risk (%)", "inactive_periods": f"{unit}s inactive",
              "reasons": "why (what raises the risk most)"}
    st.dataframe(table, hide_index=True, key="churn_table", row_height=WRAPPED_ROW,
                 height=WRAPPED_ROW * min(len(table), 10) + 40, column_config={
        "user_id": st.column_config.TextColumn(labels["user_id"]),
        "risk_pct": st.column_config.ProgressColumn("risk", format="%.0f%%", min_value=0, max_value=100),
        "inactive_periods": st.column_config.NumberColumn(labels["inactive_periods"]),
        "reasons": st.column_config.TextColumn(labels["reasons"], width=460),
        "open": st.column_config.LinkColumn("User page", display_text="open"),
    })
    export = table.drop(columns="open").rename(columns=labels)  # the rows and columns the table shows
    widgets.csv_download(f"These {counted(len(table), 'user')} (CSV)", export, f"{ds.name}_churn_risk.csv",
                         key="churn_csv")

    with st.expander("Model quality for analysts"):
        st.caption(
            f"Backtest on the last {counted(3, unit)} with known outcomes ({int(s['n_test']):,} user snapshots, "
            f"{percent(s['base_rate'])} churned): ROC-AUC **{s['roc_auc']:.3f}** vs **{s['recency_roc_auc']:.3f}** "
            f"for ranking by {unit}s since last activity; PR-AUC {s['pr_auc']:.3f} vs {s['recency_pr_auc']:.3f}; "
            f"Brier {s['brier']:.3f} (always guessing the base rate: {bt.brier_base_rate:.3f}). "
            "Each cutoff's model saw only the data before it.")
        st.dataframe(as_percent(bt.per_cutoff, ["churn_rate"]), hide_index=True, key="churn_per_cutoff",
                     placeholder="n/a", column_config={
            "cutoff": st.column_config.DateColumn(f"cutoff ({unit} start)", format="YYYY-MM-DD"),
            "n": st.column_config.NumberColumn("active users", format="localized"),
            "churn_rate": st.column_config.NumberColumn("churned", format=TABLE_PERCENT),
            "roc_auc": st.column_config.NumberColumn("ROC-AUC", format="%.3f"),
            "pr_auc": st.column_config.NumberColumn("PR-AUC", format="%.3f"),
            "recency_roc_auc": st.column_config.NumberColumn("ROC-AUC of recency", format="%.3f"),
            "recency_pr_auc": st.column_config.NumberColumn("PR-AUC of recency", format="%.3f"),
            "n_train": st.column_config.NumberColumn("training snapshots", format="localized"),
            "train_users": st.column_config.NumberColumn("users trained on", format="localized",
                                                         help="a seeded sample on larger logs; every user is scored"),
        })


here = frame.current()
draw(here.ds, here.freq)
