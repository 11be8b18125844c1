"""Fixtures of the browser tests: one real server per test module, and a headless Chromium page.

A module that needs more than an empty store (a saved model, a backtest) overrides ``server_env``:
it gets the module's temp folder and returns the environment the server starts with. A module that walks
the demo's pages and is not about their first fits returns ``prepared_demo_env`` from its ``server_env``:
the demo ingested and prepared once per session (tests/conftest.py), as ``python -m interest_core prepare`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_prepared_demo
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


@pytest.fixture(scope="module")
def prepared_demo_env(prepared_demo: Path, server_dir: Path) -> dict[str, str]:
    """A ``server_env`` for a module: the server starts on its own copy of ``prepared_demo`` (the store file
    and its page models)."""
    return {"INTEREST_DB": str(copy_prepared_demo(prepared_demo, server_dir / DB_FILE))}


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
