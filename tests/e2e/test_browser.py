"""The app as a person uses it: the real server, headless Chromium, an upload, a page switch.

Starts ``streamlit run app.py`` on a free port with its own store ($INTEREST_DB in a temp
folder), uploads the shared Taobao sample on the Data page, ingests it, opens Overview from
the sidebar, changes the period, and checks in the page that every plotly chart has traces
with points (``el._fullData``; the DOM's SVG says nothing about data). Full-page screenshots
go to test-artifacts/screenshots/ (the folder is printed): look at them.
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
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
TAOBAO = SHARED_DATA / "taobao-userbehavior-head" / "taobao_userbehavior_head.csv.gz"
SHOTS = ROOT / "test-artifacts" / "screenshots"
PREFIX = "data-overview-"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
IDLE_JS = """() => { const app = document.querySelector("[data-testid='stApp']");
  return !!app && app.getAttribute('data-test-script-state') !== 'running'; }"""
CHART_POINTS_JS = """els => els.map(el => (el._fullData || []).map(t => {
  const arr = t.type === 'funnel' ? t.x : (t.y ?? t.x ?? t.values);
  return arr ? arr.length : 0; }))"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {**os.environ, "INTEREST_DB": str(tmp / "interest.duckdb")}
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


def _idle(page, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Wait for a rerun to start (it may already be over) and then to finish."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # a fast run can be over before we look
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']", timeout=1500)
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Full-page screenshot. Streamlit scrolls an inner container, so grow the viewport to its height first."""
    path = SHOTS / f"{PREFIX}{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll(\"[data-testid='stMain'], "
                           "[data-testid='stMainBlockContainer']\")].map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 80)})
    page.wait_for_timeout(500)  # let charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def _pick(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Choose an option of a sidebar selectbox and wait for the rerun."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']", has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    _idle(page)


def _check_charts(page, at_least: int) -> list[list[int]]:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {at_least}",
                           timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(el => el._fullData)",
                           timeout=30_000)
    points = page.eval_on_selector_all(".js-plotly-plot", CHART_POINTS_JS)
    assert len(points) >= at_least, points
    for chart in points:
        assert chart, f"a chart has no traces: {points}"
        assert all(n > 0 for n in chart), f"a chart has an empty trace: {points}"
    assert page.locator("[data-testid='stException']").count() == 0
    return points


def test_upload_ingest_and_overview_in_a_real_browser(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium)"
    assert TAOBAO.exists(), f"shared data not found at {TAOBAO}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob(f"{PREFIX}*.png"):  # only this test's files: other browser tests share the folder
        old.unlink()
    with capsys.disabled():
        print(f"\nscreenshots: {SHOTS}/{PREFIX}*.png")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(server)
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            _idle(page)
            page.get_by_text("Behaviour mix").first.wait_for()
            _check_charts(page, 1)
            assert "dataset=demo" in page.url
            _shot(page, "01-data-demo")

            page.get_by_role("tab", name="Upload a file").click()
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(TAOBAO))
            page.get_by_text("detected: taobao").wait_for()
            _idle(page)
            _shot(page, "02-upload-preview")
            page.get_by_role("button", name="Ingest").click()
            page.get_by_text("stored 'taobao_userbehavior_head'").wait_for()
            _idle(page)
            assert "dataset=taobao_userbehavior_head" in page.url
            page.get_by_role("tab", name="Stored datasets").click()
            page.get_by_text("84,287").first.wait_for()
            _shot(page, "03-ingested")

            page.locator("[data-testid='stSidebarNav'] a", has_text="Overview").click()
            page.get_by_role("heading", name="Overview", exact=True).wait_for()
            _idle(page)
            page.get_by_text("84,287").first.wait_for()
            daily = _check_charts(page, 3)
            _shot(page, "04-overview-daily")

            _pick(page, "Period", "hourly")
            page.wait_for_function("() => location.search.includes('freq=h')")
            hourly = _check_charts(page, 3)
            assert hourly[0][0] > 10 * daily[0][0], (daily, hourly)  # hourly view: many more points
            _shot(page, "05-overview-hourly")

            _pick(page, "Period", "weekly")
            _pick(page, "Dataset", "demo")
            page.wait_for_function("() => location.search.includes('dataset=demo')")
            page.get_by_text("Top categories over time: interest per week").wait_for()
            _check_charts(page, 3)
            _shot(page, "06-overview-demo-weekly")
        finally:
            browser.close()
