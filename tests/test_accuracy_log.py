"""The accuracy record: this run's entries are fresh, every other stored entry is marked stale."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.accuracy_log import AccuracyRecorder, fresh, main, read


def test_entries_this_run_did_not_record_turn_stale_and_keep_their_time(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "accuracy.json"
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_a.py::test_one (call)")
    first = AccuracyRecorder()
    first.record("a.one", auc=0.81234567, table=pd.Series({"x": 1, "y": 2}))
    first.write(path, {"tests/test_a.py::test_one": "passed"})
    stored = read(path)
    assert stored["a.one"]["stale"] is False and stored["a.one"]["outcome"] == "passed"
    assert stored["a.one"]["figures"] == {"auc": 0.8123, "table.x": 1, "table.y": 2}
    recorded_at = stored["a.one"]["recorded_at"]

    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_b.py::test_two (call)")
    second = AccuracyRecorder()
    second.record("b.two", hit_rate=0.5)
    second.write(path, {"tests/test_b.py::test_two": "failed"})
    stored = read(path)
    assert stored["a.one"]["stale"] is True and stored["a.one"]["recorded_at"] == recorded_at
    assert stored["a.one"]["outcome"] == "passed"  # what it was when last measured, now marked stale
    assert stored["b.two"]["stale"] is False and stored["b.two"]["outcome"] == "failed"
    assert list(fresh(stored)) == ["b.two"] and fresh(stored, passed_only=True) == {}

    AccuracyRecorder().write(path, {"tests/test_c.py::test_skipped": "skipped"})  # a run that recorded nothing
    assert fresh(read(path)) == {} and set(read(path)) == {"a.one", "b.two"}


def test_entries_from_before_the_stale_rule_are_not_fresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "accuracy.json"
    path.write_text(json.dumps({
        "old": {"test": "t", "figures": {"auc": 0.9}, "outcome": "passed", "recorded_at": "2026-01-01T00:00:00Z"},
        "new": {"test": "t", "figures": {"auc": 0.7}, "outcome": "passed", "recorded_at": "2026-02-01T00:00:00Z",
                "stale": False},
    }))
    assert main([str(path)]) == 0
    out = capsys.readouterr()
    assert list(json.loads(out.out)) == ["new"] and "1 fresh entries shown, 1 left out" in out.err
