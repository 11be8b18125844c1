"""The Retention, Segments, Churn and Data pages on the demo, the Tmall log and the Taobao sample (AppTest on
a temp store), and the words behind them: segment names, the weak-separation warning, the churn horizon
chosen from the span, the churn quality sentence, plurals and percentages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from interest_core.analytics import churn as ch
from interest_core.analytics import segment_profiles as prof
from interest_core.config import PanelSpec
from interest_core.errors import ModelError
from interest_core.ingest import pipeline
from interest_core.panel import build_panel, events_source, time_window
from interest_core.store import Store
from interest_core.text import counted, percent, plural
from tests.apptest import app_store, check_figures, open_page, store_fixture, wait_for_background_jobs

TIMEOUT = 300

db = store_fixture("analyst", prepared_demo=True)  # the demo prepared: the pages, not the first fits


# -- the words (fast) -----------------------------------------------------------------------------

def test_counted_plural_and_percent() -> None:
    assert [counted(n, "category") for n in (1, 2, 0)] == ["1 category", "2 categories", "0 categories"]
    assert counted(1234, "user") == "1,234 users" and counted(2, "day") == "2 days" and counted(3, "box") == "3 boxes"
    assert counted(2.6, "week") == "3 weeks" and counted(2, "person") == "2 people"
    assert plural("category", 2) == "categories" and plural("box", 1) == "box"
    assert percent(0.4567) == "46%" and percent(0.4567, 1) == "45.7%" and percent(0.001) == "<1%"
    assert percent(0) == "0%" and percent(float("nan")) == "n/a" and percent(0.0004, 1) == "<0.1%"


def features_of(groups: dict[str, dict[str, float]], n: int = 20) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` users per group with these feature means (small jitter), in user_features' columns."""
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for g, (name, means) in enumerate(groups.items()):
        for i in range(n):
            jitter = {k: v * (1 + 0.02 * rng.standard_normal()) for k, v in means.items()}
            rows.append({"user_id": f"{name}{i}", **jitter})
            labels.append(g)
    return pd.DataFrame(rows).set_index("user_id"), np.array(labels)


BASE = {"recency": 0.0, "frequency": 0.5, "intensity": 1.5, "buy_share": 0.03, "action_share": 0.1,
        "diversity": 2.0, "share:4976": 0.1, "share:Phones": 0.1, "share:other": 0.8}


def test_segment_names_from_traits() -> None:
    feats, labels = features_of({
        "heavy": {**BASE, "intensity": 3.0, "buy_share": 0.2, "action_share": 0.3, "frequency": 0.9,
                  "share:4976": 0.6, "share:other": 0.3},
        "occasional": {**BASE, "frequency": 0.05, "buy_share": 0.0, "action_share": 0.0, "intensity": 0.7},
        "broad": {**BASE, "diversity": 9.0, "frequency": 0.3, "share:Phones": 0.3, "share:other": 0.6},
        "lapsing": {**BASE, "recency": 6.0, "frequency": 0.3},
    })
    names = prof.segment_names(feats, labels)
    assert names[0] == "Heavy buyers of category 4976"  # an anonymous id reads as a category
    assert names[1] == "Occasional viewers"
    assert names[2].endswith("with broad tastes")
    assert names[3].startswith("Lapsing")
    assert len(set(names.values())) == 4
    twins, twin_labels = features_of({"a": BASE, "b": {**BASE, "diversity": 2.4}})
    assert len(set(prof.segment_names(twins, twin_labels).values())) == 2  # same base name: told apart
    matrix = prof.trait_matrix(feats, labels, "W")
    assert "events per active week" in matrix.columns and "share: category 4976" in matrix.columns
    assert not [c for c in matrix.columns if "_" in c]  # no snake_case in what the heatmap shows
    assert matrix.loc[0, "share: category 4976"] > 1 and matrix.loc[1, "events per active week"] < 0


def test_segment_comparison_and_warning() -> None:
    feats, labels = features_of({"a": {**BASE, "buy_share": 0.2}, "b": BASE}, n=10)
    descriptions = pd.DataFrame({"segment": [0, 1], "name": ["Buyers", "Shoppers"], "users": [10, 10],
                                 "share_of_users": [0.5, 0.5], "description": ["buys often", "browses"]})
    churn = pd.DataFrame({"user_id": ["a0", "a1", "b0"], "risk": [0.1, 0.3, 0.5]})
    compared = prof.segment_comparison(feats, labels, "D", descriptions, churn)
    assert compared["churn risk"].tolist() == pytest.approx([0.2, 0.5])
    twice = pd.concat([churn, pd.DataFrame({"user_id": ["a0"], "risk": [0.9]})])  # the first score of a user counts
    assert prof.segment_comparison(feats, labels, "D", descriptions, twice)["churn risk"].tolist() == pytest.approx(
        [0.2, 0.5])
    nobody = prof.segment_comparison(feats, labels, "D", descriptions, churn.iloc[:0])  # no user scored
    assert nobody["churn risk"].isna().all()
    assert compared["events per active day"].iloc[0] == pytest.approx(np.expm1(1.5), rel=0.05)
    sheet = prof.side_by_side(compared, "D")
    assert list(sheet.columns) == ["0: Buyers", "1: Shoppers"]
    assert sheet.loc["share of users", "0: Buyers"] == "50.0%" and sheet.loc["churn risk", "1: Shoppers"] == "50.0%"
    assert sheet.loc["in words", "1: Shoppers"] == "browses"
    assert "churn risk" not in prof.segment_comparison(feats, labels, "D", descriptions).columns
    weak = prof.separation_warning({2: 0.15, 3: 0.12}, 2)
    assert weak is not None and "0.15" in weak and "try 4 or 5 segments" in weak
    assert "fewer segments" in (prof.separation_warning({7: 0.2}, 7) or "")
    assert prof.separation_warning({5: 0.36}, 5) is None and prof.separation_warning({}, 3) is None


def test_churn_horizon_from_the_span() -> None:
    assert ch.max_horizon(10) == 1 and ch.max_horizon(17) == 5 and ch.max_horizon(8) == 0
    assert ch.horizon_for_span("D", 11) == 2 and ch.horizon_for_span("W", 17) == 2 and ch.horizon_for_span("D", 60) == 7
    with pytest.raises(ModelError, match="too few") as err:
        ch.horizon_for_span("W", 2)
    assert "shorter period" in (err.value.fix or "")


def test_churn_quality_in_words_and_top_rate() -> None:
    scores = pd.DataFrame({"cutoff": ["t"] * 10, "y": [1, 1, 0, 0, 0, 0, 0, 0, 0, 1],
                           "risk": np.linspace(0.9, 0.0, 10), "recency": [3, 3, 3, 0, 0, 0, 0, 0, 0, 0]})
    assert ch.top_churn_rate(scores, "risk", 0.2) == 1.0  # the two riskiest churned
    # Recency ties at 3 for three users, two of them churners: the tie is broken against recency (0 of 1 first).
    assert ch.top_churn_rate(scores, "recency", 0.2) == 0.5
    text = ch.quality_in_words({"top_share": 0.2, "top_churn_rate": 0.45, "base_rate": 0.12,
                                "recency_top_churn_rate": 0.3}, "week")
    assert "45% went quiet" in text and "3.8 times the average" in text and "would have caught 30%" in text
    assert "about as well" in ch.quality_in_words({"top_share": 0.2, "top_churn_rate": 0.3, "base_rate": 0.1,
                                                   "recency_top_churn_rate": 0.3}, "day")


def test_taobao_daily_churn_backtests_at_the_horizon_from_its_span(taobao_log: Path, tmp_path: Path) -> None:
    """The Churn page's error on the 9-day sample: 7 daily periods ahead leave no labelled cutoff with both
    outcomes. The horizon chosen from the span fits and backtests."""
    from interest_core.forecasting.series import last_complete_period

    with Store(tmp_path / "t.duckdb") as store:
        pipeline.ingest(store, taobao_log, name="taobao")
        source = events_source(store, "taobao")
        panel = build_panel(source, PanelSpec(freq="D"))
        end = pd.Timestamp(store.describe("taobao").end)
        span = time_window(source)
    last = last_complete_period(panel["period"].max(), end, "D")
    with pytest.raises(ModelError):
        ch.evaluate_churn(panel, freq="D", horizon=ch.DEFAULT_HORIZON["D"], last_period=last)
    horizon, n_periods = ch.span_horizon("D", span["start"], last)
    assert 1 <= horizon < ch.DEFAULT_HORIZON["D"] and n_periods <= 12
    ev = ch.evaluate_churn(panel, freq="D", horizon=horizon, last_period=last)
    assert ev.n_test > 0 and 0 < ev.summary()["top_churn_rate"] <= 1


# -- the pages (AppTest) ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_logs(db: Path, tmall_log: Path, taobao_log: Path) -> Iterator[None]:
    """The Tmall log and the Taobao sample ingested into the module's app store (beside the demo)."""
    store = app_store()
    pipeline.ingest(store, tmall_log, name="tmall")
    pipeline.ingest(store, taobao_log, name="taobao")
    yield


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> dict[int, pd.DataFrame]:
    """Every frame a page hands to a CSV download in this test, by call order."""
    from interest_core.export import safe_csv
    from ui import widgets

    seen: dict[int, pd.DataFrame] = {}

    def record(frame: pd.DataFrame) -> Any:
        seen[len(seen)] = frame.copy()
        return safe_csv(frame)

    monkeypatch.setattr(widgets, "safe_csv", record)
    return seen


def page(file: str, **query: str) -> AppTest:
    return open_page(file, TIMEOUT, errors=True, **query)


def plain(markdown: str) -> str:
    """Text as md_escape wrote it, unescaped (backslashes and word joiners out)."""
    return markdown.replace("\\", "").replace("\u2060", "")


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The page's first table that has ``column`` (AppTest does not expose a dataframe's key)."""
    found = [el.value for el in at.dataframe if column in el.value.columns]
    assert found, [list(el.value.columns) for el in at.dataframe]
    return found[0]


def last_export(exported: dict[int, pd.DataFrame], column: str) -> pd.DataFrame:
    """The latest frame handed to a CSV download that has ``column``."""
    found = [f for _, f in sorted(exported.items()) if column in f.columns]
    assert found, [list(f.columns) for f in exported.values()]
    return found[-1]


def texts(at: AppTest, kind: str) -> str:
    return " ".join(str(getattr(el, "value", "")) for el in at.get(kind))


@pytest.mark.slow
def test_retention_page_on_the_demo(db: Path) -> None:
    at = page("app_pages/retention.py", dataset="demo", freq="W")
    figs = check_figures(at, {"ret_grid", "ret_curve", "ret_funnel"}, axis_titles=True)
    assert figs["ret_grid"]["data"][0]["y"][0] == "All cohorts"
    assert "new users are active again" in texts(at, "markdown")
    assert at.multiselect(key="ret_steps").value == ["view", "cart", "buy"]
    at.radio(key="ret_returning").set_value("buy").run()
    at.multiselect(key="ret_steps").set_value(["view", "buy"]).run()
    at.selectbox(key="ret_window").set_value(24).run()
    assert not at.exception and not at.error
    figs = check_figures(at, {"ret_grid", "ret_funnel"})
    assert "buying" in figs["ret_grid"]["layout"]["title"]["text"]
    assert "view → buy within 1 day" in figs["ret_funnel"]["layout"]["title"]["text"]
    funnel = frame_with(at, "% of the first step")
    assert funnel["step"].tolist() == ["view", "buy"] and funnel["% of the first step"].iloc[0] == pytest.approx(100)
    assert not [c for c in funnel.columns if "_" in c]


@pytest.mark.slow
def test_retention_page_on_tmall_flags_the_partial_week(real_logs: None) -> None:
    at = page("app_pages/retention.py", dataset="tmall", freq="W")
    figs = check_figures(at, {"ret_grid", "ret_curve", "ret_funnel"}, axis_titles=True)
    cells = [t for row in figs["ret_grid"]["data"][0]["text"] for t in row if t]
    assert any(t.endswith("*") for t in cells)
    assert "partial week" in figs["ret_grid"]["layout"]["xaxis"]["title"]["text"]
    words = texts(at, "markdown")
    assert "partial" in words and "whole days" in words and "did buy at all" in words
    assert len(at.get("download_button")) == 2


@pytest.mark.slow
def test_segments_page_on_tmall_names_and_warns(real_logs: None) -> None:
    at = page("app_pages/segments.py", dataset="tmall", freq="W")
    check_figures(at, {"seg_projection", "seg_traits", "seg_sizes"}, axis_titles=True)
    warning = texts(at, "warning")
    assert "overlap a lot" in warning and "silhouette" in warning  # k = 2 at 0.15 on Tmall
    sheet = at.table[0].value
    assert len(sheet.columns) >= 2 and {"users", "buy share", "top categories", "in words"} <= set(sheet.index)
    assert not [c for c in sheet.columns if "Segment" in c]  # named, not numbered
    traits = check_figures(at, {"seg_traits"})["seg_traits"]["data"][0]["x"]
    assert any(str(t).startswith("share: ") for t in traits)  # category (or learned group) shares beside habits
    assert not [t for t in traits if "_" in str(t)]
    users = frame_with(at, "events per active week")
    assert "events per active week" in users.columns and not [c for c in users.columns if "log(" in c]
    assert users["events per active week"].min() >= 1  # events, not log(1 + events)


@pytest.mark.slow
def test_segments_page_on_the_demo_compares_five_named_segments(db: Path, exported: dict[int, pd.DataFrame]) -> None:
    at = page("app_pages/segments.py", dataset="demo", freq="W")
    assert not at.warning  # silhouette 0.36: no warning
    sheet = at.table[0].value
    assert len(sheet.columns) == 5 and len(set(sheet.columns)) == 5
    assert (sheet.loc["churn risk"].str.endswith("%")).all()
    csv = last_export(exported, "name")
    headers = [plain(c) for c in sheet.columns]  # the table's markdown-escaped headers, read back
    assert headers == [f"{s}: {n}" for s, n in zip(csv["segment"], csv["name"], strict=True)]


@pytest.mark.slow
def test_churn_page_on_taobao_daily_shows_a_result(real_logs: None, exported: dict[int, pd.DataFrame]) -> None:
    at = page("app_pages/churn.py", dataset="taobao", freq="D")  # errors=True: no st.error
    assert "Horizon chosen from the span" in texts(at, "caption")
    assert at.selectbox(key="churn_horizon").value in (1, 2)  # 11 complete days: up to 2 days ahead, not 7
    check_figures(at, {"churn_hist", "churn_reliability"})
    shown = frame_with(at, "reasons")
    csv = last_export(exported, "user")
    assert len(csv) == len(shown) == 50 and csv["user"].tolist() == shown["user_id"].tolist()
    assert "went quiet" in texts(at, "markdown")


@pytest.mark.slow
def test_churn_page_on_tmall_speaks_plainly(real_logs: None, exported: dict[int, pd.DataFrame]) -> None:
    at = page("app_pages/churn.py", dataset="tmall", freq="W")
    table = frame_with(at, "reasons")
    reasons = " ".join(table["reasons"])
    assert "categorys" not in reasons and "categories in 12 weeks" in reasons
    assert "How good is the list?" in texts(at, "markdown") and "ROC-AUC" in texts(at, "caption")
    at.number_input(key="churn_n").set_value(20).run()
    csv = last_export(exported, "user")
    assert len(frame_with(at, "reasons")) == len(csv) == 20
    assert list(csv.columns) == ["user", "risk (%)", "weeks inactive", "why (what raises the risk most)"]
    assert at.get("download_button")[0].proto.label == "These 20 users (CSV)"


@pytest.mark.slow
def test_data_page_on_tmall(real_logs: None) -> None:
    at = page("app_pages/data.py", dataset="tmall")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Items"] == "n/a" and shown["Users"] == "884"
    listing = at.dataframe[0]
    assert list(listing.proto.column_order) == ["name", "format", "rows", "users", "categories", "start", "end",
                                                "created_at"]
    at = page("app_pages/data.py", dataset="demo")
    assert {m.label: m.value for m in at.metric}["Items"] == "5,710"


@pytest.mark.slow
def test_tmall_upload_takes_a_year(db: Path) -> None:
    import hashlib

    data = b"user_id,brand_id,type,visit_datetime\n" + b"".join(
        f"{u},{b},0,{m}-{d}\n".encode() for u, b, m, d in [(1, 10, 4, 15), (1, 11, 5, 2), (2, 10, 6, 30)])
    sha = hashlib.sha256(data).hexdigest()
    at = page("app_pages/data.py", dataset="demo")
    at.file_uploader(key="upload").set_value(("tmall_small.csv", data, "text/csv")).run()
    assert at.radio(key=f"how_{sha}").value == "detected: tmall2014"
    at.number_input(key=f"year_{sha}").set_value(2015).run()
    at.text_input(key=f"name_{sha}").set_value("tmall_2015").run()
    at.button(key=f"ingest_{sha}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    wait_for_background_jobs()  # the upload's derived tables: later tests write to this store
    info = app_store().describe("tmall_2015")
    assert (info.rows, str(info.start)[:10], str(info.end)[:10]) == (3, "2015-04-15", "2015-06-30")
