"""The frame app.py draws around every page, and how a page reads it.

app.py draws, once per run, the dataset, period and date-range pickers, the page's title, the "no
dataset yet" notice and the error guard, then runs the page inside ``active(frame)``; the page reads
the selections with ``current()``. The date range rides in the frame's ``DatasetKey`` (its
``window``), so every query a page makes through the key reads only the events inside it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from interest_core.errors import DatasetNotFoundError
from interest_core.ingest.uploads import DEMO_NAME, suggest_freq
from interest_core.periods import (
    FREQS,
    PERIOD_ADJECTIVE,
    PERIOD_LABEL,
    Window,
    fit_backtest,
    fit_to_span,
    period_grid,
    period_start,
    span_note,
)
from interest_core.text import counted
from ui import fits, state
from ui.page_table import PageSpec as PageSpec  # re-exported: its home before
from ui.queries import partial_periods, window
from ui.store import DatasetKey, dataset_key, store
from ui.widgets import guard

NO_DATASET = "No dataset yet: add one on the Data page."
_local = threading.local()  # the frame of the run in this thread (a server runs sessions in threads)


@dataclass(frozen=True)
class Frame:
    """What the frame picked for this run."""

    dataset: str | None
    freq: str
    key: DatasetKey | None  # its window is the picked date range (None: the whole span)
    periods: tuple[pd.Timestamp, ...] = ()  # the period starts of the date range
    previous: DatasetKey | None = None  # the same dataset over the as many periods just before; None: none

    @property
    def n_periods(self) -> int:
        """Periods in the date range (at the frame's period)."""
        return len(self.periods)

    def fitted(self, wanted: int, share: float = 0.25, least: int = 1) -> int:
        """A default horizon or window that fits the date range: ``wanted`` periods, at most ``share`` of the
        range (``periods.fit_to_span``); say it with ``fitted_note``."""
        return fit_to_span(self.n_periods, wanted, share, least)

    @property
    def n_complete(self) -> int:
        """Periods of the date range the data covers whole (``queries.partial_periods`` left out)."""
        if self.key is None:
            return self.n_periods
        partial = set(partial_periods(self.key, self.freq))
        return sum(p not in partial for p in self.periods)

    def fitted_backtest(self, horizon: int, folds: int, step: int = 1) -> tuple[int, int]:
        """A default (horizon, folds) that a backtest over the range's complete periods can hold
        (``periods.fit_backtest``): on 8 weeks, (2, 4) rather than an error for (4, 8)."""
        return fit_backtest(self.n_complete, horizon, folds, step=step)

    def fitted_note(self, what: str, chosen: int) -> str:
        """"Horizon: 2 days, chosen from the 9 days of data." (``periods.span_note``), for a caption."""
        return span_note(what, chosen, self.n_periods, self.freq)

    @property
    def ds(self) -> DatasetKey:
        """The picked dataset's key (pages declared as needing a dataset always have one)."""
        if self.key is None:
            raise DatasetNotFoundError("no dataset is stored yet", "upload one on the Data page")
        return self.key


# -- the pickers ----------------------------------------------------------------------------------

def _bound_selectbox(label: str, options: Sequence[str], name: str, current: str, wkey: str,
                     fmt: Callable[[str], str] = str, where: Any = None, help: str | None = None) -> str:
    """A selectbox showing ``current`` whose changes are written to the shared selection ``name``."""
    # Always (re)seed the widget: another page drew a widget of the same key under another id.
    st.session_state[wkey] = current

    def _changed() -> None:
        state.put(name, st.session_state[wkey])

    (where or st).selectbox(label, list(options), key=wkey, format_func=fmt, on_change=_changed, help=help)
    return str(st.session_state[wkey])


def dataset_picker(where: Any = None) -> str | None:
    """Stored datasets; the selection defaults to the demo (or the first one). None when the store is empty."""
    names = store().names()
    if not names:
        state.put("dataset", None)
        (where or st).info("No dataset stored yet: upload one on the Data page.")
        return None
    chosen = state.get("dataset")
    if chosen not in names:
        chosen = DEMO_NAME if DEMO_NAME in names else names[0]
    state.put("dataset", chosen)
    return _bound_selectbox("Dataset", names, "dataset", chosen, "w_dataset", where=where,
                            help="Every page shows this dataset. Add or delete datasets on the Data page.")


def freq_picker(ds: DatasetKey, where: Any = None) -> str:
    """Period of the charts; until a person picks one, the one that suits the dataset's span."""
    chosen = state.get("freq")
    if chosen not in FREQS:
        span = window(ds)  # the main span: a few stray timestamps do not make it monthly
        chosen = suggest_freq(span["main_first"], span["main_last"])
    return _bound_selectbox("Period", FREQS, "freq", chosen, "w_freq", fmt=lambda f: PERIOD_ADJECTIVE[f],
                            where=where, help="Time bucket of every chart over time (UTC).")


def _stamp(period: pd.Timestamp, freq: str) -> str:
    """A period start as the link holds it."""
    return f"{period:%Y-%m-%dT%H:00}" if freq == "h" else f"{period:%Y-%m-%d}"


def _shown(stamp: str, freq: str) -> str:
    t = pd.Timestamp(stamp)
    return {"h": f"{t:%d %b %H:00}", "M": f"{t:%b %Y}"}.get(freq, f"{t:%d %b %Y}")


def _index(stamp: str | None, grid: Sequence[pd.Timestamp], freq: str, default: int) -> int:
    """Where a date from the link falls in the grid (snapped to its period); outside it (another dataset's
    date), the default."""
    if stamp is None:
        return default
    try:
        at = period_start(stamp, freq)
    except ValueError:
        return default
    return grid.index(at) if grid[0] <= at <= grid[-1] else default


def range_picker(ds: DatasetKey, freq: str, where: Any = None) -> Frame:
    """The date range, in whole periods of the main span (a few stray events far from the rest left out of
    the slider); at its ends it is open, so by default every page
    reads the whole span (stray outlying events included). Returns the frame with the range in its key."""
    span = window(ds)
    grid = list(period_grid(period_start(span["main_first"], freq), period_start(span["main_last"], freq), freq))
    if len(grid) < 2:
        return Frame(ds.name, freq, ds, tuple(grid))
    stamps = [_stamp(p, freq) for p in grid]
    lo = _index(state.get("from"), grid, freq, 0)
    hi = _index(state.get("to"), grid, freq, len(grid) - 1)
    if hi < lo:
        lo, hi = 0, len(grid) - 1
    wkey = "w_dates"
    if st.session_state.get(wkey) != (stamps[lo], stamps[hi]):  # a link, another page's or dataset's widget
        st.session_state[wkey] = (stamps[lo], stamps[hi])

    def _changed() -> None:
        first, last = st.session_state[wkey]
        state.put("from", None if first == stamps[0] else first)
        state.put("to", None if last == stamps[-1] else last)

    label = PERIOD_LABEL[freq]
    (where or st).select_slider(
        f"Dates ({label}s)", stamps, value=(stamps[0], stamps[-1]), key=wkey,
        format_func=lambda s: _shown(s, freq), on_change=_changed,
        help=f"Every page reads only the events of these {label}s (whole {label}s, UTC). "
             "Compared with as many periods just before where a page shows totals.")
    first, last = st.session_state[wkey]
    lo, hi = stamps.index(first), stamps.index(last)
    state.put("from", None if lo == 0 else first)
    state.put("to", None if hi == len(grid) - 1 else last)
    if lo == 0 and hi == len(grid) - 1:
        (where or st).caption(f"All {counted(len(grid), label)} of data.")
        return Frame(ds.name, freq, ds, tuple(grid))
    n = hi - lo + 1
    picked = ds.within(Window.of_periods(None if lo == 0 else grid[lo], None if hi == len(grid) - 1 else grid[hi],
                                         freq))
    previous = ds.within(Window.of_periods(grid[lo - n], grid[lo - 1], freq)) if lo >= n else None
    (where or st).caption(f"{counted(n, label)} of {len(grid)}, {_shown(stamps[lo], freq)} to "
                          f"{_shown(stamps[hi], freq)} ({label}s starting)")
    return Frame(ds.name, freq, picked, tuple(grid[lo:hi + 1]), previous)


def pickers(spec: PageSpec, where: Any = None) -> Frame:
    """The dataset (and period and date-range) pickers, in ``where`` (default: the sidebar); keeps the link in
    step with the selections."""
    where = where or st.sidebar
    with guard():
        dataset = dataset_picker(where)
        key = dataset_key(dataset) if dataset else None
        if key is not None and fits.refresh_stale(key):
            where.caption("This dataset's summaries are from an earlier version of the app: recomputing them in "
                          "the background (pages compute what they show meanwhile).")
        if not spec.period or key is None:
            state.sync()
            return Frame(dataset, state.get("freq") or "W", key)
        here = range_picker(key, freq_picker(key, where), where)
        state.sync()
        return here
    return Frame(None, "W", None)


# -- the frame of this run ------------------------------------------------------------------------

@contextmanager
def active(frame: Frame) -> Iterator[None]:
    """Run a page inside this frame: ``current()`` returns it until the page's run ends."""
    _local.frame = frame
    try:
        yield
    finally:
        _local.frame = None


def current() -> Frame:
    """The frame app.py drew for this run (a page runs only through app.py's navigation)."""
    found: Frame | None = getattr(_local, "frame", None)
    if found is None:
        raise RuntimeError("a page of app_pages/ runs inside app.py's frame: start the app with "
                           "`streamlit run app.py`")
    return found
