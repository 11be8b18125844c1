"""The Churn, Promotions and Demand pages, run headless with AppTest on the demo in a temp store.

Each test checks the page runs without an exception, draws titled charts with data and axis titles,
shows its table and offers formula-safe CSV downloads. $INTEREST_DB points at a temp store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from interest_core.charts.style import metric_name
from tests.apptest import check_figures, open_page, store_fixture

TIMEOUT = 300
pytestmark = pytest.mark.slow  # the first page run ingests the demo and fits the models


db = store_fixture("ops_pages", prepared_demo=True)  # the demo prepared: the pages, not the first fits


def page(file: str, **query: str) -> AppTest:
    return open_page(file, TIMEOUT, errors=True, **query)


def figures(at: AppTest, keys: set[str]) -> dict[str, dict[str, Any]]:
    return check_figures(at, keys, axis_titles=True)


def test_churn_page(db: Path) -> None:
    at = page("app_pages/churn.py", dataset="demo", freq="W")
    figures(at, {"churn_hist", "churn_reliability"})
    table = at.dataframe[0].value
    assert len(table) > 0 and table["reasons"].str.len().min() > 0
    assert table["open"].iloc[0].startswith("user?user=") and "dataset=demo" in table["open"].iloc[0]
    assert table["risk_pct"].is_monotonic_decreasing
    assert len(at.get("download_button")) == 1
    assert {m.label for m in at.metric} >= {"Active users", "High risk"}
    caption = " ".join(c.value for c in at.caption)
    assert "ROC-AUC" in caption
    high = next(m for m in at.metric if m.label == "High risk").value
    at.slider(key="churn_threshold").set_value(0.1).run()
    assert not at.exception
    assert int(next(m for m in at.metric if m.label == "High risk").value.replace(",", "")) >= int(
        high.replace(",", ""))


def test_promotions_page(db: Path) -> None:
    at = page("app_pages/promotions.py", dataset="demo", freq="W")
    figures(at, {"promo_gains", "promo_lift"})
    listed = at.dataframe[0].value
    assert len(listed) == 100 and listed["p_engage"].is_monotonic_decreasing
    assert len(at.get("download_button")) == 1
    at.toggle(key="promo_exclude").set_value(True).run()
    at.slider(key="promo_churn").set_value(0.2).run()
    assert not at.exception, [e.value for e in at.exception]
    kept = at.dataframe[0].value
    assert (kept["churn_risk"].fillna(0) < 20).all()  # shown in percent
    at.selectbox(key="promo_category").set_value(at.selectbox(key="promo_category").options[3]).run()
    assert not at.exception, [e.value for e in at.exception]
    figures(at, {"promo_gains", "promo_lift"})


def test_demand_page(db: Path) -> None:
    at = page("app_pages/demand.py", dataset="demo", freq="W")
    figs = figures(at, {"demand_chart", "demand_trends"})
    assert any(t.get("fill") == "toself" for t in figs["demand_chart"]["data"]), "an interval band"
    board = at.dataframe[0].value
    assert {"model", metric_name("mae"), metric_name("mase")} <= set(board.columns)  # metrics in words
    caption = " ".join(c.value for c in at.caption)
    assert "Best model by backtest" in caption and str(board["model"].iloc[0]) in caption
    assert len(at.get("download_button")) == 3  # by category, by segment, rising and falling
    at.selectbox(key="demand_recent").set_value(8).run()
    assert not at.exception, [e.value for e in at.exception]
