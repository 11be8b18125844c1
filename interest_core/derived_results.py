"""Small results pages read of a whole dataset, computed once by ``prepare`` and kept in the store.

On a large log the KPIs, the category totals, the learned category grouping, the funnel and the like
each scan every event (seconds apiece at 10 M events, ten of them on a page). ``prepare`` computes
them with the same library functions the pages call (``summarize``) and saves each in the table
``derived_results``: a frame (Parquet bytes: the dtypes come back as they were) and JSON facts, keyed
on the dataset, the events table it was computed from (a re-ingest is another table, so an older
result is never read) and a key naming what it is and its arguments (``result_key``). Pages read a
result when their date range is the whole dataset (``load``), else compute as before. Only default
behaviour weights are stored: what the pages use.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from interest_core.store import Progress, Store

RESULTS_TABLE = "derived_results"
RESULTS_DDL = f"""CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} (
    dataset VARCHAR NOT NULL, events_table VARCHAR NOT NULL, key VARCHAR NOT NULL, frame BLOB, facts VARCHAR,
    built_at TIMESTAMP, PRIMARY KEY (dataset, key))"""
SUMMARIES_KEY = "summaries"  # its facts: the version of summarize that computed the dataset's results
SUMMARIES_VERSION = 4  # raise it when summarize computes something else: prepare then recomputes them
# What a category of a known log format is, for learned group names ('brand 911, 26288 +702').
CATEGORY_NOUN = {"tmall2014": "brand"}


@dataclass(frozen=True)
class Result:
    """One stored result: a frame and JSON facts (either may be empty)."""

    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    facts: dict[str, Any] = field(default_factory=dict)


def result_key(name: str, *args: Any) -> str:
    """The key of a result: its name and arguments, one spelling ('learned_map/12/0/brand')."""
    return "/".join([name, *(str(a) for a in args)])


def category_noun(fmt: str | None) -> str:
    """What one category of a log of format ``fmt`` is ('brand' on the Tmall log), '' when plain categories."""
    return CATEGORY_NOUN.get(fmt or "", "")


def _has_table(cur: duckdb.DuckDBPyConnection) -> bool:
    row = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                      "AND database_name = current_database()", [RESULTS_TABLE]).fetchone()
    return bool(row and row[0])


def _to_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def _from_bytes(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()


def save(store: Store, dataset: str, results: Mapping[str, Result]) -> None:
    """Keep ``results`` (key -> Result) for the dataset's current events; results of older events are dropped."""
    events = store.table(dataset).strip('"')
    rows = [(dataset, events, key, _to_bytes(r.frame), json.dumps(r.facts, default=str)) for key, r in results.items()]
    built_at = datetime.now(UTC).replace(tzinfo=None)
    with store.writing() as cur:
        cur.execute(RESULTS_DDL)
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(f"DELETE FROM {RESULTS_TABLE} WHERE dataset = ? AND events_table <> ?", [dataset, events])
            for row in rows:
                cur.execute(f"INSERT OR REPLACE INTO {RESULTS_TABLE} VALUES (?, ?, ?, ?, ?, ?)", [*row, built_at])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise


def forget(store: Store, dataset: str) -> None:
    """Drop every result kept for the dataset (``prepare --force``: the page summaries are computed again)."""
    with store.writing() as cur:
        if _has_table(cur):
            cur.execute(f"DELETE FROM {RESULTS_TABLE} WHERE dataset = ?", [dataset])


def load(store: Store, dataset: str, key: str) -> Result | None:
    """The result ``key`` computed from the dataset's current events by this version of ``summarize``, or None
    (not prepared, stale, or computed by a version that computed something else: the caller computes it then,
    and the next ``prepare`` replaces it)."""
    events = store.table(dataset).strip('"')
    with store.reading() as cur:
        if not _has_table(cur):
            return None
        row = cur.execute(f"SELECT frame, facts FROM {RESULTS_TABLE} WHERE dataset = ? AND key = ? "
                          "AND events_table = ?", [dataset, key, events]).fetchone()
        if row is not None and key != SUMMARIES_KEY:
            version = cur.execute(f"SELECT json_extract(facts, '$.version') FROM {RESULTS_TABLE} WHERE dataset = ? "
                                  "AND key = ? AND events_table = ?", [dataset, SUMMARIES_KEY, events]).fetchone()
            if version is None or str(version[0]) != str(SUMMARIES_VERSION):
                return None
    if row is None:
        return None
    return Result(_from_bytes(bytes(row[0])), json.loads(row[1]) if row[1] else {})


def stale(store: Store, dataset: str) -> bool:
    """Whether the dataset's page summaries were computed by another version of ``summarize`` (the code was
    upgraded since ``prepare``): none is served (``load``) until ``prepare`` computes them again."""
    done = load(store, dataset, SUMMARIES_KEY)
    return done is not None and done.facts.get("version") != SUMMARIES_VERSION


def one_row(values: Mapping[str, Any]) -> Result:
    """A dict of scalars (timestamps, counts) as a one-row frame: Parquet keeps each value's type."""
    return Result(pd.DataFrame([dict(values)]))


def row_dict(result: Result) -> dict[str, Any]:
    """``one_row``'s dict back, values as ``panel.kpis`` returns them (Python scalars, pandas timestamps)."""
    row = result.frame.iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.to_dict().items()}


# -- what prepare computes --------------------------------------------------------------------------------

def summarize(store: Store, dataset: str, freqs: tuple[str, ...], progress: Progress) -> None:
    """Compute and save every result the pages read of the whole dataset (see the module's docstring)."""
    from interest_core import panel
    from interest_core.analytics.retention import (
        DEFAULT_STEPS,
        DEFAULT_WINDOW,
        MAX_COHORTS,
        cohort_retention,
        ordered_funnel,
    )
    from interest_core.forecasting.page_frames import max_model_rows
    from interest_core.grouping import group_quality, learn_groups, suggested_grouping
    from interest_core.views.users import user_tops, user_tops_in_db

    done = load(store, dataset, SUMMARIES_KEY)
    wanted = {result_key("activity", f) for f in freqs}
    if done is not None and done.facts.get("version") == SUMMARIES_VERSION and wanted <= set(done.facts["keys"]):
        progress(1.0, f"{dataset}: page summaries already built")
        return
    source = panel.events_source(store, dataset)
    out: dict[str, Result] = {}
    span: dict[str, Any] = {}

    def kpis() -> None:
        out["kpis"] = one_row(panel.kpis(source))

    def window() -> None:
        span.update(panel.time_window(source))
        out["time_window"] = one_row(span)

    def totals() -> None:
        out["category_totals"] = Result(panel.category_totals(source))
        out["funnel"] = Result(panel.funnel(source))

    def activity() -> None:
        for freq in freqs:
            out[result_key("activity", freq)] = Result(panel.activity_over_time(source, freq))

    def grouping() -> None:
        spec = suggested_grouping(int(out["kpis"].frame["categories"].iloc[0]))
        if spec.method != "learned":
            return
        noun = category_noun(store.describe(dataset).format)
        learned = learn_groups(source, spec.n_groups, spec.seed, noun=noun, max_pairs=max_model_rows())
        mapping, sample = learned.category_map, {"sampled_users": learned.sampled_users, "pairs": learned.pairs}
        out[result_key("learned_map", spec.n_groups, spec.seed, noun)] = Result(mapping, sample)
        tops = (user_tops(learned.user_category, mapping) if learned.users_where is None
                else user_tops_in_db(source, mapping))  # every user's top group, also on a sampled log
        out[result_key("user_tops", spec.n_groups, spec.seed, noun)] = Result(tops)
        quality = group_quality(learned.user_category, mapping)  # a statistic: the sample's pairs will do
        out[result_key("group_quality", spec.n_groups, spec.seed, noun)] = Result(
            facts=asdict(replace(quality, sampled_users=learned.sampled_users)))

    def cohorts() -> None:  # the Retention page's opening grid (any event counts as coming back), per period
        for freq in freqs:
            grid = cohort_retention(source, freq, returning="any", max_cohorts=MAX_COHORTS, start=span["start"],
                                    end=span["end"])
            out[result_key("cohorts", freq, "any")] = Result(grid.grid, grid.facts())

    def funnel() -> None:
        hours = int(DEFAULT_WINDOW.total_seconds() // 3600)
        flow = ordered_funnel(source, DEFAULT_STEPS, DEFAULT_WINDOW, start=span["start"], end=span["end"])
        out[result_key("ordered_funnel", ",".join(DEFAULT_STEPS), hours)] = Result(
            flow.table, {"steps": list(flow.steps), "missing": list(flow.missing),
                         "day_granular": flow.day_granular})

    steps: list[tuple[str, Callable[[], None]]] = [
        ("KPIs", kpis), ("time span", window), ("category totals and funnel", totals), ("activity", activity),
        ("learned category groups", grouping), ("cohort grids", cohorts),
        ("ordered funnel", funnel)]
    for i, (what, run) in enumerate(steps):
        progress(i / len(steps), f"{dataset}: page summaries ({what})")
        run()
    out[SUMMARIES_KEY] = Result(facts={"version": SUMMARIES_VERSION, "keys": sorted(out)})
    save(store, dataset, out)
    progress(1.0, f"{dataset}: page summaries ready")
