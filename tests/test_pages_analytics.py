"""The User, Migration and Segments pages, run headless with AppTest on the demo in a temp store.

Each test checks the page runs without an exception, draws titled charts with data, and that
its lists export as formula-safe CSV. The store is a temp file ($INTEREST_DB), so tests never
touch the app's own data/interest.duckdb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import check_figures, open_page, store_fixture

TIMEOUT = 180
pytestmark = pytest.mark.slow  # each page's first run ingests the demo and fits a segmentation


db = store_fixture("pages", prepared_demo=True)  # the demo prepared: the pages, not the first fits


def page(file: str, **query: str) -> AppTest:
    return open_page(file, TIMEOUT, errors=False, **query)


def figures(at: AppTest, keys: set[str]) -> dict[str, dict[str, Any]]:
    return check_figures(at, keys, axis_titles=True)


def downloads(at: AppTest) -> list[Any]:
    return list(at.get("download_button"))


def frame(at: AppTest, key: str) -> pd.DataFrame:
    found = [el for el in at.dataframe if el.key == key] if hasattr(at.dataframe[0], "key") else []
    el = found[0] if found else at.dataframe[0]
    return el.value


def test_user_page_by_link(db: Path) -> None:
    at = page("app_pages/user.py", dataset="demo", user="u000004")
    assert at.selectbox(key="user_pick").value == "u000004"
    assert at.query_params["user"] == "u000004"
    figs = figures(at, {"user_shares", "user_long_short", "user_diversity", "user_recs", "user_forecast"})
    assert any(t.get("fill") == "toself" for t in figs["user_forecast"]["data"]), "80% interval band"
    # u000004 moved from Cameras to Phones (a planted migrant): both are in its stacked chart.
    names = {t["name"] for t in figs["user_shares"]["data"]}
    assert {"Cameras", "Phones"} <= names
    assert any("Churn risk" in m.value for m in at.markdown)
    labels = {m.label for m in at.metric}
    assert {"Events", "Buys"} <= labels
    assert len(downloads(at)) >= 4
    # Search narrows the pick list; picking another user follows into the link.
    at.text_input(key="user_search").set_value("u00001").run()
    assert not at.exception
    options = at.selectbox(key="user_pick").options
    assert options and all("u00001" in o for o in options)
    at.selectbox(key="user_pick").set_value(at.selectbox(key="user_pick").options[0].split(" ")[0]).run()
    assert not at.exception
    assert at.query_params["user"].startswith("u00001")


def test_user_page_item_recommendations(db: Path) -> None:
    at = page("app_pages/user.py", dataset="demo", user="u000010")
    at.radio(key="user_rec_level").set_value("item").run()
    assert not at.exception, [e.value for e in at.exception]
    figs = figures(at, {"user_recs"})
    assert figs["user_recs"]["data"][0]["orientation"] == "h"


def test_user_page_unknown_user_warns(db: Path) -> None:
    at = page("app_pages/user.py", dataset="demo", user="nobody-here")
    assert at.warning and "no events" in at.warning[0].value


def test_migration_page(db: Path) -> None:
    at = page("app_pages/migration.py", dataset="demo")
    figures(at, {"mig_heatmap", "mig_sankey", "mig_flows"})
    assert at.selectbox(key="mig_flow").options, "a flow to pick"
    who = at.dataframe[0].value
    assert len(who) > 0 and {"user_id", "flow", "open"} <= set(who.columns)
    assert who["open"].iloc[0].startswith("user?user=")
    assert len(downloads(at)) == 2
    # Two windows around the planted Cameras -> Phones migration: it is the first flow offered.
    at.radio(key="mig_mode").set_value("windows").run()
    at.slider(key="mig_top_k").set_value(20).run()  # every demo category, no 'other'
    at.select_slider(key="mig_range").set_value(("2024-03-04", "2024-05-06")).run()
    at.select_slider(key="mig_split").set_value("2024-04-15").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="mig_flow").options[0] == "Cameras → Phones"
    figures(at, {"mig_heatmap", "mig_flows"})
    # Per segment, top-category flows, and a noisy export still run.
    at.selectbox(key="mig_segment_demo_W").set_value(at.selectbox(key="mig_segment_demo_W").options[1]).run()
    at.radio(key="mig_mode").set_value("top").run()
    at.number_input(key="mig_eps").set_value(1.0).run()
    assert not at.exception, [e.value for e in at.exception]
    # The forecast check: implied vs actual matrix of the last pair, and the next period's matrix.
    at.toggle(key="mig_fc").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    figs = figures(at, {"mig_fc_check", "mig_fc_next"})
    assert "L1" in figs["mig_fc_check"]["layout"]["title"]["text"]


def test_segments_page(db: Path) -> None:
    at = page("app_pages/segments.py", dataset="demo")
    figures(at, {"seg_projection", "seg_traits", "seg_sizes"})
    table = at.table[0].value  # segments side by side: one column per segment, "in words" a row
    assert len(table.columns) == 5 and table.loc["in words"].str.len().min() > 10
    users = at.dataframe[0].value
    assert len(users) >= 5 and users["open"].iloc[0].startswith("user?user=")
    assert len(downloads(at)) == 3
    at.selectbox(key="seg_k").set_value("3").run()
    assert not at.exception
    assert len(at.table[0].value.columns) == 3
    at.radio(key="seg_method").set_value("dbscan").run()
    assert not at.exception, [e.value for e in at.exception]
