"""Widgets shared by pages: error display, safe CSV downloads, the column-mapping form, KPI rows,
the training-job monitor and the category grouping (``category_grouping``). (The dataset and period
pickers are the frame's: ``ui.frame``.)
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import pandas as pd
import streamlit as st

from interest_core.errors import InterestCoreError
from interest_core.export import safe_csv
from interest_core.forecasting.jobs import JobEntry
from interest_core.grouping import OTHER, CategoryChoice, GroupQuality
from interest_core.ingest.formats import BEHAVIORS, IGNORE, ColumnMapping, TsUnit
from interest_core.ingest.uploads import Inspection, guess_behavior, guess_mapping
from interest_core.periods import PERIOD_ADJECTIVE, PERIOD_LABEL
from interest_core.text import md_code, md_escape, percent, plural
from ui.queries import kpis, window
from ui.store import DatasetKey

FREQ_TEXT = PERIOD_ADJECTIVE
NONE = "(none)"
# Counts in tables with thousands separators.
COUNT_COLUMNS: dict[str, Any] = {
    c: st.column_config.NumberColumn(format="localized") for c in ("rows", "users", "items", "categories", "events")
}


# -- errors -------------------------------------------------------------------------------------

def show_error(exc: InterestCoreError) -> None:
    """The problem and what to do about it; never a traceback."""
    text = f"**{md_escape(exc.problem)}**"  # messages quote file names, columns and values from data
    if exc.fix:
        text += f"\n\nWhat to do: {md_escape(exc.fix)}"
    st.error(text, icon=":material/error:")


@contextmanager
def guard() -> Iterator[None]:
    """Run a block; a library error shows as st.error with its fix and the rest of the page goes on."""
    try:
        yield
    except InterestCoreError as exc:
        show_error(exc)


# -- display helpers ----------------------------------------------------------------------------

def csv_download(label: str, frame: pd.DataFrame, file_name: str, key: str, *, deferred: bool = False) -> None:
    """A CSV download whose text cells cannot run as spreadsheet formulas (interest_core.export.safe_csv).
    ``deferred``: the CSV is written when the button is clicked, not on every rerun (for long tables)."""
    data = (lambda: safe_csv(frame)) if deferred else safe_csv(frame)
    st.download_button(label, data=data, file_name=file_name, mime="text/csv", key=key,
                       on_click="ignore", icon=":material/download:", disabled=frame.empty)


def span_metric(start: object, end: object) -> tuple[str, str, str]:
    length, dates = span(start, end)
    return "Span", length, f"first and last event: {dates}"


def time_axis(ds: DatasetKey) -> tuple[object, object] | None:
    """The span time charts show; None when every event is in it. Says how many are left out."""
    span = window(ds)
    if not span["outside"]:
        return None
    st.caption(f":material/info: {span['outside']:,} event(s) lie far from the rest "
               f"(first at {span['first']:%Y-%m-%d}, last at {span['last']:%Y-%m-%d}): time charts show "
               f"{span['start']:%Y-%m-%d %H:%M} to {span['end']:%Y-%m-%d %H:%M}; double-click a chart to see all.")
    return span["start"], span["end"]


def metrics(items: Sequence[tuple[str, str, str | None]]) -> None:
    """One row of st.metric: (label, value, help)."""
    for col, (label, value, help_text) in zip(st.columns(len(items)), items, strict=True):
        col.metric(label, value, help=help_text, border=True)


def span(start: object, end: object) -> tuple[str, str]:
    """A short length for a metric ('420 days') and the first and last times for its help."""
    lo, hi = pd.Timestamp(str(start)), pd.Timestamp(str(end))
    days = (hi - lo).total_seconds() / 86_400
    length = f"{days:,.0f} days" if days >= 2 else f"{days * 24:,.0f} hours"
    return length, f"{lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} UTC"


def period_name(freq: str) -> str:
    return PERIOD_LABEL.get(freq, freq)


# -- the column-mapping form ----------------------------------------------------------------------

def _pick(col: Any, label: str, options: list[str], default: str | None, key: str, help: str | None = None) -> str:
    index = options.index(default) if default in options else 0
    return str(col.selectbox(label, options, index=index, key=key, help=help))


def mapping_form(insp: Inspection, codes_of: Callable[[str], pd.DataFrame], key: str) -> ColumnMapping:
    """Pick each canonical column from the file's columns, the behaviour codes and the time format.

    Defaults come from the detected format when there is one, else from the column names.
    Raises MappingError (shown by ``guard``) when the choices cannot make a mapping.
    """
    cols = list(insp.columns)
    guess = guess_mapping(cols)
    preset = insp.preset_mapping
    if preset is not None:
        guess.update({f: getattr(preset, f) for f in ("user_id", "item_id", "category", "behavior", "ts", "value")})
    optional = [NONE, *cols]
    c1, c2, c3 = st.columns(3)
    user = _pick(c1, "User id", cols, guess["user_id"], f"{key}_user")
    category = _pick(c2, "Category", cols, guess["category"], f"{key}_cat",
                     help="Category, brand or genre: whatever groups items.")
    ts = _pick(c3, "Time", cols, guess["ts"], f"{key}_ts")
    behavior = _pick(c1, "Behaviour", optional, guess["behavior"], f"{key}_beh",
                     help="(none): every row is the same behaviour, picked below.")
    item = _pick(c2, "Item id (optional)", optional, guess["item_id"], f"{key}_item")
    value = _pick(c3, "Amount or rating (optional)", optional, guess["value"], f"{key}_val")

    constant, codes = None, []
    if behavior == NONE:
        constant = _pick(st, "Behaviour of every row", list(BEHAVIORS), "view", f"{key}_const")
    else:
        preset_codes = dict(preset.behavior_codes) if preset is not None and preset.behavior == behavior else {}
        found = codes_of(behavior)
        st.markdown(f"**Behaviour codes** in column {md_code(behavior)} "
                    "(most frequent first; unlisted codes are rejected)")
        targets = [*BEHAVIORS, IGNORE]
        grid = st.columns(4)
        for i, (code, rows) in enumerate(zip(found["value"].astype(str), found["rows"], strict=True)):
            default = preset_codes.get(code, guess_behavior(code))
            target = _pick(grid[i % 4], f"{md_code(code)} ({int(rows):,} rows)", targets, default, f"{key}_code_{i}")
            codes.append((code, target))

    t1, t2, t3 = st.columns(3)
    units = {"auto": "auto-detect", "s": "epoch seconds", "ms": "epoch milliseconds", "text": "date/time text"}
    unit = t1.selectbox("Time unit", list(units), index=list(units).index(preset.ts_unit if preset else "auto"),
                        format_func=units.__getitem__, key=f"{key}_unit")
    fmt = t2.text_input("Time format (text times only)", value=(preset.ts_format if preset else None) or "",
                        placeholder="%Y-%m-%d %H:%M:%S", key=f"{key}_fmt",
                        help="strftime codes; empty: ISO dates and times are recognised.")
    zones = ["UTC", *sorted(zoneinfo.available_timezones() - {"UTC"})]
    zone = t3.selectbox("Time zone of text times", zones, key=f"{key}_tz",
                        help="Times that name no zone are read in this one and stored as UTC.")
    return ColumnMapping(
        user_id=user, category=category, ts=ts, behavior=None if behavior == NONE else behavior,
        item_id=None if item == NONE else item, value=None if value == NONE else value,
        behavior_codes=tuple(codes), constant_behavior=constant, ts_unit=cast(TsUnit, unit),
        ts_format=fmt.strip() or None,
        timezone=zone, ts_prefix=preset.ts_prefix if preset is not None else "",
    )


# -- forecasts and scoring ------------------------------------------------------------------------

JOBS_SHOWN = 3  # latest training jobs listed under the form
JOB_POLL_S = 1.0  # how often a page with a running job reads its status.json


@contextmanager
def file_guard(file_name: str) -> Iterator[None]:
    """Like ``guard`` for work on a file a person handed us: anything it breaks shows as st.error, not a traceback."""
    import logging

    try:
        yield
    except InterestCoreError as exc:
        show_error(exc)
    except Exception as exc:  # the file's content reached code that did not expect it: say so, log the rest
        logging.getLogger(__name__).exception("processing %s failed", file_name)
        st.error(f"**{md_code(file_name)} could not be processed** ({type(exc).__name__}: {md_escape(exc)})\n\n"
                 "What to do: check that it is an events log (CSV, optionally .gz/.zip, or Parquet) with a user, "
                 "a category and a time column, and map the columns if its format is not detected.",
                 icon=":material/error:")


def _job_line(entry: JobEntry) -> str:
    from interest_core.views.forecasts import TARGET_TEXT

    return (f"**{entry.model}** on {TARGET_TEXT.get(entry.target, entry.target)} "
            f"({FREQ_TEXT.get(entry.freq, entry.freq)}, {entry.horizon} ahead, {entry.folds} folds)")


def job_monitor(entries: Callable[[], list[JobEntry]], key: str = "jobs") -> None:
    """Progress of the latest training jobs: polled every ``JOB_POLL_S`` seconds in a fragment while
    one runs (the rest of the page stays usable); when one ends, the whole page reruns once so its
    leaderboard and model list show the result."""
    from interest_core.views.forecasts import time_left

    acked: set[str] = st.session_state.setdefault(f"{key}_seen_done", set())
    running = False
    for entry in entries():
        if entry.job.status().finished:
            acked.add(entry.job.id)  # this full run already reads what that job wrote
        else:
            running = True

    @st.fragment(run_every=JOB_POLL_S if running else None)
    def _progress() -> None:
        for entry in entries()[:JOBS_SHOWN]:
            job, line = entry.job, _job_line(entry)
            status = job.status()
            if not status.finished:
                left = time_left(entry.started, status.fraction, time.time())
                st.progress(status.fraction,
                            text=f"{line}: {md_escape(status.message)} ({status.fraction:.0%}, {left})")
                if st.button("Cancel", key=f"{key}_cancel_{job.id}", icon=":material/cancel:"):
                    job.cancel()
            elif status.state == "done":
                st.success(f"{line}: done, saved to {md_code(entry.model_dir)}", icon=":material/check_circle:")
            elif status.state == "cancelled":
                st.info(f"{line}: cancelled", icon=":material/cancel:")
            else:
                st.error(f"{line}: failed. {md_escape(status.error)}", icon=":material/error:")
            if status.finished and job.id not in acked:
                acked.add(job.id)
                st.rerun()  # the whole page: the leaderboard and the model list read the new files

    _progress()


# -- category grouping ----------------------------------------------------------------------------

GROUPING_METHODS = {
    "learned": "groups that share users (learned)",
    "topk": "the most engaged + other",
    "map": "names I give",
    "none": "every category",
}


def _parse_names(text: str) -> tuple[tuple[str, str], ...]:
    """'id = name' (or 'id, name') per line -> pairs; lines without a separator are skipped."""
    pairs = []
    for line in text.splitlines():
        for sep in ("=", ",", "\t"):
            if sep in line:
                cat, name = (part.strip() for part in line.split(sep, 1))
                if cat and name:
                    pairs.append((cat, name))
                break
    return tuple(pairs)


def quality_words(quality: GroupQuality | None, noun: str) -> str:
    """How well the groups hold together, in words (for the caption under the grouping widget)."""
    nouns = plural(noun, 2)
    if quality is None or quality.lift != quality.lift:  # no groups, or NaN
        return ""
    text = (f"Two {nouns} in the same group share users {quality.lift:.1f} times as often as two {nouns} "
            "picked at random")
    text += " (no better than chance). " if quality.lift < 1.2 else ". "
    text += f"'other' holds {percent(quality.other_share)} of all interest."
    if quality.sampled_users:  # a large log: learned from a seeded sample of users (grouping.learn_groups)
        text += f" Groups learned from a sample of {quality.sampled_users:,} users."
    return text


def category_grouping(ds: DatasetKey, key: str, *, default_k: int = 12, picker: bool = True,
                      few: str = "topk") -> CategoryChoice:
    """The page's category grouping: how categories are grouped (learned groups by default above
    ``grouping.LEARNED_ABOVE`` categories, else ``few``: the ``default_k`` most engaged + other ('topk') or
    every category ('none'); or a name map), whether 'other' is left out, and which groups to show (the
    rest fold into 'other'; ``picker=False`` hides that choice).

    Pass the result to ``queries.analytics_panel(ds, freq, choice)``; colours of its groups:
    ``ui.grouping.colors(ds, choice.spec)``. Keys start with ``key`` (one set per page and dataset).
    """
    from interest_core.config import GroupingSpec
    from interest_core.grouping import suggested_grouping
    from ui import grouping as grp

    n_categories = int(kpis(ds)["categories"])
    noun = grp.noun(ds)
    nouns = plural(noun, 2)
    # Suggested from the whole dataset: a shorter range (fewer categories) keeps the same grouping.
    whole_count = int(kpis(ds.whole())["categories"])
    suggested = "learned" if suggested_grouping(whole_count).method == "learned" else few
    c1, c2, c3 = st.columns([2, 1, 1])
    methods = list(GROUPING_METHODS)
    method = c1.selectbox(f"Group the {n_categories:,} {plural(noun, n_categories)}", methods,
                          index=methods.index(suggested), format_func=GROUPING_METHODS.__getitem__,
                          key=f"{key}_grouping_{ds.name}",
                          help=f"Learned: {nouns} engaged by the same users are grouped, each group named by its "
                               f"most engaged {nouns}; {nouns} with fewer than 3 users go to 'other'.")
    if method == "learned":
        n = int(c2.number_input("Groups", 2, 40, 12, key=f"{key}_n_groups"))
        spec = GroupingSpec(method="learned", n_groups=n)
    elif method == "topk":
        most = max(2, min(50, n_categories))
        n = int(c2.slider(f"{nouns.capitalize()} shown", 1, most, min(default_k, most), key=f"{key}_top_k",
                          help="The most engaged; the rest are summed as 'other'."))
        spec = GroupingSpec(method="topk", k=n)
    elif method == "map":
        text = c2.text_area("Names", key=f"{key}_names", placeholder="id = name, one per line",
                            help=f"One {noun} per line: its id, '=' and a name; {nouns} with the same name are "
                                 "summed. Unnamed ones go to 'other'.")
        spec = GroupingSpec(method="map", names=_parse_names(text), unmapped="other")
        if not spec.names:
            st.caption(f"No names yet: every {noun} is in 'other' until you name some (one 'id = name' a line).")
    else:
        spec = GroupingSpec()
    drop_other = c3.toggle("Leave out 'other'", key=f"{key}_drop_other", disabled=method == "none",
                           help="Drop what no group holds; shares are then of the groups shown.")
    picked: tuple[str, ...] = ()
    totals = grp.group_totals(ds, spec)
    if picker:
        options = [g for g in totals["group"].astype(str) if g != OTHER]
        picked = tuple(st.multiselect("Show only these (empty: all; the rest go to 'other')", options,
                                      key=f"{key}_pick_{ds.name}_{method}_{spec.n_groups}_{spec.k}",
                                      placeholder=f"all {len(options):,}"))
    grouped_share = totals.loc[totals["group"] != OTHER, "interest"].sum() / max(totals["interest"].sum(), 1e-12)
    words = quality_words(grp.quality(ds, spec), noun) if method == "learned" else (
        f"'other' holds {percent(1 - grouped_share)} of all interest." if method != "none" else "")
    if words:
        st.caption(words)
    return CategoryChoice(spec=spec, picked=picked, drop_other=drop_other and method != "none")
