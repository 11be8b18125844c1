"""The analytics pages (User, Migration, Segments, Churn, Promotions, Demand) in the real server and headless
Chromium, on the demo dataset as ``prepare`` leaves it (its page models fitted; tests/e2e/conftest.py); the
fresh-server test starts on an empty store, to which the app adds the demo.

Each page is opened from the sidebar navigation; its run must end with no exception and no error alert,
with at least the charts the page draws on the demo, each with traces that draw values (``el._fullData``)
and no title or KPI value cut off. On User, Migration, Segments and Promotions a widget changes and the
charts must follow with data. The user picked on User rides in the link (``?user=``) to the other pages,
and a link naming a user opens the User page on that user. The Promotions page's LSTM backtest runs only
when asked: not here. Screenshots go to test-artifacts/screenshots/analytics-*.png (the folder is
printed): look at them.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.browser import (
    Screenshots,
    chart_titles,
    check_charts,
    check_no_error,
    chromium_page,
    idle,
    open_page,
    radio,
    streamlit_server,
)

pytestmark = pytest.mark.slow

# Sidebar title, page heading, charts the page draws on the demo (weekly).
PAGES: dict[str, tuple[str, int]] = {
    "User": ("User", 5),  # interest mix, long vs short, diversity, forecast, recommendations
    "Migration": ("Migration", 3),  # heatmap, sankey, strongest flows (the forecast ones only when asked)
    "Segments": ("Segments", 3),  # projection, traits, sizes over time
    "Retention": ("Retention and funnel", 3),  # cohort grid, average retention, ordered funnel
    "Churn": ("Churn risk", 2),  # risk histogram, calibration
    "Promotions": ("Promotion targeting", 2),  # expected reach, backtest lift
    "Demand": ("Category demand", 2),  # demand with forecast, rising and falling
}
TITLES = ("Data", "Overview", "Forecasts", "Scoring", *PAGES)  # app.py's page titles, in its order


@pytest.fixture(scope="module")
def server_env(prepared_demo_env: dict[str, str]) -> dict[str, str]:
    """The demo prepared before the server starts: these pages are checked as a person sees them once their models
    are fitted (the walk of test_browser_walk.py waits for first fits in the browser, on Tmall and Taobao)."""
    return prepared_demo_env


def _open(page: Any, title: str) -> list[list[int]]:
    """Open a page from the sidebar, wait for its run, check it: no error, its charts all with data."""
    heading, charts = PAGES[title]
    open_page(page, title, heading)
    check_no_error(page)
    return check_charts(page, charts)


def _combobox(page: Any, label: str) -> Any:
    """The main area's selectbox labelled ``label`` (its input: the value shown is its value)."""
    return page.locator("[data-testid='stMain']").get_by_role("combobox", name=label, exact=True)


def _pick(page: Any, label: str, index: int) -> str:
    """Choose the ``index``-th option of the main area's selectbox labelled ``label``; returns its text.
    Waits for the rerun."""
    box = _combobox(page, label)
    box.click()
    box.press("ArrowDown")
    option = page.get_by_role("option").nth(index)
    text = option.inner_text().strip()
    option.click()
    idle(page)
    return text


def _query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _nav_titles(page: Any) -> list[str]:
    """The page titles the sidebar navigation lists (an icon's ligature text left out)."""
    links = page.locator("[data-testid='stSidebarNav'] a")
    links.first.wait_for()
    return [next((t for t in TITLES if text.endswith(t)), text) for text in links.all_inner_texts()]


def test_a_page_opened_by_its_url_lists_the_app_pages() -> None:
    """A fresh server (no session has run app.py yet) and a link straight to a page."""
    with tempfile.TemporaryDirectory() as tmp, streamlit_server({"INTEREST_DB": f"{tmp}/interest.duckdb"},
                                                                Path(tmp)) as url, chromium_page() as page:
        page.goto(f"{url}/migration?dataset=demo&freq=W")
        page.get_by_role("heading", name="Migration", exact=True).wait_for()
        idle(page)
        check_no_error(page)
        assert _nav_titles(page) == list(TITLES)


def test_analytics_pages_in_a_real_browser(server: str, browser_page: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    shot = Screenshots.announced("analytics-", capsys)
    page = browser_page
    page.goto(f"{server}/?dataset=demo&freq=W")
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    idle(page)
    assert _nav_titles(page) == list(TITLES)

    # User: the most active user first; its id goes into the link. Then another user: the charts follow.
    _open(page, "User")
    first = _query(page)["user"]
    assert f"Interest mix of user {first}" in " ".join(chart_titles(page))
    shot(page, "01-user")
    other = _pick(page, "User", 1).split(" ")[0]
    assert other != first
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('user') === {other!r}")
    check_no_error(page)
    check_charts(page, PAGES["User"][1])
    assert f"Interest mix of user {other}" in " ".join(chart_titles(page))
    shot(page, "02-user-another")

    # Migration: the user picked rides along in the link; comparing two windows redraws every chart.
    _open(page, "Migration")
    assert _query(page).get("user") == other, page.url
    shot(page, "03-migration")
    radio(page, "Compare", "a window before with a window after (share of interest)")
    page.get_by_text("The 'after' window starts at").wait_for()
    check_no_error(page)
    check_charts(page, PAGES["Migration"][1])
    assert any(t.startswith("Strongest flows: ") for t in chart_titles(page)), chart_titles(page)
    shot(page, "04-migration-windows")

    # Segments: k chosen by silhouette first; then 3 segments: the projection draws 3 groups.
    _open(page, "Segments")
    assert _query(page).get("user") == other, page.url
    shot(page, "05-segments")
    _pick(page, "Segments", 2)  # auto, 2, 3, ...
    page.get_by_text(re.compile(r"users in 3 segments")).wait_for()
    check_no_error(page)
    points = check_charts(page, PAGES["Segments"][1])
    assert len(points[0]) == 3, points  # projection: one trace per segment
    segment = _combobox(page, "Segment")  # users of a segment: shows a segment of this segmentation
    shown = segment.input_value()
    segment.click()
    segment.press("ArrowDown")
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert len(options) == 3 and shown == options[0], (shown, options)
    shot(page, "06-segments-k3")

    _open(page, "Churn")
    shot(page, "07-churn")

    # Promotions: the category expected to reach the most users first, then the next one.
    _open(page, "Promotions")
    category = _pick(page, "Category", 1)
    page.wait_for_function(f"() => [...document.querySelectorAll('.js-plotly-plot')].some(el => "
                           f"((el.layout || {{}}).title || {{}}).text?.includes('Expected reach ({category})'))")
    check_no_error(page)
    check_charts(page, PAGES["Promotions"][1])
    page.get_by_text(f"Top 100 users for {category}").wait_for()
    shot(page, "08-promotions-another-category")

    _open(page, "Demand")
    assert _query(page).get("user") == other, page.url
    shot(page, "09-demand")

    # A link naming a user (as the Migration, Segments and Churn tables give) opens User on that user.
    page.goto(f"{server}/?dataset=demo&freq=W&user={first}")
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    idle(page)
    _open(page, "User")
    assert _query(page).get("user") == first, page.url
    assert f"Interest mix of user {first}" in " ".join(chart_titles(page))
    assert _combobox(page, "User").input_value().split(" ")[0] == first
