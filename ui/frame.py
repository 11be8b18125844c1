"""The frame app.py draws around every page, and how a page reads it.

app.py draws, once per run, the dataset and period pickers, the page's title, the "no dataset yet"
notice and the error guard, then runs the page inside ``active(frame)``; the page reads the
selections with ``current()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st

from interest_core.errors import DatasetNotFoundError
from interest_core.ingest.uploads import DEMO_NAME, suggest_freq
from interest_core.periods import FREQS, PERIOD_ADJECTIVE
from ui import state
from ui.queries import window
from ui.store import DatasetKey, dataset_key, store
from ui.widgets import guard

NO_DATASET = "No dataset yet: add one on the Data page."
_local = threading.local()  # the frame of the run in this thread (a server runs sessions in threads)


@dataclass(frozen=True)
class PageSpec:
    """One row of app.py's page table: where the page is listed and what the frame draws for it."""

    section: str
    file: str  # relative to app.py
    title: str  # in the navigation
    icon: str
    heading: str  # the page's st.title
    needs_dataset: bool = True  # False: the page also works with an empty store
    period: bool = True  # draw the period picker


@dataclass(frozen=True)
class Frame:
    """What the frame picked for this run."""

    dataset: str | None
    freq: str
    key: DatasetKey | None

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
        chosen = suggest_freq(span["start"], span["end"])
    return _bound_selectbox("Period", FREQS, "freq", chosen, "w_freq", fmt=lambda f: PERIOD_ADJECTIVE[f],
                            where=where, help="Time bucket of every chart over time (UTC).")


def pickers(spec: PageSpec) -> Frame:
    """The sidebar's dataset (and period) pickers; keeps the link in step with the selections."""
    with guard():
        dataset = dataset_picker(st.sidebar)
        key = dataset_key(dataset) if dataset else None
        freq = freq_picker(key, st.sidebar) if (spec.period and key is not None) else (state.get("freq") or "W")
        state.sync()
        return Frame(dataset, freq, key)
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
