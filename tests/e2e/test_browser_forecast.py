"""The Forecasts and Scoring pages in the real server and headless Chromium.

Before the server starts, the test writes (into a temp copy of the session's prepared demo and a temp models
folder, ``$INTEREST_DB`` / ``$INTEREST_MODELS_DIR``; see ``server_env``) a baseline backtest of user totals and a
saved engagement model. In the browser it opens Forecasts, reads the leaderboard and predicted-vs-actual
charts, trains a baseline model from the form (the worker is a spawned process; the progress bar is
polled by a fragment) until the model is listed, then scores the Taobao-like sample on the Scoring
page. Every plotly chart must have traces with points (``el._fullData``). Screenshots go to
test-artifacts/screenshots/forecast-*.png (the folder is printed): look at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_prepared_demo
from tests.e2e.browser import (
    Screenshots,
    check_charts,
    idle,
    open_page,
    radio,
    save_backtest_and_model,
    score_the_sample,
    select,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_env(server_dir: Path, prepared_demo: Path) -> dict[str, str]:
    """The server of this module starts on a copy of the session's prepared demo (tests/conftest.py: its page
    models fitted, the Forecasts page's default series among them) and a models folder holding a user-total
    backtest and a saved engagement model of the demo, as the app would write them."""
    db, models = copy_prepared_demo(prepared_demo, server_dir / "interest.duckdb"), server_dir / "models"
    save_backtest_and_model(db, models, "demo")
    return {"INTEREST_DB": str(db), "INTEREST_MODELS_DIR": str(models)}


def test_forecasts_and_scoring_in_a_real_browser(server: str, browser_page: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    shot = Screenshots.announced("forecast-", capsys)
    page = browser_page
    page.goto(f"{server}/?dataset=demo&freq=W")
    idle(page)
    open_page(page, "Forecasts")
    radio(page, "Forecast target", "user totals")
    page.get_by_text("Backtest of ").first.wait_for()
    radio(page, "Series", "a user")
    page.get_by_text("Predicted vs actual:").first.wait_for()
    check_charts(page, 4)  # leaderboard, tiers, predicted vs actual, residuals
    shot(page, "01-user-totals")

    # Train a baseline on category demand from the form; the fragment polls the worker's progress.
    form = page.locator("[data-testid='stForm']")
    select(page, form, "Target", "category demand")
    select(page, form, "Model", "last_value")
    for label, value in (("Horizon", "2"), ("Backtest folds", "2")):
        box = form.locator("[data-testid='stNumberInput']", has_text=label).locator("input")
        box.fill(value)
    form.get_by_role("button", name="Train / re-train").click()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=30_000)
    shot(page, "02-training-progress")
    page.get_by_text("done, saved to").first.wait_for(timeout=180_000)
    idle(page)
    # The model list (a canvas grid: its cells are in the DOM but hidden) now has the new model.
    page.locator("[data-testid='stDataFrame']", has_text="demo-category_demand-last_value").wait_for()
    radio(page, "Forecast target", "category demand")
    radio(page, "Series", "a category")
    page.get_by_text("Predicted vs actual:").first.wait_for()
    check_charts(page, 3)  # leaderboard, predicted vs actual (+ the saved model's future), residuals
    shot(page, "03-category-demand-after-training")

    score_the_sample(page)
    assert page.locator("[data-testid='stMetric']", has_text="New users").count() == 1
    shot(page, "04-scoring-sample")
