"""Store sharing: the app and the CLI work on one DuckDB file (issue 13, item 1 and 5).

DuckDB lets one process write a file or many read it. These tests hold the store from another
process, as the app does, and run the real CLI beside it; and the other way round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interest_core.errors import DatasetExistsError, DatasetNotFoundError, StoreBusyError
from interest_core.ingest import pipeline
from interest_core.panel import events_source, kpis
from interest_core.store import DatasetInfo, Store
from tests.corpus import TB_HEADER, TB_ROWS

ROOT = Path(__file__).resolve().parents[1]

# Another process that opens the store as the app does and holds it until told to stop.
HOLDER = """
import sys, time
from pathlib import Path
from interest_core.store import Store
store = Store(Path(sys.argv[1]))
mode = sys.argv[2]
if mode == "read":  # a long read: a page's query, held open
    with store.reading() as cur:
        cur.execute("SELECT count(*) FROM datasets").fetchall()
        print("holding", flush=True)
        sys.stdin.readline()
elif mode == "write":  # a long write: an ingest or delete in progress
    with store.writing() as cur:
        print("holding", flush=True)
        sys.stdin.readline()
elif mode == "app":  # the app between reruns: reads now and then, holds nothing while idle
    print("holding", flush=True)
    for _ in range(40):
        store.names()
        time.sleep(0.05)
"""


def _csv(path: Path, extra_user: int = 0) -> Path:
    rows = [*TB_ROWS, f"{900 + extra_user},90,900,buy,1511544170"]
    path.write_text("\n".join([TB_HEADER, *rows]) + "\n")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shared.duckdb"
    with Store(path) as store:
        pipeline.ingest(store, _csv(tmp_path / "first.csv"), name="first")
    return path


def _hold(db: Path, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), mode], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.write("\n")
        proc.stdin.flush()
    assert proc.wait(timeout=30) == 0


def _cli(*args: str, wait_s: float = 5) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTEREST_STORE_WAIT_S": str(wait_s)}
    return subprocess.run([sys.executable, "-m", "interest_core", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=120)


def test_cli_reads_while_another_process_reads(db: Path, tmp_path: Path) -> None:
    holder = _hold(db, "read")
    try:
        listed = _cli("datasets", "--db", str(db), "--json")
        assert listed.returncode == 0, listed.stderr
        assert [d["name"] for d in json.loads(listed.stdout)["datasets"]] == ["first"]
        described = _cli("describe", "first", "--db", str(db), "--json")
        assert described.returncode == 0 and json.loads(described.stdout)["rows"] == len(TB_ROWS) + 1
    finally:
        _release(holder)


def test_cli_write_waits_for_a_reader_and_then_succeeds(db: Path, tmp_path: Path) -> None:
    holder = _hold(db, "read")
    threading.Timer(1.0, _release, (holder,)).start()  # the app's read ends after a second
    started = time.monotonic()
    done = _cli("ingest", str(_csv(tmp_path / "second.csv", 1)), "--name", "second", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 0.9  # it waited, and did not fail
    assert Store(db).names() == ["first", "second"]


def test_cli_ingests_while_the_app_runs_between_its_reads(db: Path, tmp_path: Path) -> None:
    app = _hold(db, "app")
    try:
        done = _cli("ingest", str(_csv(tmp_path / "second.csv", 1)), "--name", "second", "--db", str(db))
        assert done.returncode == 0, done.stderr
    finally:
        assert app.wait(timeout=30) == 0  # the app's own reads went on working
    assert Store(db).names() == ["first", "second"]


def test_a_held_write_makes_the_cli_busy_with_a_plain_message(db: Path, tmp_path: Path) -> None:
    holder = _hold(db, "write")
    try:
        listed = _cli("datasets", "--db", str(db), wait_s=0.5)
        stored = _cli("ingest", str(_csv(tmp_path / "second.csv", 1)), "--name", "second", "--db", str(db),
                      wait_s=0.5)
    finally:
        _release(holder)
    for result in (listed, stored):
        assert result.returncode == 2
        assert "StoreBusyError" in result.stderr and "Traceback" not in result.stderr
        assert str(db) not in result.stderr and "PID" not in result.stderr
    assert Store(db).names() == ["first"]


def test_app_side_reads_and_writes_wait_for_the_cli_and_name_the_busy_error(db: Path, tmp_path: Path) -> None:
    """The app's side: a write by another process makes reads wait, then StoreBusyError (no path, PID, CLI)."""
    store = Store(db, wait_s=0.3)  # the app's store, opened before the CLI writes
    holder = _hold(db, "write")
    try:
        for attempt in (store.names, lambda: pipeline.ingest(store, _csv(tmp_path / "s.csv", 2), name="s")):
            with pytest.raises(StoreBusyError) as info:
                attempt()
            text = str(info.value)
            assert str(db) not in text and "PID" not in text and "python -m" not in text and "--db" not in text
    finally:
        _release(holder)
    store = Store(db, wait_s=5)
    holder2 = _hold(db, "write")
    threading.Timer(0.5, _release, (holder2,)).start()
    started = time.monotonic()
    assert store.names() == ["first"]  # waited for the write to end, then read
    assert time.monotonic() - started >= 0.4


def test_the_app_does_not_hold_the_file_between_reads(db: Path) -> None:
    store = Store(db)
    assert store.describe("first").rows == len(TB_ROWS) + 1
    assert store.cursor().execute("SELECT count(*) FROM datasets").fetchone() == (1,)  # a dropped cursor
    cur = store.cursor()
    assert cur.execute("SELECT name FROM datasets").df()["name"].tolist() == ["first"]
    cur.close()
    time.sleep(1.0)  # past the read connection's short linger
    holder = _hold(db, "write")  # would fail with a lock error if this process still held the file
    _release(holder)


def test_same_name_or_bytes_at_once_give_named_results(tmp_path: Path) -> None:
    """Two sessions ingesting at once: the checks run again under the write lock."""
    store = Store(tmp_path / "race.duckdb")
    outcomes: list[object] = []
    files = [_csv(tmp_path / f"r{i}.csv", i) for i in range(4)]

    def run(path: Path, name: str) -> None:
        try:
            outcomes.append(pipeline.ingest(store, path, name=name))
        except Exception as exc:  # the test records which error each thread got
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(files[0], "same_bytes_a")),
               threading.Thread(target=run, args=(files[0], "same_bytes_b")),
               threading.Thread(target=run, args=(files[1], "same_name")),
               threading.Thread(target=run, args=(files[2], "same_name"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], DatasetExistsError), outcomes
    created = sorted(o.name for o in outcomes if not isinstance(o, Exception) and o.created)  # type: ignore[attr-defined]
    assert len(created) == 2 and "same_name" in created
    assert sorted(store.names()) == sorted(created)


def test_a_dataset_deleted_under_a_session_is_a_plain_named_error(db: Path) -> None:
    viewer = Store(db)
    source = events_source(viewer, "first")  # a page holds this between reruns
    assert kpis(source)["events"] == len(TB_ROWS) + 1
    Store(db).delete("first")  # another session deletes it
    with pytest.raises(DatasetNotFoundError, match=r"deleted .* while it was open; pick another dataset"):
        kpis(source)
    with pytest.raises(DatasetNotFoundError, match="no dataset named 'first'"):
        viewer.describe("first")


def test_describe_and_listing_are_validated_dataclasses(db: Path) -> None:
    store = Store(db)
    info = store.describe("first")
    assert isinstance(info, DatasetInfo) and info.rows == len(TB_ROWS) + 1 and len(info.sha256) == 64
    assert store.datasets() == [info]
    assert store.list()["name"].tolist() == ["first"]
    with pytest.raises(AttributeError):
        info.rows = 0  # type: ignore[misc]


@pytest.fixture
def read_only_store(db: Path) -> Iterator[Store]:
    yield Store(db, read_only=True)


def test_read_only_store_refuses_writes(read_only_store: Store, tmp_path: Path) -> None:
    from interest_core.errors import StoreError

    assert read_only_store.names() == ["first"]
    with pytest.raises(StoreError, match="read-only"):
        read_only_store.delete("first")
