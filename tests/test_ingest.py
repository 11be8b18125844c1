"""Ingest: the malformed-input corpus, the real sample files, the store's promises, the reader's properties.

Every corpus file gives exactly its named error (whose message carries a fix after '; ') or its
report; a refused file leaves the store exactly as it was.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interest_core import errors
from interest_core.config import IngestOptions
from interest_core.errors import (
    DatasetExistsError,
    DatasetNotFoundError,
    IngestError,
    InterestCoreError,
    NoUsableRowsError,
)
from interest_core.ingest.formats import REJECT_REASONS, REPAIR_REASONS, ColumnMapping
from interest_core.ingest.privacy import pseudonymize
from interest_core.store import Store
from tests.corpus import TB_HEADER, TB_ROWS, CorpusCase, build_corpus, corpus_cases

if TYPE_CHECKING:
    from tests.conftest import IngestedStore

CASES = corpus_cases()


# -- helpers ----------------------------------------------------------------------------------
def snapshot(store: Store) -> dict[str, Any]:
    """Everything the store holds, by content: the catalog rows and each table's rows.

    Each table is summarised by its row count and an order-free sum of row hashes, so two
    snapshots are equal exactly when no dataset, catalog entry or stored row changed.
    """
    tables = store.query(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND database_name = current_database() "
        "ORDER BY table_name"
    )["table_name"].tolist()
    content = {}
    for table in tables:
        row = store.query(f'SELECT count(*) AS n, coalesce(sum(hash(t)), 0) AS h FROM "{table}" t').iloc[0]
        content[table] = (int(row["n"]), int(row["h"]))
    catalog = store.query("SELECT * FROM datasets ORDER BY name").astype(str).to_dict("records")
    return {"tables": content, "catalog": catalog, "datasets": store.list()[["name", "rows"]].to_dict("records")}


def stored_values(store: Store, name: str, column: str) -> list[str | None]:
    """A stored column as DuckDB writes it in text, sorted (NULLs last)."""
    values = store.query(f"SELECT CAST({column} AS VARCHAR) AS v FROM {store.table(name)}")["v"].tolist()
    return sort_values([None if pd.isna(v) else str(v) for v in values])


def sort_values(values: list[str | None]) -> list[str | None]:
    return sorted(values, key=lambda v: (v is None, v or ""))


def assert_named_error(exc: BaseException, case: CorpusCase) -> None:
    assert isinstance(exc, InterestCoreError), f"{case.id}: not a named error: {exc!r}"
    assert type(exc).__name__ == case.error, f"{case.id}: got {type(exc).__name__}: {exc}"
    assert isinstance(exc, getattr(errors, case.error))
    assert case.message is not None and case.message in str(exc), f"{case.id}: message was {exc}"
    # The message says what to fix, after '; '.
    assert exc.fix and len(exc.fix) > 10, f"{case.id}: no fix in {exc}"
    assert str(exc) == f"{exc.problem}; {exc.fix}"


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CorpusCase]:
    return {case.id: case for case in build_corpus(tmp_path_factory.mktemp("corpus"))}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store that already holds one dataset, so 'unchanged' is tested against real content."""
    folder = tmp_path_factory.mktemp("store")
    baseline = folder / "baseline.csv"
    baseline.write_text("\n".join([TB_HEADER, *TB_ROWS, f"9,90,900,buy,{1511544070 + 99}"]) + "\n")
    st_ = Store(folder / "ingest.duckdb")
    st_.ingest(baseline, name="baseline")
    yield st_
    st_.close()


# -- the corpus -------------------------------------------------------------------------------
def test_corpus_covers_the_issue_list() -> None:
    ids = {c.id for c in CASES}
    assert len(CASES) >= 24
    assert sum(c.expects_error for c in CASES) >= 20
    must = {
        "empty", "header_only", "wrong_delimiter_space", "binary_junk", "mixed_time_formats_taobao",
        "nineteen_digit_ids", "bom_header", "quoted_newlines_and_delimiters", "missing_columns_taobao",
        "unknown_behaviour_codes", "dates_far_future_and_past", "huge_field", "latin1_no_option", "semicolon",
        "tab", "pipe", "gzip", "zip_single", "zip_two_files", "taobao_headerless", "epoch_s_and_ms_same_file",
        "iso_text_with_zones", "timezone_mapping", "malformed_rows", "duplicates_drop", "duplicates_keep",
        "missing_user_category_time", "rees46", "generic_constant_behaviour", "parquet_generic_typed",
        "latin1_with_option", "utf16_bom", "utf16_with_option", "every_row_bad",
    }
    assert must <= ids, must - ids
    # Every reason a row can be dropped or repaired is produced by some case.
    rejected = {r for c in CASES for r in c.rejected}
    repaired = {r for c in CASES for r in c.repaired}
    assert rejected == set(REJECT_REASONS), set(REJECT_REASONS) - rejected
    assert repaired == set(REPAIR_REASONS)


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_corpus_case(case_id: str, corpus: dict[str, CorpusCase], store: Store) -> None:
    case = corpus[case_id]
    before = snapshot(store)
    name = f"c_{case_id}"[:64]
    if case.expects_error:
        with pytest.raises(InterestCoreError) as info:
            store.ingest(case.built_path, name=name, **case.ingest_kwargs())
        assert_named_error(info.value, case)
        assert snapshot(store) == before, f"{case.id}: a refused ingest changed the store"
        return

    result = store.ingest(case.built_path, name=name, **case.ingest_kwargs())
    report = result.report
    assert result.created
    assert (report.rows_kept, report.rejected, report.repaired) == (case.rows_kept, case.rejected, case.repaired)
    if case.format:
        assert report.format == case.format
    assert report.rows_read == report.rows_kept + report.rows_rejected
    assert set(report.rejected) <= set(REJECT_REASONS) and set(report.repaired) <= set(REPAIR_REASONS)
    described = store.describe(name)
    assert described.rows == case.rows_kept
    assert described.rejected == case.rejected and described.repaired == case.repaired
    assert store.query(f"SELECT count(*) AS n FROM {store.table(name)}")["n"].iloc[0] == case.rows_kept
    rejects = store.rejected_rows(name)
    assert len(rejects) == sum(n for r, n in case.rejected.items() if r not in ("malformed_row", "duplicate"))
    for column, expected in case.stored.items():
        assert stored_values(store, name, column) == sort_values(list(expected)), column
    # Every stored row is canonical.
    frame = store.query(f"SELECT * FROM {store.table(name)}")
    assert list(frame.columns) == ["user_id", "item_id", "category", "behavior", "ts", "value"]
    assert frame["user_id"].notna().all() and frame["category"].notna().all() and frame["ts"].notna().all()
    assert set(frame["behavior"]) <= {"view", "fav", "cart", "buy", "rate"}
    store.delete(name)
    assert snapshot(store) == before, f"{case.id}: delete did not restore the store"


def test_corpus_files_are_rebuilt_identically(tmp_path: Path) -> None:
    def small_files(folder: Path) -> dict[str, bytes]:
        return {c.id: c.built_path.read_bytes() for c in build_corpus(folder) if c.built_path.stat().st_size < 2**20}

    first = small_files(tmp_path / "a")
    second = small_files(tmp_path / "b")
    assert first == second


# -- store behaviour --------------------------------------------------------------------------
def test_no_usable_rows_leaves_store_and_report_in_message(store: Store, corpus: dict[str, CorpusCase]) -> None:
    before = snapshot(store)
    with pytest.raises(NoUsableRowsError) as info:
        store.ingest(corpus["every_row_bad"].built_path, name="all_bad")
    for reason in ("unknown_behavior", "unparseable_time", "missing_user", "missing_time"):
        assert reason in str(info.value)
    assert "all_bad" not in store.names()
    assert snapshot(store) == before


def test_ingest_restores_insertion_order_setting(store: Store, corpus: dict[str, CorpusCase],
                                                 tmp_path: Path) -> None:
    """Ingest relaxes row order (a database-wide setting) only while it runs, whether it fails or not."""
    def setting() -> bool:
        with store.reading() as cur:
            row = cur.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        return bool(row and row[0])

    assert setting() is True
    with pytest.raises(NoUsableRowsError):
        store.ingest(corpus["every_row_bad"].built_path, name="all_bad")
    assert setting() is True
    seen: list[bool] = []
    (tmp_path / "ok.csv").write_text("user_id,item_id,category_id,behavior_type,timestamp\n1,2,3,pv,1511539200\n")
    store.ingest(tmp_path / "ok.csv", name="order_ok", progress=lambda _f, _m: seen.append(setting()))
    assert False in seen  # relaxed while the rows were written
    assert setting() is True
    store.delete("order_ok")


def test_existing_name_with_other_content_is_refused(store: Store, corpus: dict[str, CorpusCase]) -> None:
    before = snapshot(store)
    with pytest.raises(DatasetExistsError, match="delete it first"):
        store.ingest(corpus["semicolon"].built_path, name="baseline")
    assert snapshot(store) == before


def test_bad_dataset_name_is_refused(store: Store, corpus: dict[str, CorpusCase]) -> None:
    with pytest.raises(errors.StoreError, match="; use 1-64 letters"):
        store.ingest(corpus["taobao_comma"].built_path, name="../evil name")


def test_same_content_other_file_name_is_a_noop(store: Store, tmp_path: Path, corpus: dict[str, CorpusCase]) -> None:
    first = store.ingest(corpus["taobao_comma"].built_path, name="tb_once")
    before = snapshot(store)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(corpus["taobao_comma"].built_path.read_bytes())
    again = store.ingest(copy, name="tb_twice")
    assert first.created and not again.created
    assert again.name == "tb_once" and "already stored" in again.message
    assert again.report == first.report
    assert snapshot(store) == before
    store.delete("tb_once")


def test_delete_unknown_dataset_is_named(store: Store) -> None:
    with pytest.raises(DatasetNotFoundError, match="; ingest it first"):
        store.delete("never_stored")


# -- real sample files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    st_ = Store(tmp_path_factory.mktemp("real") / "real.duckdb")
    yield st_
    st_.close()


def test_tmall_real_counts(tmall_store: IngestedStore) -> None:
    result = tmall_store.result  # the session's one ingest of the Tmall log (tests/conftest.py)
    assert result.created
    report = result.report
    assert report.format == "tmall2014"
    assert report.duplicates_policy == "keep"
    assert (report.rows_read, report.rows_kept, report.rejected, report.repaired) == (182_880, 182_880, {}, {})
    with tmall_store.open() as store:
        d = store.describe("tmall")
        months = store.query(f"SELECT month(ts) AS m, count(*) AS n FROM {store.table('tmall')} GROUP BY 1 ORDER BY 1")
    assert (d.rows, d.users, d.categories) == (182_880, 884, 9_531)
    assert d.behaviors == {"view": 174_539, "buy": 6_984, "fav": 1_204, "cart": 153}
    assert (d.start, d.end) == ("2013-04-15 00:00:00", "2013-08-15 00:00:00")
    assert months["n"].tolist() == [19_580, 40_325, 44_192, 53_625, 25_158]


def test_tmall_real_duplicates_drop_counts_them(real_store: Store, tmall_log: Path) -> None:
    result = real_store.ingest(tmall_log, name="tmall_dedup", options=IngestOptions(duplicates="drop"))
    assert result.created  # other options, other dataset
    assert result.report.rejected == {"duplicate": 97_850}
    assert result.report.rows_kept == 182_880 - 97_850
    real_store.delete("tmall_dedup")


def test_taobao_real_counts(real_store: Store, taobao_log: Path) -> None:
    result = real_store.ingest(taobao_log, name="taobao")
    report = result.report
    assert result.created and report.format == "taobao"
    assert (report.rows_kept, report.rejected, report.repaired) == (84_287, {}, {})
    d = real_store.describe("taobao")
    assert (d.rows, d.users, d.categories, d.items) == (84_287, 814, 2_911, 55_233)
    assert d.behaviors == {"view": 75_693, "cart": 4_494, "fav": 2_351, "buy": 1_749}
    assert (d.start, d.end) == ("2017-09-11 08:16:39", "2017-12-03 15:59:23")
    assert d.format == "taobao" and d.source == taobao_log.name and len(d.sha256) == 64
    first = real_store.query(f"SELECT * FROM {real_store.table('taobao')} WHERE user_id = '1' AND item_id = '2268318'")
    assert first["category"].tolist() == ["2520377"] and first["behavior"].tolist() == ["view"]
    assert str(first["ts"].iloc[0]) == "2017-11-24 17:21:10"


def test_real_second_ingest_is_a_noop_then_delete(real_store: Store, taobao_log: Path) -> None:
    if "taobao" not in real_store.names():
        real_store.ingest(taobao_log, name="taobao")
    before = snapshot(real_store)
    again = real_store.ingest(taobao_log, name="taobao_again")
    assert not again.created and again.name == "taobao"
    assert snapshot(real_store) == before
    table = real_store.table("taobao").strip('"')
    real_store.delete("taobao")
    assert "taobao" not in real_store.names()
    left = real_store.query("SELECT table_name FROM duckdb_tables()")["table_name"].tolist()
    assert table not in left and table.replace("ev_", "rj_", 1) not in left
    with pytest.raises(DatasetNotFoundError):
        real_store.describe("taobao")
    assert real_store.ingest(taobao_log, name="taobao").created


def test_real_taobao_headerless_and_recompressed(real_store: Store, taobao_log: Path, tmp_path: Path) -> None:
    """The file as Alibaba released it (no header), zipped: same rows, format still detected."""
    with gzip.open(taobao_log, "rb") as fh:
        fh.readline()
        body = fh.read()
    path = tmp_path / "UserBehavior.zip"
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("UserBehavior.csv", body)
    result = real_store.ingest(path, name="taobao_raw")
    assert result.report.format == "taobao" and result.report.rows_kept == 84_287
    real_store.delete("taobao_raw")


# -- ids and pseudonymisation ------------------------------------------------------------------
RAW_IDS = ["1234567890123456789", "9999999999999999999", "5550001112223334445"]


def _pseudo_file(tmp_path: Path) -> Path:
    rows = [
        f"{RAW_IDS[0]},10,100,pv,1511544070",
        f"{RAW_IDS[0]},11,100,buy,1511544080",
        f"{RAW_IDS[1]},12,101,cart,1511544090",
        f"{RAW_IDS[1]},12,101,teleport,1511544090",  # rejected: kept in the rejects table
        f"{RAW_IDS[2]},13,102,pv",  # malformed: its raw line must not be stored
        f"{RAW_IDS[2]},13,102,pv,1511544100",
    ]
    path = tmp_path / "pseudo.csv"
    path.write_text("\n".join([TB_HEADER, *rows]) + "\n")
    return path


def _all_stored_text(store: Store) -> str:
    """Every value of every table in the database file, as one text."""
    parts = []
    tables = store.query("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")["table_name"]
    for table in tables:
        frame = store.query(f'SELECT * FROM "{table}"')
        parts.append(frame.astype(str).to_csv(index=False))
    return "\n".join(parts)


def test_nineteen_digit_ids_survive_exactly(tmp_path: Path) -> None:
    with Store(tmp_path / "ids.duckdb") as st_:
        st_.ingest(_pseudo_file(tmp_path), name="ids")
        assert sort_values(list(set(stored_values(st_, "ids", "user_id")))) == sorted(RAW_IDS)
        frame = pd.DataFrame({"user_id": RAW_IDS, "item_id": ["1", "2", "3"], "category": ["a", "b", "c"],
                              "behavior": ["view", "buy", "fav"],
                              "ts": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"], utc=True)})
        st_.ingest_frame(frame, name="ids_frame")
        assert stored_values(st_, "ids_frame", "user_id") == sorted(RAW_IDS)


def test_pseudonymisation_hides_every_raw_user_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "k" * 40
    monkeypatch.setenv("IC_TEST_PSEUDO_KEY", key)
    options = IngestOptions(pseudonymize_key_env="IC_TEST_PSEUDO_KEY")
    with Store(tmp_path / "pseudo.duckdb") as st_:
        result = st_.ingest(_pseudo_file(tmp_path), name="pseudo", options=options)
        assert result.report.rejected == {"malformed_row": 1, "unknown_behavior": 1}
        text = _all_stored_text(st_) + json.dumps(result.report.to_dict()) + json.dumps(result.summary)
        for raw in RAW_IDS:
            assert raw not in text
        users = st_.query(f"SELECT user_id, count(*) AS n FROM {st_.table('pseudo')} GROUP BY 1 ORDER BY 1")
        expected = dict(zip(RAW_IDS, pseudonymize(RAW_IDS, key.encode()), strict=True))
        # Same id -> same pseudonym (user 0's two rows share one), stable across ingests.
        assert dict(zip(users["user_id"], users["n"], strict=True)) == {
            expected[RAW_IDS[0]]: 2, expected[RAW_IDS[1]]: 1, expected[RAW_IDS[2]]: 1}
        rejects = st_.rejected_rows("pseudo")
        assert rejects["user_id"].tolist() == [expected[RAW_IDS[1]]]
        other = tmp_path / "other.csv"
        other.write_text(f"{TB_HEADER}\n{RAW_IDS[0]},99,999,fav,1511544070\n")
        st_.ingest(other, name="pseudo2", options=options)
        assert st_.query(f"SELECT user_id FROM {st_.table('pseudo2')}")["user_id"].tolist() == [expected[RAW_IDS[0]]]
        # Another key gives other pseudonyms.
        monkeypatch.setenv("IC_TEST_PSEUDO_KEY", "z" * 40)
        st_.ingest(other, name="pseudo3", options=options)
        assert st_.query(f"SELECT user_id FROM {st_.table('pseudo3')}")["user_id"].tolist() != [expected[RAW_IDS[0]]]


@pytest.mark.parametrize("value", [None, "short"])
def test_pseudonymisation_without_key_is_named_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("IC_TEST_PSEUDO_KEY", raising=False)
    else:
        monkeypatch.setenv("IC_TEST_PSEUDO_KEY", value)
    with Store(tmp_path / "nokey.duckdb") as st_:
        before = snapshot(st_)
        with pytest.raises(IngestError, match="IC_TEST_PSEUDO_KEY is unset or shorter than 16 characters; set "):
            st_.ingest(_pseudo_file(tmp_path), name="p",
                       options=IngestOptions(pseudonymize_key_env="IC_TEST_PSEUDO_KEY"))
        assert snapshot(st_) == before


# -- the reader, by property ------------------------------------------------------------------
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _ids(kind: str) -> st.SearchStrategy[str]:
    if kind == "digits":  # up to 19 digits, leading zeros included: must survive as text
        return st.from_regex(r"[0-9]{1,19}", fullmatch=True)
    # Text holding the other delimiters, quotes and spaces (quoted by the writer where needed).
    # It starts with x so that no value is a header word ("ts", "user"...) in a header-less file.
    return st.from_regex(r"[xX][a-zA-Z0-9_.\- ,;|\t\"'é]{0,15}", fullmatch=True).map(str.rstrip)


@st.composite
def event_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 25))
    kinds = {col: draw(st.sampled_from(["digits", "text"])) for col in ("user_id", "item_id", "category")}
    rows = [{
        "user_id": draw(_ids(kinds["user_id"])),
        "item_id": draw(_ids(kinds["item_id"])),
        "category": draw(_ids(kinds["category"])),
        "behavior": draw(st.sampled_from(["view", "fav", "cart", "buy", "rate"])),
        # 2001-09-09 .. 2025-01-01 (the future is out of range), whole seconds or milliseconds
        "ts": draw(st.integers(1_000_000_000_000, 1_735_689_600_000)),
    } for _ in range(n)]
    frame = pd.DataFrame(rows)
    if draw(st.booleans()):
        frame["ts"] = frame["ts"] // 1000  # epoch seconds
    return frame


def _write_csv(frame: pd.DataFrame, delimiter: str, header: bool, eol: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=eol)
    if header:
        writer.writerow(["uid", "item", "cat", "act", "when"])
    for rec in frame.itertuples(index=False):
        writer.writerow([rec.user_id, rec.item_id, rec.category, rec.behavior, rec.ts])
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def prop_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    st_ = Store(":memory:")  # no fsync per commit: the property runs many small ingests
    yield st_
    st_.close()


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    frame=event_frames(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    header=st.booleans(),
    eol=st.sampled_from(["\n", "\r\n"]),
    gz=st.booleans(),
)
def test_reader_keeps_every_valid_row(
    prop_store: Store, frame: pd.DataFrame, delimiter: str, header: bool, eol: str, gz: bool
) -> None:
    data = _write_csv(frame, delimiter, header, eol)
    cols = ("uid", "item", "cat", "act", "when") if header else tuple(f"column{i}" for i in range(1, 6))
    mapping = ColumnMapping(user_id=cols[0], item_id=cols[1], category=cols[2], behavior=cols[3], ts=cols[4])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("events.csv.gz" if gz else "events.csv")
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        result = prop_store.ingest(path, name="prop", mapping=mapping, options=IngestOptions(duplicates="keep"))
    try:
        assert result.created
        assert result.report.rows_kept == len(frame), result.report
        assert result.report.rejected == {} and result.report.repaired == {}
        stored = prop_store.query(
            f"SELECT user_id, item_id, category, behavior, epoch_ms(ts) AS ms FROM {prop_store.table('prop')}"
        )
        expected_ms = frame["ts"] * (1000 if frame["ts"].max() < 10**11 else 1)
        got = sorted(zip(stored["user_id"], stored["item_id"], stored["category"], stored["behavior"],
                         stored["ms"].astype(int), strict=True))
        want = sorted(zip(frame["user_id"], frame["item_id"], frame["category"], frame["behavior"],
                          expected_ms.astype(int), strict=True))
        assert got == want
    finally:
        prop_store.delete("prop")

