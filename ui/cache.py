"""Every st.cache_data / st.cache_resource of the app, and nothing else caches.

Keys:

- the store (one DuckDB connection per process and database path): ``cache_resource`` on the
  resolved path, so tests with their own ``$INTEREST_DB`` get their own store;
- the demo dataset: ingested once per process and store path (``cache_resource``);
- data queries: ``cache_data`` on (store path, dataset name, the dataset's fingerprint, the
  query's own arguments). The fingerprint is read from the catalog on every call (one small
  query), so deleting or re-ingesting a dataset under the same name changes the key;
- uploads: ``cache_data`` on the sha256 of the uploaded bytes (never on a frame's hash).

Cached functions return small aggregates (``cache_data`` hands each caller a copy).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from interest_core import panel
from interest_core.charts import category_colors as _palette
from interest_core.intake import Inspection, code_counts, ensure_demo, inspect_file, save_upload, sha256_bytes
from interest_core.store import Store, default_db_path

UPLOAD_ROOT = Path(tempfile.gettempdir()) / "interest-uploads"
TOP_K = 8


# -- store --------------------------------------------------------------------------------------

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


def fingerprint(name: str) -> str:
    return store().fingerprint(name)


def _source(path: str, name: str) -> panel.EventsSource:
    return panel.events_source(_store_at(path), name)


# -- dataset queries (keyed on path, name, fingerprint) -----------------------------------------

@st.cache_data(show_spinner=False, max_entries=64)
def _describe(path: str, name: str, fp: str) -> dict[str, Any]:
    return _store_at(path).describe(name)


@st.cache_data(show_spinner=False, max_entries=64)
def _kpis(path: str, name: str, fp: str) -> dict[str, Any]:
    return panel.kpis(_source(path, name))


@st.cache_data(show_spinner=False, max_entries=128)
def _activity(path: str, name: str, fp: str, freq: str) -> pd.DataFrame:
    return panel.activity_over_time(_source(path, name), freq)


@st.cache_data(show_spinner=False, max_entries=64)
def _funnel(path: str, name: str, fp: str) -> pd.DataFrame:
    return panel.funnel(_source(path, name))


@st.cache_data(show_spinner=False, max_entries=128)
def _top_categories(path: str, name: str, fp: str, freq: str, k: int) -> pd.DataFrame:
    return panel.top_categories_over_time(_source(path, name), freq, k=k)


@st.cache_data(show_spinner=False, max_entries=64)
def _colors(path: str, name: str, fp: str, n: int) -> dict[str, str]:
    ranked = panel.category_totals(_source(path, name))["category"].astype(str).head(n).tolist()
    return _palette(ranked)


@st.cache_data(show_spinner=False, max_entries=32)
def _report(path: str, name: str, fp: str) -> pd.DataFrame:
    return _store_at(path).report(name).to_frame()


@st.cache_data(show_spinner=False, max_entries=16)
def _rejected_rows(path: str, name: str, fp: str) -> pd.DataFrame:
    return _store_at(path).rejected_rows(name)


def describe(name: str) -> dict[str, Any]:
    return _describe(db_path(), name, fingerprint(name))


def kpis(name: str) -> dict[str, Any]:
    return _kpis(db_path(), name, fingerprint(name))


def activity(name: str, freq: str) -> pd.DataFrame:
    return _activity(db_path(), name, fingerprint(name), freq)


def funnel(name: str) -> pd.DataFrame:
    return _funnel(db_path(), name, fingerprint(name))


def top_categories(name: str, freq: str, k: int = TOP_K) -> pd.DataFrame:
    return _top_categories(db_path(), name, fingerprint(name), freq, k)


def colors(name: str, n: int = 64) -> dict[str, str]:
    """One colour per category for every chart of this dataset (its n most engaged categories ranked)."""
    return _colors(db_path(), name, fingerprint(name), n)


def report(name: str) -> pd.DataFrame:
    return _report(db_path(), name, fingerprint(name))


def rejected_rows(name: str) -> pd.DataFrame:
    return _rejected_rows(db_path(), name, fingerprint(name))


def datasets() -> pd.DataFrame:
    """The catalog (not cached: one small query, and it must show an ingest or delete at once)."""
    return store().list()


# -- uploads (keyed on the sha256 of the bytes) -------------------------------------------------

def upload(data: bytes, filename: str) -> tuple[str, Path]:
    """sha256 of an upload and the content-addressed file holding it (written once)."""
    sha = sha256_bytes(data)
    return sha, save_upload(data, filename, UPLOAD_ROOT)


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
