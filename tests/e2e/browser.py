"""Helpers of the browser tests: the real ``streamlit run app.py`` server and a headless Chromium page.

``server`` / ``browser_page`` fixtures built on these live in tests/e2e/conftest.py; test modules import
the page helpers from here (``from tests.e2e.browser import ...``: pyproject's ``pythonpath = ["."]``).
Every chart check reads plotly's ``el._fullData`` in the page (the DOM's SVG says nothing about data).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
IDLE_JS = """() => { const app = document.querySelector("[data-testid='stApp']");
  return !!app && app.getAttribute('data-test-script-state') !== 'running'; }"""
# Per chart, per trace: how many values it draws (null/NaN left out). Funnels keep their counts in x,
# heatmaps in z (a cell each), sankeys in link.value; other traces in y, else x, values or z.
CHART_POINTS_JS = """els => els.map(el => (el._fullData || []).map(t => {
  const arr = t.type === 'funnel' ? t.x : t.type === 'heatmap' ? t.z
    : t.type === 'sankey' ? (t.link || {}).value : (t.y ?? t.x ?? t.values ?? t.z);
  if (!arr) return 0;
  const cells = Array.from(arr).flatMap(v => Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v) : [v]);
  return cells.filter(v => v !== null && v !== undefined && !(typeof v === 'number' && Number.isNaN(v))).length;
}))"""
CHART_TITLES_JS = """els => els.map(el => ((el.layout || {}).title || {}).text || '')"""
SERVER_ARGS = ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
               "--global.developmentMode", "false"]


def save_backtest_and_model(db: Path, models: Path, dataset: str, freq: str = "W") -> None:
    """A user-total backtest (the baselines) and a saved engagement model (recency_decay) of a stored dataset,
    as the app would write them: the Forecasts page then has a leaderboard and Scoring a model."""
    import pandas as pd

    from interest_core.config import PanelSpec
    from interest_core.forecasting import backtest, persist, scoring, series
    from interest_core.forecasting.catalog import model_folder
    from interest_core.forecasting.forecasters import BASELINE_NAMES, make_forecaster
    from interest_core.panel import build_panel, events_source
    from interest_core.periods import PERIOD_OFFSETS
    from interest_core.store import Store

    spec = PanelSpec(freq=freq)  # type: ignore[arg-type]
    with Store(db, read_only=True) as store:  # closed before the server opens the file
        source = events_source(store, dataset)
        panel = build_panel(source, spec)
        data_end = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
    result = backtest.run(panel, "user_total", [make_forecaster(n) for n in BASELINE_NAMES], freq, 2, 3,
                          data_end=data_end)
    backtest.write_json(backtest.result_to_json(result, {"dataset": dataset}),
                        backtest.backtest_path(models, dataset, "user_total", freq))
    last = series.last_complete_period(panel["period"].max(), data_end, freq)
    train = series.training_frame(panel[panel["period"] <= last], "engagement", freq,
                                  start=last - PERIOD_OFFSETS[freq] * 11, end=last)
    model = make_forecaster("recency_decay").fit(train, freq)
    persist.save_model(model, model_folder(models, dataset, "engagement", "recency_decay"), dataset_sha256="e2e",
                       panel_spec=spec.to_dict(), metrics={"auc": 0.8},
                       extra={"dataset": dataset, "target": "engagement", "horizon": 2, "last_period": str(last.date()),
                              "profile": scoring.training_profile(panel[panel["period"] <= last], spec)})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def streamlit_server(env: Mapping[str, str], log_dir: Path, start_timeout_s: float = 60) -> Iterator[str]:
    """``streamlit run app.py`` on a free port with ``env`` added; yields its URL. On exit the server
    stops and its log must hold no traceback (a page that failed in the server fails the test)."""
    port = free_port()
    log_path = log_dir / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *SERVER_ARGS],
        # Pages wait for their background model fits (not a progress bar) unless a module's env says otherwise.
        cwd=ROOT, env={**os.environ, "INTEREST_FIT_WAIT_S": "600", **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n" + log_path.read_text()[-3000:])
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
        text = log_path.read_text()
        assert "Traceback" not in text, text[-4000:]


@contextlib.contextmanager
def chromium_page(timeout_ms: int = 90_000) -> Iterator[Any]:
    """A page of a headless Debian chromium (playwright), ``VIEWPORT`` sized; skips without playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium)"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=dict(VIEWPORT))
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


class Screenshots:
    """Full-page screenshots named ``<prefix><name>.png`` under ``SHOTS``; this prefix's old files go first
    (other browser tests share the folder)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob(f"{prefix}*.png"):
            old.unlink()

    @property
    def pattern(self) -> str:
        return f"{SHOTS}/{self.prefix}*.png"

    @classmethod
    def announced(cls, prefix: str, capsys: pytest.CaptureFixture[str]) -> Screenshots:
        """A fresh set whose file pattern is printed past pytest's capture, so a run says where to look."""
        shots = cls(prefix)
        with capsys.disabled():
            print(f"\nscreenshots: {shots.pattern}")
        return shots

    def __call__(self, page: Any, name: str) -> Path:
        """Streamlit scrolls an inner container, so grow the viewport to its height first."""
        path = SHOTS / f"{self.prefix}{name}.png"
        size = page.viewport_size
        height = page.evaluate("() => Math.max(...[...document.querySelectorAll(\"[data-testid='stMain'], "
                               "[data-testid='stMainBlockContainer']\")].map(e => e.scrollHeight), 0)")
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 80)})
        page.wait_for_timeout(600)  # let charts re-layout to the new size
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(size)
        return path


def idle(page: Any, timeout_ms: int = 90_000) -> None:
    """Wait for a rerun to start (it may already be over) and then to finish."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # a fast run can be over before we look
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']", timeout=1500)
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)


def open_page(page: Any, title: str, heading: str | None = None) -> None:
    """Open a page from the sidebar navigation by its title and wait for its run to finish."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).click()
    page.get_by_role("heading", name=heading or title, exact=True).wait_for()
    idle(page)


def check_charts(page: Any, at_least: int) -> list[list[int]]:
    """At least ``at_least`` plotly charts, each with traces that all draw values; no exception on the page;
    no chart title or KPI value cut off (``clipped_text``). Returns the values drawn per chart and trace."""
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
    clipped = clipped_text(page)
    assert not clipped, f"text cut off: {clipped}"
    return points


BAR_WIDTHS_JS = """els => els.map(el => [...el.querySelectorAll('.ic-bar')].map(bar => bar.offsetWidth))"""


def check_bar_lists(page: Any, at_least: int) -> list[list[int]]:
    """At least ``at_least`` HTML bar lists (``interest_core.charts.bar_list``), each with bars laid out wider
    than zero; no exception, no text cut off. Returns each list's bar widths in pixels."""
    page.wait_for_function(f"() => document.querySelectorAll('[data-chart=\"bar-list\"]').length >= {at_least}",
                           timeout=60_000)
    widths = page.eval_on_selector_all('[data-chart="bar-list"]', BAR_WIDTHS_JS)
    assert len(widths) >= at_least, widths
    for bars in widths:
        assert bars and all(w > 0 for w in bars), f"a bar list draws nothing: {widths}"
    assert page.locator("[data-testid='stException']").count() == 0
    clipped = clipped_text(page)
    assert not clipped, f"text cut off: {clipped}"
    return widths


def chart_titles(page: Any) -> list[str]:
    """The charts' titles as text (Streamlit's theme wraps them in <b>)."""
    return [re.sub(r"<[^>]+>", "", t) for t in page.eval_on_selector_all(".js-plotly-plot", CHART_TITLES_JS)]


def check_no_error(page: Any) -> None:
    """No exception box and no st.error alert on the page."""
    assert page.locator("[data-testid='stException']").count() == 0
    errors = page.locator("[data-testid='stAlertContentError']")
    assert errors.count() == 0, errors.all_inner_texts()


def pick_sidebar(page: Any, label: str, option: str) -> None:
    """Choose an option of a sidebar selectbox and wait for the rerun."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']", has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    idle(page)


def radio(page: Any, group: str, option: str) -> None:
    page.locator("[data-testid='stRadio']", has_text=group).get_by_text(option, exact=True).click()
    idle(page)


def select(page: Any, where: Any, label: str | re.Pattern[str], option: str) -> None:
    """Pick an option of a selectbox (a combobox whose options list renders once the keyboard opens it).
    Does not wait: inside a form nothing reruns until it is submitted; else call ``idle``."""
    box = where.locator("[data-testid='stSelectbox']", has_text=label).get_by_role("combobox")
    box.click()
    box.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()


# Text a chart or a KPI cuts off: a title wider than its chart, a metric value shown with an ellipsis.
CLIPPED_TITLES_JS = """els => els.flatMap(el => {
  const box = el.getBoundingClientRect();
  return [...el.querySelectorAll('.gtitle, .xtitle, .ytitle')].filter(t => {
    const r = t.getBoundingClientRect();
    return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
                           || r.bottom > box.bottom + 1);
  }).map(t => `${((el._fullLayout || {}).title || {}).text || '?'}: ${t.textContent}`); })"""
CLIPPED_METRICS_JS = """els => els.filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.textContent)"""


def clipped_text(page: Any) -> list[str]:
    """Chart titles and axis titles that run past their chart, and metric values cut off."""
    charts = page.eval_on_selector_all(".js-plotly-plot", CLIPPED_TITLES_JS)
    metrics = page.eval_on_selector_all("[data-testid='stMetricValue'], [data-testid='stMetricValue'] *",
                                        CLIPPED_METRICS_JS)
    return [*charts, *(f"metric value {m!r}" for m in metrics)]


def score_the_sample(page: Any) -> None:
    """On the Scoring page: score the Taobao-like sample of the selected dataset and wait for its result
    (score histogram and drift charts)."""
    open_page(page, "Scoring")
    radio(page, "File to score", "Taobao-like sample of the selected dataset")
    page.get_by_text("detected format").first.wait_for()
    page.get_by_role("button", name="Score").click()
    idle(page)
    page.get_by_text("Top 5 categories per user").wait_for()
    check_charts(page, 2)  # score histogram, drift
