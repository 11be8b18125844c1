"""Hostile files and faults around ingest (issue 13: uploads, decompression, globs, names, CSV, privacy, kills)."""

from __future__ import annotations

import gzip
import io
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from interest_core.cli.main import main as cli_main
from interest_core.config import IngestOptions
from interest_core.errors import DatasetExistsError, DecompressedTooLargeError, NoUsableRowsError, StoreError
from interest_core.ingest import pipeline
from interest_core.ingest.privacy import pseudonymize
from interest_core.ingest.sources import open_source
from interest_core.ingest.uploads import discard_upload, inspect_file, prune_uploads, save_upload
from interest_core.store import Store
from tests.corpus import TB_HEADER

ROOT = Path(__file__).resolve().parents[1]


def _rows(n: int, user: str = "{i}") -> str:
    return "\n".join([TB_HEADER, *(f"{user.format(i=i)},{i},{i % 7},pv,{1511544070 + i}" for i in range(n))]) + "\n"


# -- uploads ----------------------------------------------------------------------------------------
def test_concurrent_uploads_of_the_same_bytes_never_share_a_partial_file(tmp_path: Path) -> None:
    data = _rows(200_000).encode()  # several MB: a shared .part would be caught mid-write
    root = tmp_path / "uploads"
    paths: list[Path] = []
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            paths.append(save_upload(data, "same.csv", root))
        except BaseException as exc:  # the test records any failure of any session
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(paths)) == 1 and paths[0].read_bytes() == data
    assert not [p for p in paths[0].parent.iterdir() if p.name.startswith(".part")]


def test_an_existing_file_is_reused_only_when_its_hash_matches(tmp_path: Path) -> None:
    data = _rows(10).encode()
    path = save_upload(data, "x.csv", tmp_path / "u")
    path.write_bytes(b"X" * len(data))  # same size, other bytes (a torn or tampered file)
    again = save_upload(data, "x.csv", tmp_path / "u")
    assert again == path and again.read_bytes() == data


def test_upload_folder_is_private_and_pruned(tmp_path: Path) -> None:
    root = tmp_path / "u"
    root.mkdir(mode=0o755)
    path = save_upload(_rows(3).encode(), "a.csv", root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    old = save_upload(_rows(4).encode(), "old.csv", root)
    day_ago = time.time() - 2 * 86_400
    os.utime(old, (day_ago, day_ago))
    assert prune_uploads(root) == 1 and not old.exists() and not old.parent.exists() and path.exists()
    discard_upload(path)
    assert not path.exists() and not path.parent.exists()


def test_default_upload_folder_is_beside_the_store_not_in_shared_tmp(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTEREST_UPLOAD_DIR", raising=False)
    monkeypatch.setenv("INTEREST_DB", str(tmp_path / "db" / "s.duckdb"))
    path = save_upload(b"a,b\n1,2\n", "a.csv")
    assert path.parent.parent == tmp_path / "db" / "uploads"


# -- decompression ----------------------------------------------------------------------------------
def _zip_bomb(path: Path, member_mb: int) -> Path:
    """A small zip whose one CSV member inflates to ``member_mb`` MB (rows of one repeated line)."""
    line = b"1,2,3,pv,1511544070\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open("events.csv", "w", force_zip64=True) as member:
        member.write(TB_HEADER.encode() + b"\n")
        block = line * (1024 * 1024 // len(line))
        for _ in range(member_mb):
            member.write(block)
    return path


def _bytes_written_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no write_bytes in /proc/self/io")


def test_preview_of_a_zip_bomb_writes_at_most_a_few_mb(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "bomb.zip", 400)
    assert bomb.stat().st_size < 3 * 2**20
    written_before = _bytes_written_by_this_process()
    temp_before = sum(f.stat().st_size for f in Path(os.environ.get("TMPDIR", "/tmp")).glob("tmp*.csv"))
    insp = inspect_file(bomb)
    written = _bytes_written_by_this_process() - written_before
    assert len(insp.preview) == 20 and insp.preview.columns[0] == "user_id"
    assert written < 8 * 2**20, f"the preview wrote {written:,} bytes"
    assert sum(f.stat().st_size for f in Path(os.environ.get("TMPDIR", "/tmp")).glob("tmp*.csv")) <= temp_before


def test_ingest_caps_the_decompressed_size(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "bomb.zip", 64)
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(DecompressedTooLargeError, match="decompresses to more than 16 MiB"):
        pipeline.ingest(store, bomb, name="bomb", max_decompressed_bytes=16 * 2**20)
    gz = tmp_path / "big.csv.gz"
    gz.write_bytes(gzip.compress(_rows(1_000_000).encode(), compresslevel=1))
    with pytest.raises(DecompressedTooLargeError):
        pipeline.ingest(store, gz, name="big", max_decompressed_bytes=8 * 2**20)
    assert store.names() == []
    assert pipeline.ingest(store, gz, name="big", max_decompressed_bytes=256 * 2**20).created


# -- paths are literal ------------------------------------------------------------------------------
def test_glob_characters_in_a_path_are_read_literally(tmp_path: Path) -> None:
    (tmp_path / "w1.csv").write_text(_rows(500))
    literal = tmp_path / "w[1].csv"
    literal.write_text(_rows(3))
    db = tmp_path / "s.duckdb"
    assert cli_main(["ingest", str(literal), "--name", "w", "--db", str(db), "--json"]) == 0
    store = Store(db)
    assert store.describe("w").rows == 3
    for name, content in (("a*.parquet", None), ("b?.csv.gz", gzip.compress(_rows(4).encode()))):
        path = tmp_path / name
        if content is None:
            pd.DataFrame({"user_id": ["1"], "item_id": ["2"], "category_id": ["3"], "behavior_type": ["pv"],
                          "timestamp": ["1511544070"]}).to_parquet(path)
        else:
            path.write_bytes(content)
        source = open_source(path)
        try:
            assert "*" not in str(source.read_path) and "?" not in str(source.read_path)
        finally:
            source.cleanup()
        assert not source.temp_files or not any(p.exists() for p in source.temp_files)


# -- names and CSV ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tm\n", "tm\r", "a" * 65, "../x", ".hidden", ""])
def test_names_must_match_whole(name: str, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(_rows(3))
    with pytest.raises(StoreError, match="is not allowed"):
        pipeline.ingest(Store(tmp_path / "s.duckdb"), path, name=name)


def test_panel_csv_from_the_cli_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"{TB_HEADER}\n=1+1,1,=HYPERLINK(\"http://x\"),pv,1511544070\n@u,2,+cat,buy,1511544080\n")
    db = tmp_path / "s.duckdb"
    assert cli_main(["ingest", str(path), "--name", "f", "--db", str(db), "--json"]) == 0
    out = tmp_path / "panel.csv"
    assert cli_main(["panel", "f", "--db", str(db), "--out", str(out), "--json"]) == 0
    frame = pd.read_csv(io.StringIO(out.read_text()), dtype=str)
    cells = set(frame["user_id"]) | set(frame["category"])
    assert cells == {"'=1+1", "'@u", "'=HYPERLINK(\"http://x\")", "'+cat"}


# -- privacy ----------------------------------------------------------------------------------------
def _file_bytes(db: Path) -> bytes:
    data = db.read_bytes()
    wal = Path(str(db) + ".wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("users", [3, 200_000])
def test_pseudonymised_ids_never_reach_the_database_file(users: int, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_TEST_KEY", "k" * 40)
    raw = [f"RAWID{i:07d}X" for i in range(users)]
    lines = [TB_HEADER, *(f"{u},{i},{i % 5},pv,{1511544070 + i % 1000}" for i, u in enumerate(raw)),
             f"{raw[0]},1,1,teleport,1511544070", f"{raw[-1]},1,1"]  # a rejected and a malformed row
    path = tmp_path / "ids.csv"
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "p.duckdb"
    store = Store(db)
    result = pipeline.ingest(store, path, name="p", options=IngestOptions(pseudonymize_key_env="IC_TEST_KEY"))
    assert result.report.rows_kept == users
    content = _file_bytes(db)
    assert b"RAWID" not in content
    stored = store.query(f"SELECT user_id FROM {store.table('p')} ORDER BY user_id LIMIT 1")["user_id"].iloc[0]
    assert stored in set(pseudonymize(raw[:3] if users == 3 else raw, b"k" * 40))


def _ingest_temps(db: Path) -> list[Path]:
    area = db.with_name(f".{db.name}.tmp")
    return sorted(area.glob("ingest-*")) if area.exists() else []


def test_pseudonymised_ingest_writes_in_a_child_and_reports_progress(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_TEST_KEY", "k" * 40)
    path = tmp_path / "ids.csv"
    path.write_text(_rows(500, user="U{i}"))
    db = tmp_path / "p.duckdb"
    store = Store(db)
    steps: list[tuple[float, str]] = []
    options = IngestOptions(pseudonymize_key_env="IC_TEST_KEY")
    result = pipeline.ingest(store, path, name="p", options=options, progress=lambda f, m: steps.append((f, m)))
    assert result.created and result.report.rows_kept == 500 and store.describe("p").users == 500
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    messages = [m for _, m in steps]
    assert "writing the dataset" in messages and "summarising" in messages  # the writer's own steps arrive
    assert _ingest_temps(db) == []
    again = pipeline.ingest(store, path, name="p2", options=options)  # same content: answered as stored
    assert not again.created and again.name == "p"


def test_the_writer_process_errors_reach_the_caller_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_TEST_KEY", "k" * 40)
    db = tmp_path / "p.duckdb"
    store = Store(db)
    first = tmp_path / "first.csv"
    first.write_text(_rows(50, user="A{i}"))
    pipeline.ingest(store, first, name="taken")
    options = IngestOptions(pseudonymize_key_env="IC_TEST_KEY")
    # Every row rejected: the writer finds no usable rows.
    junk = tmp_path / "junk.csv"
    junk.write_text("\n".join([TB_HEADER, *(f"J{i},{i},1,teleport,1511544070" for i in range(20))]) + "\n")
    with pytest.raises(NoUsableRowsError, match=r"no usable rows in 'junk\.csv'") as raised:
        pipeline.ingest(store, junk, name="junk", options=options)
    assert raised.value.fix and "nothing was stored" in raised.value.fix
    assert _ingest_temps(db) == [] and store.names() == ["taken"]
    # The name is taken between the caller's early check and the writer's check under the lock.
    monkeypatch.setattr(pipeline, "_stored_as", lambda *args, **kwargs: None)  # the caller's check only
    second = tmp_path / "second.csv"
    second.write_text(_rows(50, user="B{i}"))
    with pytest.raises(DatasetExistsError, match="dataset 'taken' already exists with other content") as taken:
        pipeline.ingest(store, second, name="taken", options=options)
    assert taken.value.fix == "delete it first (delete taken) or choose another name"
    assert _ingest_temps(db) == [] and store.names() == ["taken"] and store.describe("taken").rows == 50


def test_a_reading_thread_of_the_caller_does_not_starve_the_writer_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_TEST_KEY", "k" * 40)
    path = tmp_path / "ids.csv"
    path.write_text(_rows(20_000, user="U{i}"))
    store = Store(tmp_path / "p.duckdb", wait_s=30)
    pipeline.ingest(store, _write(tmp_path / "first.csv", _rows(10)), name="first")
    stop = threading.Event()
    reads: list[int] = []

    def reader() -> None:  # a page rerun every 50 ms: its connection must not keep the writer out
        while not stop.is_set():
            reads.append(len(store.names()))
            time.sleep(0.05)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        result = pipeline.ingest(store, path, name="p", options=IngestOptions(pseudonymize_key_env="IC_TEST_KEY"))
    finally:
        stop.set()
        thread.join(30)
    assert result.created and store.names() == ["first", "p"]
    assert reads and reads[0] == 1


KILLED_CALLER = """
import sys
from interest_core.config import IngestOptions
from interest_core.ingest import pipeline
from interest_core.store import Store

def progress(fraction, message):
    print(message, flush=True)

pipeline.ingest(Store(sys.argv[1]), sys.argv[2], name="orphan",
                options=IngestOptions(pseudonymize_key_env="IC_TEST_KEY"), progress=progress)
"""


def test_a_killed_caller_stops_its_writer_process(tmp_path: Path) -> None:
    db = tmp_path / "o.duckdb"
    pipeline.ingest(Store(db), _write(tmp_path / "early.csv", _rows(100)), name="early")
    big = _write(tmp_path / "big.csv", _rows(600_000, user="U{i}"))
    env = {**os.environ, "IC_TEST_KEY": "k" * 40}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_CALLER, str(db), str(big)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "writing the dataset" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    writers = ["?"]
    while writers and time.monotonic() < deadline:
        time.sleep(0.2)
        found = subprocess.run(["pgrep", "-f", f"interest_core.ingest.isolated .*{tmp_path.name}"],
                               capture_output=True, text=True)
        writers = found.stdout.split()
    assert not writers, "the writer outlived its killed caller"
    reopened = Store(db)
    assert reopened.names() == ["early"] and reopened.describe("early").rows == 100


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_delete_leaves_no_readable_values_in_the_file(tmp_path: Path) -> None:
    db = tmp_path / "d.duckdb"
    store = Store(db)
    keep = tmp_path / "keep.csv"
    keep.write_text(_rows(1000, user="KEEP{i}"))
    gone = tmp_path / "gone.csv"
    gone.write_text(_rows(50_000, user="SECRET{i}"))
    pipeline.ingest(store, gone, name="gone")
    pipeline.ingest(store, keep, name="keep")  # stored after it: the dropped blocks are not at the file's end
    assert b"SECRET" in _file_bytes(db)  # the scan can see stored ids (uncompressed strings)
    store.delete("gone")
    assert b"SECRET" not in _file_bytes(db)
    assert store.names() == ["keep"] and store.describe("keep").rows == 1000


# -- faults -----------------------------------------------------------------------------------------
KILLED_INGEST = """
import sys
from interest_core.store import Store
from interest_core.ingest import pipeline
pipeline.ingest(Store(sys.argv[1]), sys.argv[2], name=sys.argv[3])
"""


def test_sigkill_during_ingest_keeps_every_earlier_dataset(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    store = Store(db)
    for i in range(2):
        path = tmp_path / f"early{i}.csv"
        path.write_text(_rows(100 + i))
        pipeline.ingest(store, path, name=f"early{i}")
    big = tmp_path / "big.csv"
    big.write_text(_rows(250_000))
    rng = random.Random(13)
    for attempt in range(10):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(db), str(big), f"killed{attempt}"],
                                cwd=ROOT)
        time.sleep(rng.uniform(0.2, 1.6))  # the ingest takes about 1.5 s: import, sniff, stage, commit
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reopened = Store(db)
        names = reopened.names()
        assert {"early0", "early1"} <= set(names), names
        assert reopened.describe("early0").rows == 100 and reopened.describe("early1").rows == 101
        for name in names:  # any dataset listed is whole
            info = reopened.describe(name)
            count = reopened.query(f"SELECT count(*) AS n FROM {reopened.table(name)}")["n"].iloc[0]
            assert count == info.rows
            if name.startswith("killed"):
                reopened.delete(name)
