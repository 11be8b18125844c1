"""Forecasts: how well each model forecast the past (leaderboard, predicted vs actual, residuals), the
saved models, and training a new one in a worker process while the page stays usable."""

from __future__ import annotations

from typing import cast

import streamlit as st

from interest_core import charts
from interest_core.charts.forecasts import metric_label
from interest_core.forecasting.backtest import TARGETS
from interest_core.forecasting.forecasters import offered_models
from interest_core.periods import FREQS
from interest_core.views import forecasts as fv
from ui import frame, models, planning, queries, widgets

KINDS = {"aggregate": "all users together", "category": "a category", "user": "a user"}
DEFAULT_KIND = {"engagement": "aggregate", "user_total": "user", "category_demand": "category"}

here = frame.current()
ds, dataset, freq = here.ds, here.ds.name, here.freq
unit = widgets.period_name(freq)
# Training progress first: a running job is what a person came back to this page for.
widgets.job_monitor(lambda: models.jobs(dataset), key="fc_jobs")
planning.forward_section(here, key="fc_forward")
target = st.radio("Forecast target", TARGETS, format_func=fv.TARGET_TEXT.__getitem__, horizontal=True,
                  key="fc_target", help="Engagement: will this user engage with this category? User totals: "
                  "how much interest a user shows. Category demand: interest in a category, over all users.")
st.subheader("Leaderboard (latest backtest)")
payload = models.latest_backtest(dataset, target, freq)
if payload is None:
    st.info(f"No backtest of {fv.TARGET_TEXT[target]} on `{dataset}` ({widgets.FREQ_TEXT[freq]}) yet: train a "
            "model below (every training run backtests it against the baselines first).",
            icon=":material/info:")
else:
    meta = payload.meta
    st.caption(f"Backtest of {meta.created_at[:16].replace('T', ' ')} UTC: {len(meta.cutoffs)} "
               f"rolling origins (cutoffs {', '.join(c[:10] for c in meta.cutoffs)}), forecasting "
               f"{meta.horizon} {unit}s ahead from data up to each cutoff only.")
    tiers = fv.segments(payload)
    segment = st.radio("Users' activity tier", tiers, horizontal=True, key="fc_segment",
                       help="Terciles of each user's training interest: light, medium, heavy users.")
    table = fv.leaderboard(payload, segment)
    title = f"{fv.TARGET_TEXT[target].capitalize()}: model × metric ({segment}); ★ best, green = better"
    st.plotly_chart(charts.leaderboard_heatmap(table, fv.goodness(table), title), key="fc_board")
    widgets.csv_download("Leaderboard (CSV)", table.reset_index(), f"{dataset}_{target}_{freq}_leaderboard.csv",
                         key="fc_board_csv")
    if len(tiers) > 1:
        metric = st.selectbox("Metric by activity tier", list(table.columns), key="fc_tier_metric",
                              index=list(table.columns).index(fv.PRIMARY[target]), format_func=metric_label)
        st.plotly_chart(charts.tier_chart(fv.by_tier(payload, metric), metric,
                                          f"{metric_label(metric)} by users' activity tier"), key="fc_tiers")
    st.caption("Ranking metrics judge engagement (AUC, HitRate@K, NDCG@K: higher is better; Brier: lower). "
               "Totals and demand: MAE, RMSE, sMAPE, MASE (below 1 beats last-value) lower is better; "
               "coverage is best near its level (80% / 95%), narrower intervals are better at equal coverage.")

st.subheader("Predicted vs actual")
saved = models.saved_models(dataset)
k1, k2 = st.columns([1, 2])
kind = k1.radio("Series", list(KINDS), format_func=KINDS.__getitem__, key="fc_kind",
                index=list(KINDS).index(DEFAULT_KIND[target]))
key: str | None = None
if kind == "category":
    key = k2.selectbox("Category", models.category_choices(ds, freq), key="fc_category")
elif kind == "user":
    found = queries.search_users(ds, k2.text_input("Search user id", key="fc_user_search"))
    key = k2.selectbox("User", found["user_id"].astype(str).tolist(), key="fc_user")
# Defaults that a backtest over the date range's complete periods can hold (8 weeks: 2 ahead, 4 folds).
fit_h, fit_folds = here.fitted_backtest(4, 8)
with st.expander("Backtest settings of this series"):
    s1, s2 = st.columns(2)
    horizon = s1.slider(f"{unit.capitalize()}s ahead", 1, 8, fit_h, key="fc_h")
    folds = s2.slider("Folds (rolling origins)", 1, 12, fit_folds, key="fc_folds")
    st.caption(f"{here.fitted_note('Horizon', fit_h)} Folds: {fit_folds} of at most 8, as many as leave each "
               "fold 3 training periods.")
    own = st.toggle("Use the saved backtest's forecasts when it has this series", value=True,
                    key="fc_use_saved",
                    help="Off: backtest this series now with the baselines (and ARIMA when one is saved).")
if kind == "user" and key is None:
    st.info("No user id matches the search.")
else:
    matching = saved[(saved["target"] == fv.KIND_TARGET[kind]) & (saved["freq"] == freq)]
    names, params = fv.series_models(matching)
    view = models.series_view(ds, freq, kind, key, names, params, horizon, folds, own)
    if not view.ranked:
        st.info("This series has no backtest forecasts.")
    else:
        name = fv.series_id(cast(fv.SeriesKind, kind), key)
        m1, m2 = st.columns(2)
        model = m1.selectbox("Model (lowest error on this series first)", view.ranked, key="fc_pva_model")
        res = fv.residuals(view.forecasts, model)
        step = m2.radio("Forecasts shown", [None, *map(int, sorted(res["step"].unique()))], horizontal=True,
                        key="fc_step", format_func=lambda k: "each fold's path" if k is None else f"{k} ahead")
        future, future_name = None, ""
        if kind != "aggregate" and len(matching):
            row = matching.iloc[0]
            future = models.saved_future(row["path"], max(int(row["horizon"]), 1), name)
            future_name = f"saved {row['model']}"
        st.plotly_chart(charts.predicted_vs_actual_chart(
            view.history, view.forecasts, model, freq, step=step, series_name=name, future=future,
            future_name=future_name), key="fc_pva")
        st.plotly_chart(charts.residuals_chart(res, model, freq), key="fc_residuals")
        st.caption(f"Forecasts from {view.source}. Shaded: 80% and 95% intervals; dashed lines: the "
                   "fold cutoffs (each fold trained on data up to its cutoff only).")

st.subheader("Saved models")
if saved.empty:
    st.caption(f"No model of `{dataset}` saved yet: train one below.")
else:
    st.dataframe(fv.saved_table(saved), hide_index=True, width="stretch", key="fc_models", column_config={
        "name": st.column_config.TextColumn("name", width="small", help="The model's file name"),
        "target": st.column_config.TextColumn("target", width="small"),
        "backtest": st.column_config.TextColumn("backtest metrics", width="medium"),
    })

st.subheader("Train / re-train")
with st.form("fc_train"):
    f1, f2, f3, f4, f5 = st.columns(5)
    t_target = f1.selectbox("Target", TARGETS, format_func=fv.TARGET_TEXT.__getitem__, key="train_target",
                            index=list(TARGETS).index(target))
    offered = offered_models()
    winner = fv.backtest_winner(payload, offered)
    t_model = f2.selectbox("Model", offered, key="train_model", index=offered.index(winner) if winner else 0,
                           help="Starts on the model that won the latest backtest of this target. "
                                "ARIMA: one model per series, so user totals or category demand only.")
    t_freq = f3.selectbox("Period", FREQS, index=FREQS.index(freq),
                          format_func=widgets.FREQ_TEXT.__getitem__, key="train_freq")
    train_h, train_folds = here.fitted_backtest(4, 3)
    t_h = f4.number_input("Horizon (periods)", 1, 12, train_h, key="train_h")
    t_folds = f5.number_input("Backtest folds", 1, 8, train_folds, key="train_folds")
    go = st.form_submit_button("Train / re-train", type="primary", icon=":material/model_training:")
if go:
    models.launch_training(ds, t_target, t_model, t_freq, int(t_h), int(t_folds))
    st.rerun()  # the progress bar at the top shows the new job
st.caption("Training runs in a separate process: it backtests the model against the baselines, writes the "
           "leaderboard above, fits the model on every complete period and saves it to "
           f"`{models.models_dir()}`. Keep using the page meanwhile; its progress shows at the top."
           + (f" The model starts on **{winner}**, the best of the latest backtest." if winner else ""))
