"""The Forecasts and Scoring pages in the real server and headless Chromium.

Before the server starts, the test writes (into a temp store and a temp models folder,
``$INTEREST_DB`` / ``$INTEREST_MODELS_DIR``) a baseline backtest of user totals and a saved
engagement model. In the browser it opens Forecasts, reads the leaderboard and predicted-vs-actual
charts, trains a baseline model from the form (the worker is a spawned process; the progress bar is
polled by a fragment) until the model is listed, then scores the Taobao-like sample on the Scoring
page. Every plotly chart must have traces with points (``el._fullData``). Screenshots go to
test-artifacts/screenshots/forecast-*.png (the folder is printed): look at them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
IDLE_JS = """() => { const app = document.querySelector("[data-testid='stApp']");
  return !!app && app.getAttribute('data-test-script-state') !== 'running'; }"""
CHART_POINTS_JS = """els => els.map(el => (el._fullData || []).map(t => {
  const arr = t.type === 'funnel' ? t.x : (t.y ?? t.x ?? t.values ?? t.z);
  return arr ? arr.length : 0; }))"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(db: Path, models: Path) -> None:
    """A user-total backtest and a saved engagement model of the demo, as the app would write them."""
    import pandas as pd

    from interest_core import backtest, persist, scoring, series
    from interest_core.config import PanelSpec
    from interest_core.forecasters import BASELINE_NAMES, make_forecaster
    from interest_core.intake import ensure_demo
    from interest_core.model_catalog import model_folder
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    spec = PanelSpec(freq="W")
    with Store(db) as store:  # closed before the server opens the file (one writer per DuckDB file)
        ensure_demo(store)
        source = events_source(store, "demo")
        panel = build_panel(source, spec)
        data_end = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
    result = backtest.run(panel, "user_total", [make_forecaster(n) for n in BASELINE_NAMES], "W", 2, 3,
                          data_end=data_end)
    backtest.write_json(backtest.result_to_json(result, {"dataset": "demo"}),
                        backtest.backtest_path(models, "demo", "user_total", "W"))
    last = series.last_complete_period(panel["period"].max(), data_end, "W")
    train = series.training_frame(panel[panel["period"] <= last], "engagement", "W",
                                  start=last - pd.Timedelta(weeks=11), end=last)
    model = make_forecaster("recency_decay").fit(train, "W")
    persist.save_model(model, model_folder(models, "demo", "engagement", "recency_decay"), dataset_sha256="e2e",
                       panel_spec=spec.to_dict(), metrics={"auc": 0.8},
                       extra={"dataset": "demo", "target": "engagement", "horizon": 2, "last_period": str(last.date()),
                              "profile": scoring.training_profile(panel[panel["period"] <= last], spec)})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("e2e_forecast")
    db, models = tmp / "interest.duckdb", tmp / "models"
    _prepare(db, models)
    port = _free_port()
    env = {**os.environ, "INTEREST_DB": str(db), "INTEREST_MODELS_DIR": str(models)}
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--global.developmentMode", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n" + (tmp / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        text = (tmp / "server.log").read_text()
        assert "Traceback" not in text, text[-4000:]


def _idle(page, timeout_ms: int = 90_000) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # a fast run can be over before we look
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']", timeout=1500)
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Full-page screenshot (Streamlit scrolls an inner container: grow the viewport to its height first)."""
    path = SHOTS / f"forecast-{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll(\"[data-testid='stMain'], "
                           "[data-testid='stMainBlockContainer']\")].map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 80)})
    page.wait_for_timeout(600)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def _check_charts(page, at_least: int) -> list[list[int]]:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {at_least}",
                           timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(el => el._fullData)",
                           timeout=30_000)
    points = page.eval_on_selector_all(".js-plotly-plot", CHART_POINTS_JS)
    assert len(points) >= at_least, points
    for chart in points:
        assert chart, f"a chart has no traces: {points}"
        assert all(n > 0 for n in chart), f"a chart has an empty trace: {points}"
    assert page.locator("[data-testid='stException']").count() == 0
    return points


def _radio(page, group: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("[data-testid='stRadio']", has_text=group).get_by_text(option, exact=True).click()
    _idle(page)


def _select(page, where, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick an option of a selectbox (a combobox whose options list renders once the keyboard opens it)."""
    box = where.locator("[data-testid='stSelectbox']", has_text=label).get_by_role("combobox")
    box.click()
    box.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()


def test_forecasts_and_scoring_in_a_real_browser(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nscreenshots: {SHOTS}/forecast-*.png")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(90_000)
            page.goto(f"{server}/?dataset=demo&freq=W")
            _idle(page)
            page.locator("[data-testid='stSidebarNav'] a", has_text="Forecasts").click()
            page.get_by_role("heading", name="Forecasts", exact=True).wait_for()
            _idle(page)
            _radio(page, "Forecast target", "user totals")
            page.get_by_text("Backtest of ").first.wait_for()
            _radio(page, "Series", "a user")
            page.get_by_text("Predicted vs actual:").first.wait_for()
            _check_charts(page, 4)  # leaderboard, tiers, predicted vs actual, residuals
            _shot(page, "01-user-totals")

            # Train a baseline on category demand from the form; the fragment polls the worker's progress.
            form = page.locator("[data-testid='stForm']")
            _select(page, form, "Target", "category demand")
            _select(page, form, "Model", "last_value")
            for label, value in (("Horizon", "2"), ("Backtest folds", "2")):
                box = form.locator("[data-testid='stNumberInput']", has_text=label).locator("input")
                box.fill(value)
            form.get_by_role("button", name="Train / re-train").click()
            page.locator("[data-testid='stProgress']").first.wait_for(timeout=30_000)
            _shot(page, "02-training-progress")
            page.get_by_text("done, saved to").first.wait_for(timeout=180_000)
            _idle(page)
            # The model list (a canvas grid: its cells are in the DOM but hidden) now has the new model.
            page.locator("[data-testid='stDataFrame']", has_text="demo-category_demand-last_value").wait_for()
            _radio(page, "Forecast target", "category demand")
            _radio(page, "Series", "a category")
            page.get_by_text("Predicted vs actual:").first.wait_for()
            _check_charts(page, 3)  # leaderboard, predicted vs actual (+ the saved model's future), residuals
            _shot(page, "03-category-demand-after-training")

            page.locator("[data-testid='stSidebarNav'] a", has_text="Scoring").click()
            page.get_by_role("heading", name="Scoring", exact=True).wait_for()
            _idle(page)
            _radio(page, "File to score", "Taobao-like sample of the selected dataset")
            page.get_by_text("detected format").first.wait_for()
            page.get_by_role("button", name="Score").click()
            _idle(page)
            page.get_by_text("Top 5 categories per user").wait_for()
            _check_charts(page, 2)  # score histogram, drift
            assert page.locator("[data-testid='stMetric']", has_text="New users").count() == 1
            _shot(page, "04-scoring-sample")
        finally:
            browser.close()
