"""Data: pick the demo or a stored dataset, upload a file, see what was kept and rejected, delete."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from interest_core import charts
from interest_core.config import IngestOptions
from interest_core.ingest import pipeline
from interest_core.ingest.formats import PRESET_NAMES
from interest_core.ingest.uploads import dataset_name_for, discard_upload, max_decompressed_bytes
from interest_core.text import md_code, md_escape
from ui import fits, frame, queries, state, store, widgets

DATASET_COLUMNS = ("name", "format", "rows", "users", "categories", "start", "end", "created_at")
TMALL, DEFAULT_YEAR = "tmall2014", 2013  # its dates are M-D: the year comes from the person (the CLI's --year)

here = frame.current()
dataset, ds = here.dataset, here.key
if flash := st.session_state.pop("data_flash", None):
    st.success(flash, icon=":material/check_circle:")
stored_tab, upload_tab = st.tabs(["Stored datasets", "Upload a file"])

with stored_tab, widgets.guard():
    # The columns that fit beside each other; the source path and more are in the dataset's details below.
    listing = store.datasets()
    listing[["start", "end"]] = listing[["start", "end"]].apply(pd.to_datetime)
    st.dataframe(listing, hide_index=True, width="stretch", column_order=DATASET_COLUMNS, column_config={
        **widgets.COUNT_COLUMNS,
        "start": st.column_config.DatetimeColumn("first event", format="YYYY-MM-DD"),
        "end": st.column_config.DatetimeColumn("last event", format="YYYY-MM-DD"),
        "created_at": st.column_config.DatetimeColumn("stored (UTC)", format="YYYY-MM-DD HH:mm"),
    })
    if dataset and ds:
        info = queries.describe(ds)
        st.subheader(f"Dataset `{dataset}`")
        st.caption(f"Source: {md_escape(info.source)} · format {md_escape(info.format)} · events from "
                   f"{widgets.span(info.start, info.end)[1]} · stored {info.created_at[:19]} UTC")
        widgets.metrics([
            ("Events", f"{info.rows:,}", "rows kept after validation"),
            ("Users", f"{info.users:,}", None),
            ("Items", f"{info.items:,}", None) if info.items else ("Items", "n/a", "this log has no item ids"),
            ("Categories", f"{info.categories:,}", None),
            widgets.span_metric(info.start, info.end),
        ])
        st.html(charts.behavior_mix_bars(info.behaviors))  # plain HTML: no chart library to load (bar_list.py)
        st.markdown(f"**Ingest report**: {info.rows_read:,} rows read, {info.rows:,} kept, "
                    f"duplicates policy {md_code(info.duplicates_policy)}")
        report = queries.report(ds)
        if report.empty:
            st.caption("Every row was kept as it was.")
        else:
            st.dataframe(report, hide_index=True, width="stretch")
        d1, d2 = st.columns(2)
        with d1:
            widgets.csv_download("Report (CSV)", report, f"{dataset}_report.csv", "dl_report")
        with d2:
            widgets.csv_download("Rejected rows (CSV, up to 10,000)", queries.rejected_rows(ds),
                                 f"{dataset}_rejected_rows.csv", "dl_rejected")
        with st.expander(f"Delete `{dataset}`"):
            sure = st.checkbox(f"Yes, delete `{dataset}` and its events for good", key="del_sure")
            if st.button("Delete dataset", type="primary", disabled=not sure, key="del_go"):
                store.store().delete(dataset)
                state.clear("dataset")
                st.session_state["data_flash"] = f"Deleted `{dataset}`."
                st.rerun()

with upload_tab, widgets.guard():
    limit = st.get_option("server.maxUploadSize")
    st.caption(f"CSV (optionally .gz or .zip) or Parquet, up to {limit:,} MB. Known formats are detected: "
               f"{', '.join(PRESET_NAMES)}; any other file can be mapped column by column.")
    upload = st.file_uploader("Events file", type=["csv", "gz", "zip", "parquet", "tsv", "txt"], key="upload")
    if upload is not None:
        sha, path = store.upload(upload.getvalue(), upload.name)
        insp = store.inspect_upload(sha, path)
        st.markdown(f"**Preview** of {md_code(upload.name)} "
                    f"(first {len(insp.preview)} rows, {insp.size_bytes:,} bytes)")
        st.dataframe(insp.preview, hide_index=True, width="stretch")
        if insp.detected:
            how = st.radio("Format", [f"detected: {insp.detected}", "map columns"], horizontal=True, key=f"how_{sha}")
        else:
            st.warning(f"{md_escape(insp.detect_problem)}. Map the columns below.", icon=":material/help:")
            how = "map columns"
        mapping = None
        if how == "map columns":
            mapping = widgets.mapping_form(insp, lambda col: store.upload_codes(sha, path, col), f"map_{sha[:12]}")
        n1, n2, n3 = st.columns([2, 1, 1])
        name = n1.text_input("Dataset name", value=dataset_name_for(upload.name), key=f"name_{sha}")
        dup = n2.selectbox("Exact duplicate rows", ["auto", "drop", "keep"], key=f"dup_{sha}",
                           help="auto: the format's default (drop, except day-granular logs).")
        year = DEFAULT_YEAR
        if insp.detected == TMALL:
            year = int(n3.number_input("Year of the dates", 1995, 2100, DEFAULT_YEAR, key=f"year_{sha}",
                                       help="This format writes dates as month-day: pick the year they fall in "
                                            "(the original Tmall log is from 2013)."))
        if mapping is not None and insp.detected == TMALL and mapping.ts_prefix:
            mapping = replace(mapping, ts_prefix=f"{year}-")
        if st.button("Ingest", type="primary", key=f"ingest_{sha}"):
            bar = st.progress(0.0, text="starting")
            def show(fraction: float, message: str) -> None:
                bar.progress(min(max(fraction, 0.0), 1.0), text=md_escape(message))

            result = pipeline.ingest(store.store(),
                path, name=name.strip(), fmt="generic" if mapping else "auto", mapping=mapping,
                options=IngestOptions(duplicates=dup), year=year, source_name=upload.name,  # type: ignore[arg-type]
                progress=show, max_decompressed_bytes=max_decompressed_bytes())
            discard_upload(path)
            state.put("dataset", result.name)
            preparing = fits.prepare_after_upload(result.name)
            st.session_state["data_flash"] = result.message + (  # library text; the name matches NAME_RE
                " Its derived tables are being built in the background; pages read the events until then."
                if preparing else "")
            st.rerun()
