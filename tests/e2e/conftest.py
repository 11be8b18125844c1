"""Fixtures of the browser tests: one real server per test module, and a headless Chromium page.

A module that needs more than an empty store (a saved model, a backtest) overrides ``server_env``:
it gets the module's temp folder and returns the environment the server starts with. A module that walks
the demo's pages and is not about their first fits returns ``prepared_demo_env`` from its ``server_env``:
the demo ingested and prepared once per session, as ``python -m interest_core prepare demo`` does.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import chromium_page, streamlit_server

DB_FILE = "interest.duckdb"


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The module's temp folder: its store, models and the server's log."""
    return tmp_path_factory.mktemp(f"e2e_{request.module.__name__.rsplit('.', 1)[-1]}")


@pytest.fixture(scope="module")
def server_env(server_dir: Path) -> dict[str, str]:
    """Its own store ($INTEREST_DB in a temp folder): the app adds the demo dataset on first use."""
    return {"INTEREST_DB": str(server_dir / DB_FILE)}


@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo with the derived tables and the page models of the period the app opens it with
    (``prepare --freq`` of that period), built once per session; ``prepared_demo_env`` copies it."""
    from interest_core import derived
    from interest_core.forecasting.page_defaults import suggested_freq  # registers the page-model step too
    from interest_core.ingest.uploads import ensure_demo
    from interest_core.panel import events_source
    from interest_core.store import Store

    db = tmp_path_factory.mktemp("e2e_prepared_demo") / DB_FILE
    with Store(db) as store:  # closed before any server opens a copy
        assert ensure_demo(store) is not None, "the demo file is missing (data/demo/events.parquet)"
        # Only the period the pages open with (prepare's default also builds the tables of the other two).
        derived.prepare(store, "demo", freqs=[suggested_freq(events_source(store, "demo"))])
    assert not db.with_name(db.name + ".wal").exists()  # all in the file that is copied
    return db


@pytest.fixture(scope="module")
def prepared_demo_env(prepared_demo: Path, server_dir: Path) -> dict[str, str]:
    """A ``server_env`` for a module: the server starts on its own copy of ``prepared_demo`` (the store file
    and its page models)."""
    from interest_core.forecasting.page_models import page_models_root

    db = server_dir / DB_FILE
    shutil.copyfile(prepared_demo, db)
    shutil.copytree(page_models_root(prepared_demo), page_models_root(db))
    return {"INTEREST_DB": str(db)}


@pytest.fixture(scope="module")
def server(server_dir: Path, server_env: dict[str, str]) -> Iterator[str]:
    """``streamlit run app.py`` on a free port; the URL. At teardown its log must hold no traceback."""
    with streamlit_server(server_env, server_dir) as url:
        yield url


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A 1400x1000 page of headless Debian chromium, 90 s default timeout."""
    with chromium_page() as page:
        yield page
