"""Everything the AppTest page tests share: the temp-store fixture, opening a page, checking its charts.

Every page test runs the real app.py frame on a temporary store ($INTEREST_DB, and with
``models=True`` a temporary models folder, $INTEREST_MODELS_DIR), so tests never touch the app's
own data/interest.duckdb or models/, and clears Streamlit's caches around each module.
A test module takes the fixture with ``db = store_fixture("prefix")``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from interest_core.store import Store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@contextmanager
def temp_store(tmp_path_factory: pytest.TempPathFactory, prefix: str, *, models: bool = False) -> Iterator[Path]:
    """$INTEREST_DB on a fresh temp file (and $INTEREST_MODELS_DIR on ``models_dir(path)`` when ``models``),
    page runs waiting for their background model fits ($INTEREST_FIT_WAIT_S), with Streamlit's caches
    cleared before and after."""
    path = tmp_path_factory.mktemp(prefix) / "interest.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTEREST_DB", str(path))
        # Models behind pages fit in a background worker; a page run waits for them (up to this) instead of
        # showing their progress, so a test sees the page as it is once they are ready.
        mp.setenv("INTEREST_FIT_WAIT_S", "600")
        if models:
            mp.setenv("INTEREST_MODELS_DIR", str(models_dir(path)))
        st.cache_data.clear()
        st.cache_resource.clear()
        yield path
    st.cache_data.clear()
    st.cache_resource.clear()


def models_dir(db: Path) -> Path:
    """The temp models folder beside a ``temp_store(..., models=True)`` store."""
    return db.parent / "models"


def store_fixture(prefix: str, *, models: bool = False, prepared_demo: bool = False) -> Callable[..., Iterator[Path]]:
    """A module-scoped fixture yielding a ``temp_store`` path: ``db = store_fixture("pages")`` in a test module.

    ``prepared_demo``: the store starts as a copy of the session's prepared demo (tests/conftest.py: derived
    tables and page models fitted) instead of empty, for a module whose subject is not the first fits."""

    @pytest.fixture(scope="module")
    def db(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Path]:
        with temp_store(tmp_path_factory, prefix, models=models) as path:
            if prepared_demo:
                from tests.conftest import copy_prepared_demo

                copy_prepared_demo(request.getfixturevalue("prepared_demo"), path)
            yield path

    return db


def app_store() -> Store:
    """The store the app holds (the same connection: DuckDB allows one writer per file)."""
    from ui.store import store

    return store()


def check_clean(at: AppTest, *, errors: bool = True) -> None:
    """No exception on the page (and, by default, no st.error either)."""
    assert not at.exception, [e.value for e in at.exception]
    if errors:
        assert not at.error, [e.value for e in at.error]


def run_app(timeout: float, **query: str) -> AppTest:
    """app.py run once with these query parameters (a shared link)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def open_page(file: str, timeout: float, *, errors: bool = True, **query: str) -> AppTest:
    """app.py, then the page ``file`` (e.g. app_pages/user.py), as a click in the sidebar does."""
    at = run_app(timeout, **query)
    at.switch_page(file).run()
    check_clean(at, errors=errors)
    return at


def n_points(trace: dict[str, Any]) -> int:
    """Points in a plotly trace whose arrays may be plain lists or binary ({'dtype', 'bdata'})."""
    for key in ("y", "x", "z", "values", "value"):
        arr = trace.get(key)
        if isinstance(arr, dict) and "bdata" in arr:
            return int(np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"])).size)
        if isinstance(arr, list):  # the first array present decides: an empty one is no points
            return len(arr)
    link = trace.get("link", {}).get("value")  # sankey
    return len(link) if isinstance(link, list) else 0


def figures(at: AppTest) -> dict[str, dict[str, Any]]:
    """The page's plotly figures (as JSON) by widget key (a chart drawn without a key can't be asked for)."""
    return {el.key: json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.key is not None}


def bar_lists(at: AppTest) -> list[str]:
    """The page's HTML bar lists (``interest_core.charts.bar_list``: the Data page's behaviour mix), as markup."""
    from interest_core.charts.bar_list import CHART_ATTRIBUTE

    return [el.proto.body for el in at.get("html") if CHART_ATTRIBUTE in el.proto.body]


def check_drawn(at: AppTest, file: str) -> None:
    """The page drew a chart: plotly figures, each titled with points, or bar lists, each with bars."""
    drawn, lists = figures(at), bar_lists(at)
    assert drawn or lists, f"{file} drew no chart"
    check_figures(at, set(drawn))
    assert all('class="ic-bar"' in body for body in lists), f"{file}: a bar list without bars"


def check_figures(at: AppTest, keys: set[str], *, every_trace: bool = False,
                  axis_titles: bool = False) -> dict[str, dict[str, Any]]:
    """Each chart in ``keys`` is drawn, titled and has points (in some trace, or in every trace)."""
    figs = figures(at)
    assert keys <= set(figs), sorted(figs)
    for key in keys:
        traces, layout = figs[key]["data"], figs[key]["layout"]
        assert traces, f"chart {key} has no traces"
        if every_trace:
            assert all(n_points(t) > 0 for t in traces), f"chart {key} has an empty trace"
        else:
            assert any(n_points(t) > 0 for t in traces), f"chart {key} draws nothing"
        assert layout["title"]["text"], f"chart {key} has no title"
        if axis_titles and traces[0].get("type") not in ("sankey", "pie"):  # those draw no axes
            assert layout.get("xaxis", {}).get("title", {}).get("text"), f"chart {key} has no x-axis title"
            assert layout.get("yaxis", {}).get("title", {}).get("text"), f"chart {key} has no y-axis title"
    return figs


def wait_for_background_jobs(timeout: float = 180.0) -> None:
    """Wait until the app store's worker jobs (an upload's derived tables, page-model fits) are done:
    a test that writes to the store next must not race the worker for the write lock."""
    import time

    from interest_core.forecasting import jobs, page_models

    root = page_models.jobs_root(page_models.page_models_root(app_store().path))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [jobs.JobStatus.from_dict(json.loads(p.read_text()), str(p)).finished
                  for p in root.glob(f"*/{jobs.STATUS}")]
        if all(states):
            return
        time.sleep(0.5)
    raise AssertionError(f"background jobs still running after {timeout:.0f} s under {root}")
