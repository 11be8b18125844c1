"""Promotions: who to target for a category in the coming periods, how many a list reaches, and proof."""

from __future__ import annotations

import streamlit as st

from interest_core.analytics.churn import DEFAULT_HORIZON
from interest_core.charts import ops as ops_charts
from interest_core.forecasting.forecasters import available
from interest_core.text import md_escape
from ui import frame, ops, widgets
from ui.store import DatasetKey

MODELS = {"recency_decay": "recency-weighted interest (fast)", "window_mean": "recent average (fast)",
          "lstm": "LSTM (slow: a minute or more to train)"}


def draw(ds: DatasetKey, freq: str) -> None:
    unit = widgets.period_name(freq)
    models = [m for m in MODELS if m in available()]
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Forecast model", models, format_func=MODELS.__getitem__, key="promo_model")
    horizon = int(c2.selectbox(f"Coming {unit}s", [1, 2, 3, 4], key="promo_horizon",
                               help=f"Chance of engaging with the category at least once in this many {unit}s."))
    cats = ops.promotion_categories(ds, freq, model, horizon)
    category = c3.selectbox("Category", cats, key="promo_category",
                            help="Ordered by how many users are expected to engage with it.")
    c4, c5, c6 = st.columns(3)
    size = int(c4.number_input("List size", 1, 100_000, 100, 10, key="promo_size"))
    exclude = c5.toggle("Leave out users likely to churn", value=False, key="promo_exclude")
    threshold = c6.slider("Churn risk cut-off", 0.1, 0.9, 0.5, 0.05, key="promo_churn", disabled=not exclude)
    churn_h = DEFAULT_HORIZON.get(freq, 1)
    view = ops.promotion(ds, freq, model, horizon, category, threshold if exclude else None, churn_h)
    ranked, curve = view.ranked, view.curve
    listed = ranked.head(size)
    reach = float(listed["p_engage"].sum())
    share = reach / float(ranked["p_engage"].sum() or 1)
    widgets.metrics([
        ("Candidates", f"{len(ranked):,}", f"users who engaged with {md_escape(category)} in the last 26 {unit}s"),
        ("Expected to engage", f"{reach:,.1f}", f"sum of the listed users' chances over the next {horizon} {unit}(s)"),
        ("Share of all expected", f"{share:.0%}", "of the engaged users all candidates would give"),
    ])
    left, right = st.columns(2)
    with left:
        st.plotly_chart(ops_charts.gains_chart(curve, category), key="promo_gains")
    slow = model == "lstm"  # three more fits: only when asked
    run_backtest = right.toggle("Backtest this model (minutes)", False, key="promo_bt") if slow else True
    lift = ops.promotion_lift(ds, freq, model, horizon, category) if run_backtest else None
    if lift is not None:
        with right:
            st.plotly_chart(ops_charts.lift_chart(lift, category), key="promo_lift")
        row = lift[lift["list_size"] == lift["list_size"].clip(upper=size).max()]
    if lift is not None and len(row):
        r = row.iloc[0]
        st.caption(f"Backtest over the last {int(r['cutoffs'])} {unit}s with known outcomes: of the top "
                   f"{int(r['list_size'])} users, the model's list held {int(r['model_hits'])} who engaged, the "
                   f"recency list (most recent {md_escape(category)} users first) "
                   f"{int(r['recency_hits'])}, a random list "
                   f"about {r['random_hits']:.0f} (lift vs recency {r['lift_vs_recency']:.2f}).")

    st.subheader(f"Top {len(listed):,} users for {md_escape(category)}")
    st.dataframe(listed, hide_index=True, key="promo_table", column_config={
        "p_engage": st.column_config.ProgressColumn("chance to engage", format="percent", min_value=0, max_value=1),
        "churn_risk": st.column_config.NumberColumn("churn risk", format="percent"),
        "expected_reach": st.column_config.NumberColumn("expected engaged so far", format="%.1f"),
        "reach_share": st.column_config.NumberColumn("share of all expected", format="percent"),
    })
    widgets.csv_download("This list (CSV)", listed, f"{ds.name}_{category}_promotion.csv", key="promo_csv")
    if lift is not None:
        with st.expander("Backtest table"):
            st.dataframe(lift, hide_index=True, key="promo_lift_table")


here = frame.current()
draw(here.ds, here.freq)
