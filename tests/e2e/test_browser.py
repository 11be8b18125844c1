"""The app as a person uses it: the real server, headless Chromium, an upload, a page switch.

Starts ``streamlit run app.py`` on a free port with its own store ($INTEREST_DB in a temp
folder; tests/e2e/conftest.py), uploads the shared Taobao sample on the Data page, ingests it,
opens Overview from the sidebar, changes the period, and checks in the page that every plotly
chart has traces with points (``el._fullData``; the DOM's SVG says nothing about data). Full-page
screenshots go to test-artifacts/screenshots/ (the folder is printed): look at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import Screenshots, check_bar_lists, check_charts, idle, open_page, pick_sidebar

pytestmark = pytest.mark.slow


def test_upload_ingest_and_overview_in_a_real_browser(server: str, browser_page: Any, taobao_log: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    shot = Screenshots.announced("data-overview-", capsys)
    page = browser_page
    page.goto(server)
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    idle(page)
    page.get_by_text("Behaviour mix").first.wait_for()
    mix = check_bar_lists(page, 1)[0]
    assert len(mix) == 5 and mix[0] == max(mix), mix  # view, favourite, cart, buy, rate; views the most
    assert "dataset=demo" in page.url
    shot(page, "01-data-demo")

    page.get_by_role("tab", name="Upload a file").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(taobao_log))
    page.get_by_text("detected: taobao").wait_for()
    idle(page)
    shot(page, "02-upload-preview")
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text("stored 'taobao_userbehavior_head'").wait_for()
    idle(page)
    assert "dataset=taobao_userbehavior_head" in page.url
    page.get_by_role("tab", name="Stored datasets").click()
    page.get_by_text("84,287").first.wait_for()
    shot(page, "03-ingested")

    open_page(page, "Overview")
    page.get_by_text("84,287").first.wait_for()
    daily = check_charts(page, 3)
    shot(page, "04-overview-daily")

    pick_sidebar(page, "Period", "hourly")
    page.wait_for_function("() => location.search.includes('freq=h')")
    hourly = check_charts(page, 3)
    assert hourly[0][0] > 10 * daily[0][0], (daily, hourly)  # hourly view: many more points
    shot(page, "05-overview-hourly")

    pick_sidebar(page, "Period", "weekly")
    pick_sidebar(page, "Dataset", "demo")
    page.wait_for_function("() => location.search.includes('dataset=demo')")
    page.get_by_text("Top categories over time: interest per week").wait_for()
    check_charts(page, 3)
    shot(page, "06-overview-demo-weekly")
