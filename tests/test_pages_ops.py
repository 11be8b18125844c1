"""The Churn, Promotions and Demand pages, run headless with AppTest on the demo in a temp store.

Each test checks the page runs without an exception, draws titled charts with data and axis titles,
shows its table and offers formula-safe CSV downloads. $INTEREST_DB points at a temp store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 300
pytestmark = pytest.mark.slow  # the first page run ingests the demo and fits the models


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("ops_pages") / "interest.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTEREST_DB", str(path))
        st.cache_data.clear()
        st.cache_resource.clear()
        yield path
    st.cache_data.clear()
    st.cache_resource.clear()


def page(file: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(file).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def n_points(trace: dict[str, Any]) -> int:
    for key in ("x", "y"):
        arr = trace.get(key)
        if isinstance(arr, dict) and "bdata" in arr:
            return int(np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"])).size)
        if isinstance(arr, list) and arr:
            return len(arr)
    return 0


def figures(at: AppTest, keys: set[str]) -> dict[str, dict[str, Any]]:
    figs = {el.key: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    assert keys <= set(figs), sorted(figs)
    for key in keys:
        fig = figs[key]
        assert any(n_points(t) > 0 for t in fig["data"]), f"chart {key} draws nothing"
        layout = fig["layout"]
        assert layout["title"]["text"], f"chart {key} has no title"
        assert layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"], f"chart {key} lacks axis titles"
    return figs


def test_churn_page(db: Path) -> None:
    at = page("pages/churn.py", dataset="demo", freq="W")
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
    at = page("pages/promotions.py", dataset="demo", freq="W")
    figures(at, {"promo_gains", "promo_lift"})
    listed = at.dataframe[0].value
    assert len(listed) == 100 and listed["p_engage"].is_monotonic_decreasing
    assert len(at.get("download_button")) == 1
    at.toggle(key="promo_exclude").set_value(True).run()
    at.slider(key="promo_churn").set_value(0.2).run()
    assert not at.exception, [e.value for e in at.exception]
    kept = at.dataframe[0].value
    assert (kept["churn_risk"].fillna(0) < 0.2).all()
    at.selectbox(key="promo_category").set_value(at.selectbox(key="promo_category").options[3]).run()
    assert not at.exception, [e.value for e in at.exception]
    figures(at, {"promo_gains", "promo_lift"})


def test_demand_page(db: Path) -> None:
    at = page("pages/demand.py", dataset="demo", freq="W")
    figs = figures(at, {"demand_chart", "demand_trends"})
    assert any(t.get("fill") == "toself" for t in figs["demand_chart"]["data"]), "an interval band"
    board = at.dataframe[0].value
    assert {"model", "mae", "mase"} <= set(board.columns)
    caption = " ".join(c.value for c in at.caption)
    assert "Best model by backtest" in caption and str(board["model"].iloc[0]) in caption
    assert len(at.get("download_button")) == 2
    at.selectbox(key="demand_recent").set_value(8).run()
    assert not at.exception, [e.value for e in at.exception]
