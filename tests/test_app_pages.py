"""The Data and Overview pages, run headless with streamlit.testing.v1.AppTest on a temp store.

Each module gets its own store ($INTEREST_DB in a temp folder): the app ingests the demo on
first use, so the pages are tested on the demo dataset, then on uploads through the uploader.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from interest_core import derived, panel
from interest_core.forecasting import page_models
from interest_core.ingest import pipeline
from tests import apptest
from tests.apptest import app_store, bar_lists, check_figures, figures, n_points, run_app, store_fixture

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


db = store_fixture("app")


def app(**query: str) -> AppTest:
    return run_app(TIMEOUT, **query)


def check_clean(at: AppTest) -> None:
    apptest.check_clean(at, errors=False)  # some tests expect a named st.error


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def check_figures_have_data(at: AppTest, keys: set[str]) -> dict[str, dict[str, Any]]:
    return check_figures(at, keys, every_trace=True)


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, mime))
    return at.run()


def ingest(at: AppTest, data: bytes) -> AppTest:
    sha = hashlib.sha256(data).hexdigest()
    at = at.button(key=f"ingest_{sha}").click().run()
    apptest.wait_for_background_jobs()  # the upload's derived tables: the next write must not race them
    return at


def test_data_page_opens_on_the_demo(db: Path) -> None:
    at = app()
    check_clean(at)
    assert at.query_params["dataset"] == "demo"
    info = app_store().describe("demo")
    shown = metrics(at)
    assert shown["Events"] == f"{info['rows']:,}"
    assert shown["Users"] == f"{info['users']:,}"
    assert shown["Categories"] == f"{info['categories']:,}"
    mix = bar_lists(at)
    assert len(mix) == 1 and mix[0].count('class="ic-bar"') == len(info.behaviors)
    assert f"{info.behaviors['view']:,}" in mix[0] and "Behaviour mix" in mix[0]
    assert at.selectbox(key="w_dataset").value == "demo"


def test_overview_kpis_match_the_store_and_charts_have_data(db: Path) -> None:
    at = app()
    at.switch_page("app_pages/overview.py").run()
    check_clean(at)
    k = panel.kpis(panel.events_source(app_store(), "demo"))
    shown = metrics(at)
    assert shown["Events"] == f"{k['events']:,}"
    assert shown["Users"] == f"{k['users']:,}"
    assert shown["Categories"] == f"{k['categories']:,}"
    assert shown["Buyers"] == f"{k['buyers']:,}"
    figs = check_figures_have_data(at, {"activity", "behaviours", "top"})
    assert at.selectbox(key="w_freq").value == "W"  # 420 days of demo: weekly by default
    weeks = n_points(figs["activity"]["data"][0])

    at.selectbox(key="w_freq").set_value("D").run()
    check_clean(at)
    assert at.query_params["freq"] == "D"
    days = n_points(check_figures_have_data(at, {"activity", "behaviours", "top"})["activity"]["data"][0])
    assert days > 6 * weeks
    at.toggle(key="top_share").set_value(True).run()
    check_clean(at)
    assert figures(at)["top"]["data"][0]["groupnorm"] == "percent"


def test_a_shared_link_opens_the_same_view(db: Path) -> None:
    at = app(dataset="demo", freq="M")
    at.switch_page("app_pages/overview.py").run()
    check_clean(at)
    assert at.selectbox(key="w_freq").value == "M"
    assert at.query_params["freq"] == "M" and at.query_params["dataset"] == "demo"
    bad = app(dataset="no-such-dataset", freq="fortnightly")
    check_clean(bad)
    assert bad.selectbox(key="w_dataset").value == "demo"


def test_upload_taobao_sample_gives_the_source_counts(db: Path, taobao_log: Path) -> None:
    data = taobao_log.read_bytes()
    at = upload(app(), taobao_log.name, data, "application/gzip")
    check_clean(at)
    assert at.radio(key=f"how_{hashlib.sha256(data).hexdigest()}").value == "detected: taobao"
    at = ingest(at, data)
    check_clean(at)
    assert not at.error, [e.value for e in at.error]
    name = "taobao_userbehavior_head"
    assert any(name in s.value for s in at.success)
    assert at.selectbox(key="w_dataset").value == name
    info = app_store().describe(name)  # SOURCE.md: exact counts
    assert (info["rows"], info["users"], info["items"], info["categories"]) == (84_287, 814, 55_233, 2_911)
    assert info["behaviors"] == {"view": 75_693, "cart": 4_494, "fav": 2_351, "buy": 1_749}
    assert info["rejected"] == {}
    shown = metrics(at)
    assert shown["Events"] == "84,287" and shown["Users"] == "814" and shown["Categories"] == "2,911"
    # the upload started the derived tables in the worker pool (what `prepare` builds, page models aside)
    assert any("being built in the background" in s.value for s in at.success)
    deadline = time.monotonic() + 120
    while derived.panel_relation(app_store(), name, "M") is None and time.monotonic() < deadline:
        time.sleep(3.0)  # a read holds the file a moment: poll slowly so the worker's writes get in
    jobs = page_models.jobs_root(page_models.page_models_root(app_store().path))
    statuses = [p.read_text() for p in jobs.glob("*/status.json")]
    assert all(derived.panel_relation(app_store(), name, f) is not None for f in ("D", "W", "M")), statuses

    at.switch_page("app_pages/overview.py").run()
    check_clean(at)
    assert metrics(at)["Events"] == "84,287"
    assert at.selectbox(key="w_freq").value == "D"
    check_figures_have_data(at, {"activity", "behaviours", "top"})


@pytest.mark.parametrize("name, data", [
    ("binary.csv", bytes(range(256)) * 8),
    ("one_column.csv", b"just_one_column\n1\n2\n3\n"),
    ("empty.csv", b""),
    ("broken.csv.gz", b"\x1f\x8b\x08\x00 not really gzip"),
])
def test_a_bad_file_shows_the_named_error_and_keeps_the_store(db: Path, name: str, data: bytes) -> None:
    before = app_store().names()
    at = upload(app(), name, data)
    check_clean(at)
    assert at.error, "a bad file must show st.error"
    assert "What to do" in at.error[0].value
    assert app_store().names() == before


def test_mapping_form_ingests_an_unknown_layout(db: Path) -> None:
    rows = ["who;what;group;act;when"] + [
        f"{100 + i % 7};{5000 + i};{'shoes' if i % 3 else 'bags'};{['click', 'basket', 'purchase', 'click'][i % 4]};"
        f"2024-03-{1 + i % 28:02d} 10:00:00" for i in range(60)
    ] + ["101;5001;shoes;refund;2024-03-02 10:00:00", ";5001;shoes;click;2024-03-02 10:00:00"]
    data = "\n".join(rows).encode()
    at = upload(app(), "odd.csv", data)
    check_clean(at)
    assert at.warning, "an unrecognised layout says so"
    key = f"map_{hashlib.sha256(data).hexdigest()[:12]}"
    at.selectbox(key=f"{key}_user").set_value("who")
    at.selectbox(key=f"{key}_cat").set_value("group")
    at.selectbox(key=f"{key}_ts").set_value("when")
    at.selectbox(key=f"{key}_beh").set_value("act")
    at.selectbox(key=f"{key}_item").set_value("what")
    at.run()
    check_clean(at)
    codes = {sb.label.split("`")[1]: sb.value for sb in at.selectbox if sb.key and sb.key.startswith(f"{key}_code_")}
    assert codes == {"click": "view", "basket": "cart", "purchase": "buy", "refund": "ignore"}
    at.selectbox(key=f"{key}_unit").set_value("text")
    at.text_input(key=f"name_{hashlib.sha256(data).hexdigest()}").input("odd")
    at = ingest(at.run(), data)
    check_clean(at)
    report = app_store().report("odd")
    assert report.rows_kept == 60
    assert report.rejected == {"ignored_behavior": 1, "missing_user": 1}
    assert at.selectbox(key="w_dataset").value == "odd"
    assert len(at.get("download_button")) == 2


def test_delete_needs_a_confirmation(db: Path, tmp_path: Path) -> None:
    store = app_store()
    small = tmp_path / "small.csv"
    small.write_text("user_id,item_id,category_id,behavior_type,timestamp\n1,2,3,pv,1511544070\n1,2,3,buy,1511544080\n")
    pipeline.ingest(store, small, name="to_delete")
    at = app(dataset="to_delete")
    assert at.button(key="del_go").disabled
    at.checkbox(key="del_sure").check().run()
    at.button(key="del_go").click().run()
    check_clean(at)
    assert "to_delete" not in store.names()
    assert "demo" in store.names()
    assert at.selectbox(key="w_dataset").value == "demo"
    assert any("Deleted" in s.value for s in at.success)



def test_a_dataset_ingested_again_under_its_name_gets_a_new_key(db: Path, tmp_path: Path) -> None:
    from ui import queries
    from ui.store import dataset_key

    store = app_store()
    header = "user_id,item_id,category_id,behavior_type,timestamp\n"
    first = tmp_path / "first.csv"
    first.write_text(header + "1,2,3,pv,1511544070\n1,2,3,buy,1511544080\n")
    pipeline.ingest(store, first, name="rekey")
    before = dataset_key("rekey")
    assert dataset_key("rekey") == before  # the same data: the same key, so the caches hit
    assert queries.kpis(before)["events"] == 2
    store.delete("rekey")
    second = tmp_path / "second.csv"
    second.write_text(header + "1,2,3,pv,1511544070\n1,2,3,buy,1511544080\n4,5,6,pv,1511544090\n")
    pipeline.ingest(store, second, name="rekey")
    after = dataset_key("rekey")
    assert (after.db, after.name) == (before.db, before.name) and after != before
    assert queries.kpis(after)["events"] == 3  # the cached query of the old key does not answer
    store.delete("rekey")
