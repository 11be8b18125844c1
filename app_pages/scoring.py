"""Scoring: score a new events file against a saved engagement model (who will engage with which
category next), with per-user top-K lists, the full pair table, counts and a drift report."""

from __future__ import annotations

from typing import Any

import streamlit as st

from interest_core import charts
from interest_core.export import safe_csv_bytes
from interest_core.ingest.formats import PRESET_NAMES
from interest_core.text import md_code, md_escape, percent
from interest_core.views import forecasts as fv
from interest_core.views import scoring as sv
from ui import frame, models, queries, store, widgets

SOURCES = {"upload": "Upload a file", "sample": "Taobao-like sample of the selected dataset"}
SHOWN_PAIRS = 5_000  # rows of the pair table sent to the browser; the CSV holds them all
PCT = st.column_config.NumberColumn("P(engage)", format="percent", help="probability of any engagement in the horizon")
YHAT = st.column_config.NumberColumn("interest (sum)", format="%.2f", help="forecast interest summed over the horizon")
FLAG_STYLE = {"shift": "background-color: #F4C7C3", "moderate shift": "background-color: #FFF2CC",
              "stable": "background-color: #D9EAD3"}
PAIR_COLUMNS: dict[str, Any] = {"p_engage": PCT, "yhat": YHAT, "cold_start": "new user", "user_id": "user"}

here = frame.current()
st.caption("Score a new events file against a saved engagement model: for every user in the file, the probability "
           "of engaging with each category in the model's next periods. Nothing is stored.")
data: bytes | None = None
file_name, folder, chosen = "", "", None
with widgets.guard():
    saved = models.saved_models()
    scorable = saved[saved["target"] == "engagement"].reset_index(drop=True)
    st.subheader("1. Model")
    if scorable.empty:
        st.info("No engagement model saved yet: train one on the Forecasts page with the target 'engagement'.",
                icon=":material/info:")
    else:
        info = {row["path"]: row for row in scorable.to_dict("records")}
        folder = st.selectbox(
            "Saved engagement model", list(info), key="sc_model",
            format_func=lambda p: f"{info[p]['name']} · {info[p]['freq']} · saved {info[p]['created'][:16]} UTC · "
                                  f"{fv.metrics_text(info[p]['metrics'], 'engagement')}")
        chosen = info[folder]
        st.caption(f"Trained on dataset {md_code(chosen['dataset'])} "
                   f"up to the {widgets.period_name(chosen['freq'])} of "
                   f"{md_escape(chosen['last_period'])}; model {md_code(chosen['model'])}, "
                   f"forecasting {chosen['horizon']} periods "
                   f"ahead. Other saved models ({len(saved) - len(scorable)}) forecast totals, not pairs: they do "
                   "not score files.")

        st.subheader("2. File")
        source = st.radio("File to score", list(SOURCES), format_func=SOURCES.__getitem__, horizontal=True,
                          key="sc_source")
        if source == "upload":
            st.caption(f"CSV (optionally .gz or .zip) or Parquet. Known formats are detected "
                       f"({', '.join(PRESET_NAMES)}); any other file can be mapped column by column.")
            upload = st.file_uploader("Events file", type=["csv", "gz", "zip", "parquet", "tsv", "txt"],
                                      key="sc_upload")
            if upload is not None:
                data, file_name = upload.getvalue(), upload.name
        elif here.key is not None:
            dataset = here.key.name
            data, file_name = queries.scoring_sample(here.key), f"{dataset}_taobao_like_sample.csv"
            st.caption(f"The last 5 weeks of 300 users of `{dataset}` in Taobao UserBehavior layout; a tenth of them "
                       "renamed (new users: cold start) and 3% of events in a category no model has seen.")
            st.download_button("Sample file (CSV)", safe_csv_bytes(data), file_name, "text/csv", key="sc_sample_dl",
                               on_click="ignore", icon=":material/download:")

if data is not None and chosen is not None:
    with widgets.file_guard(file_name):
        sha, path = store.upload(data, file_name)
        insp = store.inspect_upload(sha, path)
        mapping = None
        if insp.detected:
            st.caption(f"{md_code(file_name)}: {insp.size_bytes:,} bytes, "
                       f"detected format **{md_escape(insp.detected)}**.")
        else:
            st.warning(f"{md_escape(insp.detect_problem)}. Map the columns below.", icon=":material/help:")
            mapping = widgets.mapping_form(insp, lambda col: store.upload_codes(sha, path, col), f"sc_map_{sha[:12]}")
        with st.expander("Preview (first rows)"):
            st.dataframe(insp.preview, hide_index=True, width="stretch")
        c1, c2, c3 = st.columns(3)
        h = c1.number_input("Periods ahead", 1, 12, max(int(chosen["horizon"]), 1), key="sc_h",
                            help="The LSTM forecasts at most the horizon it was trained for.")
        k = c2.number_input("Top categories per user", 1, 20, 5, key="sc_k")
        duplicates = c3.selectbox("Exact duplicate rows", list(sv.DUPLICATE_POLICIES), key="sc_dup",
                                  format_func=sv.DUPLICATE_POLICIES.__getitem__,
                                  help="Rows repeating another row exactly (same user, item, category, behaviour "
                                       "and time). The format's default drops them, except for day-granular logs.")
        request = (sha, folder, int(h), int(k), duplicates)
        if st.button("Score", type="primary", key="sc_go", icon=":material/play_arrow:"):
            st.session_state["sc_request"] = request
        if st.session_state.get("sc_request") == request:  # scored before: results stay while widgets change
            result = models.score_upload(sha, path, folder, int(h), int(k), mapping, duplicates)
            n, shares = result.counts, result.shares
            st.subheader("3. Scores")
            if result.warnings:
                st.warning("**This model does not fit this file.** " + " ".join(result.warnings),
                           icon=":material/warning:")
            widgets.metrics([
                ("Users", f"{n['users']:,}", f"{n['pairs']:,} (user, category) pairs scored"),
                ("New users", f"{n['users_cold_start']:,} ({percent(shares['users_new'])})",
                 "unknown to the model: cold start (their own history blended with the training popularity of "
                 "each category)"),
                ("Unseen categories", f"{n['categories_unseen']:,}",
                 f"{n['events_unseen_categories']:,} events ({percent(shares['events_unseen_categories'])}) "
                 "folded into 'other'"),
                ("Events", f"{n['events']:,}", "rows kept after validation"),
                ("Rows rejected", f"{n['rows_rejected']:,}", "rows left out of scoring; the reasons are below"
                 if n["rows_rejected"] else "every row passed validation"),
            ])
            reasons = sv.rejected_in_words(result.report)  # library sentences: no text from the file
            if reasons:
                policy = result.report.duplicates_policy if result.report else "drop"
                st.caption("**Rows rejected:** " + "; ".join(reasons) + ". Exact duplicates "
                           f"were {'dropped' if policy == 'drop' else 'kept'}: change 'Exact duplicate rows' above "
                           "to score them differently.")
            left, right = st.columns(2)
            with left:
                st.markdown(f"**Top {int(k)} categories per user**")
                st.dataframe(result.top_k, hide_index=True, width="stretch", key="sc_topk",
                             column_config=PAIR_COLUMNS)
                widgets.csv_download("Top-K per user (CSV)", result.top_k, f"scores_top{int(k)}_{sha[:8]}.csv",
                                     key="sc_topk_csv")
            with right:
                st.plotly_chart(charts.score_histogram(result.scores), key="sc_hist")
            pairs = result.scores.sort_values("p_engage", ascending=False)
            st.markdown(f"**Every pair** ({len(pairs):,}; the {min(len(pairs), SHOWN_PAIRS):,} most likely shown, "
                        "all in the CSV)")
            st.dataframe(pairs.head(SHOWN_PAIRS), hide_index=True, width="stretch", key="sc_pairs",
                         column_config=PAIR_COLUMNS)
            widgets.csv_download("All pairs (CSV)", pairs, f"scores_all_{sha[:8]}.csv", key="sc_pairs_csv")

            st.subheader("Drift: the file vs the training data")
            st.plotly_chart(charts.drift_chart(result.drift), key="sc_drift")
            drift = sv.drift_in_words(result.drift)
            st.dataframe(drift.style.map(lambda f: FLAG_STYLE.get(f, ""), subset=["Flag"]), hide_index=True,
                         width="stretch", key="sc_drift_table")
            st.caption("PSI (population stability index) below 0.1 is stable, 0.1-0.25 moderate, above 0.25 a shift: "
                       "scores of a shifted file deserve less trust; consider re-training on newer data.")
