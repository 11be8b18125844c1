"""intake: the demo is stored once, uploads are content-addressed, mapping defaults are guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from interest_core.ingest.uploads import (
    DEMO_NAME,
    dataset_name_for,
    demo_path,
    ensure_demo,
    guess_behavior,
    guess_mapping,
    inspect_file,
    save_upload,
    suggest_freq,
)
from interest_core.store import Store

TB = b"user_id,item_id,category_id,behavior_type,timestamp\n1,10,100,pv,1511544070\n2,11,101,buy,1511544090\n"


def test_ensure_demo_ingests_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,category,behavior,ts,value\nu1,i1,Shoes,view,2024-01-01 10:00:00,\n"
                      "u1,i1,Shoes,buy,2024-01-01 10:05:00,40\n")
    monkeypatch.setenv("INTEREST_DEMO", str(events))
    assert demo_path() == events
    with Store(tmp_path / "s.duckdb") as store:
        first = ensure_demo(store)
        assert first is not None and first.created
        assert store.describe(DEMO_NAME).rows == 2
        assert ensure_demo(store) is None
    with Store(tmp_path / "t.duckdb") as empty:
        assert ensure_demo(empty, path=tmp_path / "missing.parquet") is None
        assert empty.names() == []


def test_save_upload_is_content_addressed(tmp_path: Path) -> None:
    a = save_upload(TB, "../../etc/x y.csv", tmp_path)
    assert a.parent.parent == tmp_path and a.name == "x_y.csv"
    assert save_upload(TB, "../../etc/x y.csv", tmp_path) == a
    assert save_upload(TB + b"3,12,102,cart,1511544099\n", "x y.csv", tmp_path) != a


def test_inspect_detects_a_known_format_and_previews(tmp_path: Path) -> None:
    path = save_upload(TB, "tb.csv", tmp_path)
    insp = inspect_file(path)
    assert insp.detected == "taobao" and insp.preset_mapping is not None
    assert list(insp.preview["behavior_type"]) == ["pv", "buy"]
    other = save_upload(b"a,b,c\n1,2,3\n", "abc.csv", tmp_path)
    unknown = inspect_file(other)
    assert unknown.detected is None and unknown.detect_problem and unknown.detect_fix


def test_guesses() -> None:
    assert guess_mapping(["visitorid", "event", "itemid", "timestamp", "categoryid"]) == {
        "user_id": "visitorid", "item_id": "itemid", "category": "categoryid", "behavior": "event",
        "ts": "timestamp", "value": None}
    assert [guess_behavior(c) for c in ("PV", "addtocart", "purchase", "remove_from_cart", "zzz")] == [
        "view", "cart", "buy", "ignore", "ignore"]
    assert dataset_name_for("taobao_userbehavior_head.csv.gz") == "taobao_userbehavior_head"
    assert dataset_name_for("my file (1).csv") == "my_file_1"
    assert [suggest_freq("2024-01-01", e) for e in ("2024-01-02", "2024-02-01", "2025-01-01", "2030-01-01")] == [
        "h", "D", "W", "M"]
