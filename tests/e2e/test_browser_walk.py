"""Every page at its defaults on the real logs, as a new user opens them (issue 14, items 4 and 7).

One server whose store holds the ingested Tmall log (weekly) and the Taobao sample (daily) beside the
demo (whose pages, at its defaults, the other browser modules walk: test_browser.py, Data and Overview;
test_browser_analytics.py, the analytics pages; test_browser_forecast.py, Forecasts and Scoring). For each
dataset a fresh session opens the app with only ``?dataset=`` in the link (so period
and date range are the frame's defaults) and opens every page of the sidebar in turn: each run must
end with no exception and no error box, every chart it draws must have data, and the server log must
hold no traceback. Full-page screenshots go to test-artifacts/screenshots/walk-<dataset>-<page>.png (the
folder is printed): look at them. The README's come from the Tmall walk (docs/screenshots/), Overview,
Forecasts and Scoring from views past the defaults (walk-tmall-readme-*.png: 8 weeks compared with the 8
before, the user-total leaderboard of a saved backtest, the Taobao-like sample scored against a saved model).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IngestedStore
from tests.e2e.browser import (
    Screenshots,
    check_charts,
    clipped_text,
    idle,
    open_page,
    radio,
    save_backtest_and_model,
    score_the_sample,
)

pytestmark = pytest.mark.slow

TAOBAO = "taobao_userbehavior_head"
# Dataset, the period the frame must pick for it by default.
DATASETS: tuple[tuple[str, str], ...] = (("tmall", "weekly"), (TAOBAO, "daily"))
CHARTS_DRAWN_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].every(el => el._fullData)"""
# Titles of charts with a trace that draws nothing (no y, x, values or z; null/NaN left out).
EMPTY_CHARTS_JS = """els => els.filter(el => (el._fullData || []).some(t => {
  const arr = t.type === 'sankey' ? (t.link || {}).value : (t.y ?? t.x ?? t.values ?? t.z);
  return !arr || !Array.from(arr).flat().some(v => v !== null && v !== undefined && !Number.isNaN(v)); }))
  .map(el => ((el.layout || {}).title || {}).text || '?')"""


@pytest.fixture(scope="module")
def server_env(server_dir: Path, tmall_store: IngestedStore, taobao_log: Path) -> dict[str, str]:
    """A store with Tmall (the session's ingest, copied) and the Taobao sample ingested as the Data page does."""
    from interest_core.ingest import pipeline
    from interest_core.store import Store

    db = server_dir / "interest.duckdb"
    shutil.copyfile(tmall_store.db, db)
    with Store(db) as store:  # closed before the server opens the file (one writer per DuckDB file)
        pipeline.ingest(store, taobao_log, name=TAOBAO)
    models = server_dir / "models"
    save_backtest_and_model(db, models, "tmall")  # a leaderboard on Forecasts and a model to score with
    return {"INTEREST_DB": str(db), "INTEREST_MODELS_DIR": str(models)}


def _nav(page: Any) -> list[tuple[str, Any]]:
    """The sidebar's page links, by title (the icon's ligature text left out)."""
    links = page.locator("[data-testid='stSidebarNav'] a")
    links.first.wait_for()
    return [(text.split("\n")[-1].strip(), links.nth(i)) for i, text in enumerate(links.all_inner_texts())]


def _file_name(title: str) -> str:
    return title.lower().replace(" ", "-")


def _readme_extras(page: Any, server: str, shot: Screenshots) -> None:
    """Tmall views past the defaults, for the README: a date range compared with the weeks before it, the
    user-total leaderboard and a scored sample."""
    page.goto(f"{server}/overview?dataset=tmall&from=2013-06-17&to=2013-08-05")
    page.get_by_role("heading", name="Overview", exact=True).wait_for()
    idle(page)
    page.get_by_text("change against the previous 8 weeks", exact=False).first.wait_for()
    assert "from=2013-06-17" in page.url and "to=2013-08-05" in page.url, page.url
    check_charts(page, 3)
    shot(page, "tmall-readme-overview-range")
    page.goto(f"{server}/?dataset=tmall")  # the whole span again (a fresh session)
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    idle(page)
    open_page(page, "Forecasts")
    radio(page, "Forecast target", "user totals")
    page.get_by_text("Backtest of ").first.wait_for()
    check_charts(page, 3)
    shot(page, "tmall-readme-forecasts")
    score_the_sample(page)
    shot(page, "tmall-readme-scoring")


def test_every_page_at_its_defaults_on_tmall_and_taobao(server: str, browser_page: Any,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    shot = Screenshots.announced("walk-", capsys)
    page = browser_page
    timings: dict[str, float] = {}
    problems: list[str] = []  # reported for a person to look at
    failures: list[str] = []  # fail the test, after every page was seen
    for dataset, period in DATASETS:
        page.goto(f"{server}/?dataset={dataset}")
        page.get_by_role("heading", name="Data", exact=True).wait_for()
        idle(page)
        for title, link in _nav(page):
            started = time.monotonic()
            link.click()
            page.wait_for_function(f"() => location.pathname.endsWith('/{title.lower()}') || "
                                   f"{str(title == 'Data').lower()}")
            idle(page, timeout_ms=180_000)
            timings[f"{dataset}/{title}"] = time.monotonic() - started
            where = f"{dataset}/{title}"
            failures += [f"{where}: exception" for _ in range(page.locator("[data-testid='stException']").count())]
            failures += [f"{where}: {text}" for text in
                         page.locator("[data-testid='stAlertContentError']").all_inner_texts()]
            page.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
            failures += [f"{where}: chart without data {t!r}"
                         for t in page.eval_on_selector_all(".js-plotly-plot", EMPTY_CHARTS_JS)]
            if title == "Overview":  # the frame's defaults: the period from the span, the whole date range
                sidebar = page.locator("[data-testid='stSidebar']")
                shown = sidebar.get_by_role("combobox", name="Period", exact=True).input_value()
                assert shown == period, (dataset, shown, period)
                assert sidebar.get_by_text("of data.", exact=False).count() == 1
            if clipped := clipped_text(page):
                problems.append(f"{where}: text cut off {clipped}")
            shot(page, f"{dataset.split('_')[0]}-{_file_name(title)}")
        if dataset == "tmall":
            _readme_extras(page, server, shot)
    with capsys.disabled():
        print("\nseconds per page:", {k: round(v, 1) for k, v in timings.items()})
        print("looked-at problems:", problems or "none")
    assert not failures, "\n".join(failures)
