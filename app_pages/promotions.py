"""Promotions: who to contact about a category in the coming periods, what the list is worth, and proof."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from interest_core.analytics import promotions as promo
from interest_core.analytics.promotion_model import MAX_TRAIN_USERS
from interest_core.charts import ops as ops_charts
from interest_core.charts.style import TABLE_PERCENT, as_percent, significant
from interest_core.text import counted, md_escape, percent
from interest_core.views.ops import segment_names
from ui import fits, frame, ops, planning, views, widgets
from ui.store import DatasetKey

LISTS = {"learned": "learned list (users new to the category included)",
         "recency": "recency list (most recent users of the category first)"}
DECIDING_SIZE = 100  # the list size the default is chosen at (the promotions goal's)


def _winner(lift: pd.DataFrame) -> tuple[str, pd.Series]:
    """The list that held more engaged users at the top 100 (or the largest size backtested): ties go to recency."""
    fits = lift[lift["list_size"] <= DECIDING_SIZE]
    row = fits.iloc[-1] if len(fits) else lift.iloc[0]
    return ("learned" if row["model_hits"] > row["recency_hits"] else "recency"), row


def _segment_filter(ds: DatasetKey, freq: str, column: object) -> list[str] | None:
    seg = views.segmentation(ds, freq)
    names = segment_names(seg.descriptions)
    choice = column.selectbox("Segment", [None, *names], key="promo_segment",  # type: ignore[attr-defined]
                              format_func=lambda s: "all users" if s is None else names[s],
                              help="Only users of one segment (the Segments page's default segmentation).")
    return None if choice is None else seg.members(int(choice))


def draw(ds: DatasetKey, freq: str) -> None:
    unit = widgets.period_name(freq)
    horizons = planning.promotion_horizons(ds, freq)
    if not horizons:
        st.info(f"This log has too few complete {unit}s to learn and backtest a promotion list: pick a shorter "
                "period in the sidebar.")
        return
    c1, c2, c3 = st.columns(3)
    horizon = int(c2.selectbox(f"Coming {unit}s", horizons, index=len(horizons) - 1, key="promo_horizon",
                               help=f"Chance of engaging with the category at least once in this many {unit}s."))
    cats = planning.promotion_categories(ds, freq, horizon)
    category = c1.selectbox("Category", cats, key="promo_category",
                            help=f"Ordered by how many users engaged with it in the last 4 {unit}s.")
    members = _segment_filter(ds, freq, c3)

    lift = planning.promotion_backtest(ds, freq, horizon, category)
    winner, row = _winner(lift)
    per = int(row["cutoffs"])
    held_model, held_recency = row["model_hits"] / per, row["recency_hits"] / per
    source = st.radio("List", list(LISTS), index=list(LISTS).index(winner), format_func=LISTS.__getitem__,
                      key=f"promo_source:{category}:{horizon}", horizontal=True)
    st.caption(f"In the last {counted(per, 'backtest')} (each learning only from earlier {unit}s), the top "
               f"{int(row['list_size']):,} of the learned list held {significant(held_model, 2)} users who engaged "
               f"within {counted(horizon, unit)}, the recency list {significant(held_recency, 2)}: "
               + ("the learned list did better, so it is the default." if winner == "learned" else
                  "the recency list did better, so it is the default." if held_recency > held_model else
                  "a tie, so the simpler recency list is the default.")
               + f" The learned model trains on at most {MAX_TRAIN_USERS:,} users at each training cutoff "
               "(a random sample on larger logs)"
               + ("; every user is scored." if (note := fits.sample_note(ds, freq)) is None else f". {note}"))

    c4, c5, c6 = st.columns(3)
    size = int(c4.number_input("List size", 1, 100_000, 100, 10, key="promo_size"))
    churn_horizon = planning.churn_horizon(frame.current())
    exclude = c5.toggle("Leave out users likely to churn", value=False, key="promo_exclude",
                        help=f"Churn risk: the chance of no event in the next {counted(churn_horizon, unit)} "
                             "(the Churn page's model).")
    threshold = c6.slider("Churn risk cut-off", 0.1, 0.9, 0.5, 0.05, key="promo_churn", disabled=not exclude)
    churn = ops.churn_risk(ds, freq, churn_horizon)[["user_id", "risk"]]

    learned = planning.learned_promotion(ds, freq, horizon, category).ranked
    scored = learned.drop(columns="churn_risk").merge(churn.rename(columns={"risk": "churn_risk"}).astype(
        {"user_id": "string"}), on="user_id", how="left")
    if source == "recency":
        recency = planning.recency_promotion(ds, freq, category)[["user_id", "last_period", "periods_active"]]
        table = recency.merge(scored.drop(columns=["rank", "expected_reach", "reach_share"]), on="user_id",
                              how="left")
    else:
        table = scored.drop(columns=["expected_reach", "reach_share"])
    if members is not None:
        table = table[table["user_id"].astype(str).isin(members)]
    if exclude:
        table = table[~(table["churn_risk"] >= threshold)]
    table = table.drop(columns="rank", errors="ignore").reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    listed = table.head(size)
    reach = promo.reconcile(listed, lift, len(listed), source=source)

    st.subheader("What if")
    w1, w2 = st.columns(2)
    cost = float(w1.number_input("Cost per contact", 0.0, 1e6, 0.10, 0.05, key="promo_cost", format="%.2f"))
    value = float(w2.number_input("Value per engaged user", 0.0, 1e6, 5.0, 0.5, key="promo_value", format="%.2f"))
    outcome = promo.what_if(len(listed), reach.expected, cost, value)
    widgets.metrics([
        ("Candidates", f"{len(table):,}", "users the list can hold (past users of the category, and users of "
                                          "categories that go with it)"),
        ("Expected to engage", significant(outcome.engaged, 2),
         f"users of the {len(listed):,} listed expected to engage within {counted(horizon, unit)}"),
        ("Cost", f"{outcome.cost:,.2f}", "list size x cost per contact"),
        ("Return", f"{outcome.net:,.2f}", "expected engaged x value per engaged user, less the cost"
                                          + ("" if outcome.cost == 0 else f" ({percent(outcome.return_on_cost)} "
                                                                          "of the cost)")),
    ])
    _reconciled(reach, source, horizon, unit, members is not None)

    left, right = st.columns(2)
    curve = promo.reach_curve(learned)
    with left:
        st.plotly_chart(ops_charts.gains_chart(curve, category), key="promo_gains")
    with right:
        st.plotly_chart(ops_charts.lift_chart(lift, category, "learned list"), key="promo_lift")

    new = int(listed["new_to_category"].fillna(False).sum()) if "new_to_category" in listed else 0
    st.subheader(f"Top {len(listed):,} users for {md_escape(category)}")
    st.caption(f"{counted(new, 'user')} of the list never engaged with {md_escape(category)} before: the learned "
               "list finds them through the categories they share with its users." if new else
               f"Every listed user engaged with {md_escape(category)} before.")
    shares = ("p_engage", "churn_risk")
    st.dataframe(as_percent(listed, shares), hide_index=True, key="promo_table", column_config={
        "p_engage": st.column_config.ProgressColumn("chance to engage (%)", format=TABLE_PERCENT, min_value=0,
                                                    max_value=100),
        "new_to_category": st.column_config.CheckboxColumn("new to the category"),
        "churn_risk": st.column_config.NumberColumn("churn risk (%)", format=TABLE_PERCENT),
        "last_period": st.column_config.DatetimeColumn(f"last {unit} with the category", format="YYYY-MM-DD"),
        "periods_active": st.column_config.NumberColumn(f"{unit}s with the category"),
    })
    widgets.csv_download("This list (CSV)", as_percent(listed, shares), f"{ds.name}_{category}_promotion.csv",
                         key="promo_csv")
    with st.expander("Backtest table"):
        shown = as_percent(lift.drop(columns=["category"]), ("model_precision", "recency_precision"))
        st.dataframe(shown, hide_index=True, key="promo_lift_table", column_config={
            "list_size": st.column_config.NumberColumn("list size"),
            "listed": st.column_config.NumberColumn("users listed, all cutoffs"),
            "model_hits": st.column_config.NumberColumn("engaged, learned list"),
            "recency_hits": st.column_config.NumberColumn("engaged, recency list"),
            "random_hits": st.column_config.NumberColumn("engaged, random list (expected)", format="%.0f"),
            "expected_hits": st.column_config.NumberColumn("engaged, learned list expected", format="%.0f"),
            "model_precision": st.column_config.NumberColumn("hit rate, learned", format=TABLE_PERCENT),
            "recency_precision": st.column_config.NumberColumn("hit rate, recency", format=TABLE_PERCENT),
            "lift_vs_recency": st.column_config.NumberColumn("lift over recency", format="%.2f"),
            "lift_vs_random": st.column_config.NumberColumn("lift over random", format="%.2f"),
            "cutoffs": st.column_config.NumberColumn("backtest cutoffs"),
        })


def _reconciled(reach: promo.Reach, source: str, horizon: int, unit: str, segment: bool) -> None:
    """One sentence that puts the expectation and the backtest on the same footing."""
    scope = " (the backtest covers all users, not only the segment)" if segment else ""
    if source == "recency":
        st.caption(f"Expected engaged users: the recency list's hit rate in the backtest "
                   f"({significant(reach.expected, 2)} of {reach.list_size:,}), for the same list length and the "
                   f"same {counted(horizon, unit)}{scope}.")
        return
    st.caption(f"Both figures count the listed users who engage at least once within {counted(horizon, unit)}: the "
               f"model's chances sum to {significant(reach.model_expected, 2)}; in the backtest lists this long held "
               f"{significant(reach.backtest_per_cutoff, 2)} per cutoff where it expected "
               f"{significant(reach.backtest_expected, 2)}, so the expectation above is scaled by that ratio{scope}.")


here = frame.current()
draw(here.ds, here.freq)
