"""The app's store, the demo dataset, the key of every dataset query, and uploads.

- the store: one DuckDB connection per process and database path (``cache_resource`` on the
  resolved path, so tests with their own ``$INTEREST_DB`` get their own store);
- the demo: ingested once per process and store path (``cache_resource``);
- ``DatasetKey``: what every cached dataset query is keyed on (store path, dataset name, the
  dataset's fingerprint and the frame's date range). The fingerprint is read from the catalog when a
  key is made (one small query per run), so deleting or re-ingesting a dataset under the same name
  changes the key; ``source()`` reads only the events inside the date range, so every query through
  the key is filtered and cached per range;
- uploads: ``cache_data`` on the sha256 of the uploaded bytes (never on a frame's hash).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from interest_core import panel
from interest_core.derived_results import Result
from interest_core.ingest.uploads import Inspection, code_counts, ensure_demo, inspect_file, save_upload, sha256_bytes
from interest_core.periods import Window
from interest_core.store import DatasetInfo, Store, default_db_path


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> Store:
    return Store(Path(path))


@st.cache_resource(show_spinner="Preparing the demo dataset (first start only)...")
def _demo_once(path: str) -> bool:
    """Ingest data/demo/events.parquet as 'demo' when this store lacks it; once per process and store."""
    ensure_demo(_store_at(path))
    return True


def db_path() -> str:
    return str(default_db_path().resolve())


def store() -> Store:
    """The app's store ($INTEREST_DB or data/interest.duckdb), with the demo ingested on first use."""
    path = db_path()
    found = _store_at(path)
    _demo_once(path)
    return found


@dataclass(frozen=True)
class DatasetKey:
    """One stored dataset as the caches see it: a new ingest under the same name is a new key, and so is
    another date range (``window``: None is the whole span)."""

    db: str  # resolved path of the store
    name: str
    fingerprint: str
    window: Window | None = None

    def store(self) -> Store:
        return _store_at(self.db)

    def source(self) -> panel.EventsSource:
        """The dataset's events inside the date range (a filtered subquery: every aggregate reads only those)."""
        whole = panel.events_source(self.store(), self.name)
        if self.window is None or self.window.whole:
            return whole
        return panel.EventsSource(whole.con, f"(SELECT * FROM {whole.relation} WHERE {self.window.where('ts')})")

    def within(self, window: Window | None) -> DatasetKey:
        """The same dataset over another date range (None: the whole span)."""
        return replace(self, window=None if window is None or window.whole else window)

    def whole(self) -> DatasetKey:
        """The same dataset over its whole span."""
        return self.within(None)


def dataset_key(name: str) -> DatasetKey:
    """The key of dataset ``name`` in the app's store now."""
    return DatasetKey(db_path(), name, store().fingerprint(name))


def datasets() -> pd.DataFrame:
    """The catalog (not cached: one small query, and it must show an ingest or delete at once)."""
    return store().list()


# -- uploads (keyed on the sha256 of the bytes) -------------------------------------------------

def upload(data: bytes, filename: str) -> tuple[str, Path]:
    """sha256 of an upload and the content-addressed file holding it (written once)."""
    sha = sha256_bytes(data)
    return sha, save_upload(data, filename)


@st.cache_data(show_spinner="Reading the file...", max_entries=16)
def _inspect(sha: str, path: str) -> Inspection:
    return inspect_file(Path(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _codes(sha: str, path: str, column: str) -> pd.DataFrame:
    return code_counts(Path(path), column)


def inspect_upload(sha: str, path: Path) -> Inspection:
    return _inspect(sha, str(path))


def upload_codes(sha: str, path: Path, column: str) -> pd.DataFrame:
    return _codes(sha, str(path), column)


# -- facts every page and the grouping read (here, not in queries.py, which needs the grouping) ---

@st.cache_data(show_spinner=False, max_entries=64)
def describe(ds: DatasetKey) -> DatasetInfo:
    return ds.store().describe(ds.name)


def over_model_cap(ds: DatasetKey) -> bool:
    """Whether the dataset holds more events than the page models' row cap (``page_frames.max_model_rows``): then
    it may hold more (user, category) pairs than a frame should (never more pairs than events)."""
    from interest_core.forecasting.page_frames import max_model_rows

    return describe(ds).rows > max_model_rows()


def stored(ds: DatasetKey, key: str) -> Result | None:
    """The result ``key`` that ``prepare`` saved of the whole dataset (``derived_results``); None when the key has
    a date range or the dataset is not prepared (callers then compute it). Callers cache what they return."""
    from interest_core.derived_results import load

    return load(ds.store(), ds.name, key) if ds.window is None else None


@st.cache_data(show_spinner=False, max_entries=64)
def kpis(ds: DatasetKey) -> dict[str, Any]:
    from interest_core.derived_results import row_dict

    found = stored(ds, "kpis")
    return row_dict(found) if found is not None else panel.kpis(ds.source())
