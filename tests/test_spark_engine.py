"""Spark engine: the same cleaning, reject reasons, stored events and panel as DuckDB.

The rules are one SQL definition spelled through a dialect (interest_core/engines/dialect.py);
these tests run it on both engines and compare what each stores, row for row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from interest_core.cli.main import main as cli
from interest_core.config import IngestOptions
from interest_core.engines import spark_ingest
from interest_core.engines.dialect import java_pattern
from interest_core.errors import EngineError, FileEncodingError, MappingError
from interest_core.ingest.formats import ColumnMapping
from interest_core.store import Store
from tests.spark_support import MASTER, TAOBAO, TMALL, real_log, start_spark

EVENT_ORDER = "user_id, item_id, category, behavior, ts, value"


@pytest.fixture(scope="module")
def spark() -> Any:
    return start_spark()


def events(store: Store, name: str) -> pd.DataFrame:
    return store.query(f"SELECT * FROM {store.table(name)} ORDER BY {EVENT_ORDER}")


def same_events(a: Store, a_name: str, b: Store, b_name: str) -> None:
    left, right = events(a, a_name), events(b, b_name)
    assert len(left) == len(right)
    pd.testing.assert_frame_equal(left, right, check_dtype=True)


def test_strptime_formats_become_spark_patterns() -> None:
    assert java_pattern("%Y-%m-%d") == "yyyy-M-d"
    assert java_pattern("%Y-%m-%dT%H:%M:%S") == "yyyy-M-d'T'H:m:s"
    assert java_pattern("%d/%m/%Y %H:%M") == "d/M/yyyy H:m"
    with pytest.raises(MappingError, match="no Spark equivalent"):
        java_pattern("%Y %U")


# Every reject reason and repair on a literal file, with epoch seconds, ms, zoned and plain text times.
EDGE_CSV = """uid,item,cat,act,time,amount
u1,i1,c1,view,1500000000,1.5
u1,i1,c1,view,1500000000,1.5
u2,i2,,buy,1500000000000,x
u2,i2,c2,cart,2017-07-14 02:40:00,2
u3,i2,c2,fav,2017-07-14T02:40:00+08:00,
u3,i9,,view,2017-07-14 02:40:00 UTC,
,i1,c1,view,1500000000,
u4,i1,c1,view,,
u4,i1,c1,view,yesterday,
u4,i1,c1,view,1990-01-01 00:00:00,
u4,i1,c1,view,4102444800,
u4,i1,c1,,1500000000,
u4,i1,c1,click,1500000000,
u4,i1,c1,remove,1500000000,
u5,i3,c3,VIEW,1500000000,1e400
u5,i3,c3,view,1500000000,3,extra
u6,i3,c3,view,NaN,
"""
EDGE_MAPPING = ColumnMapping(
    user_id="uid", item_id="item", category="cat", behavior="act", ts="time", value="amount",
    behavior_codes=(("view", "view"), ("VIEW", "view"), ("buy", "buy"), ("cart", "cart"), ("fav", "fav"),
                    ("remove", "ignore")),
)


def test_every_reject_reason_and_repair_is_the_same_on_both_engines(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "edge.csv"
    path.write_text(EDGE_CSV)
    options = IngestOptions(duplicates="drop")
    with Store(tmp_path / "d.duckdb") as duck, Store(tmp_path / "s.duckdb") as sp:
        d = duck.ingest(path, name="edge", fmt="generic", mapping=EDGE_MAPPING, options=options)
        s = spark_ingest.ingest(sp, path, name="edge", fmt="generic", mapping=EDGE_MAPPING, options=options,
                                master=MASTER)
        assert d.report.rejected == s.report.rejected
        assert d.report.repaired == s.report.repaired
        assert (d.report.rows_read, d.report.rows_kept) == (s.report.rows_read, s.report.rows_kept)
        # What each reason means is pinned here, so a rule that drifts on one engine shows.
        assert s.report.rejected == {"malformed_row": 1, "missing_user": 1, "missing_time": 1,
                                     "unparseable_time": 2, "time_out_of_range": 2, "missing_behavior": 1,
                                     "unknown_behavior": 1, "ignored_behavior": 1, "missing_category": 1,
                                     "duplicate": 1}
        assert s.report.repaired == {"category_filled_from_item": 1, "value_unparseable_set_null": 1}
        assert {k: v for k, v in d.report.examples.items() if k != "malformed_row"} == \
               {k: v for k, v in s.report.examples.items() if k != "malformed_row"}
        assert s.report.examples["malformed_row"][0]["line"] == "u5,i3,c3,view,1500000000,3,extra"
        same_events(duck, "edge", sp, "edge")
        stored = events(sp, "edge")
        assert stored["ts"].astype(str).tolist().count("2017-07-13 18:40:00") == 1  # +08:00 converted to UTC
        pd.testing.assert_frame_equal(duck.rejected_rows("edge"), sp.rejected_rows("edge"))
        assert {k: v for k, v in duck.describe("edge").to_dict().items() if k != "created_at"} == \
               {k: v for k, v in sp.describe("edge").to_dict().items() if k != "created_at"}


def test_local_time_zone_and_format_match(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "tz.csv"
    path.write_text("user_id;category;date\na;x;05/03/2021 23:30\nb;y;31/12/2020 00:15\nc;z;2021-03-05\n")
    mapping = ColumnMapping(user_id="user_id", category="category", ts="date", constant_behavior="buy",
                            ts_unit="text", ts_format="%d/%m/%Y %H:%M", timezone="Asia/Shanghai")
    with Store(tmp_path / "d.duckdb") as duck, Store(tmp_path / "s.duckdb") as sp:
        d = duck.ingest(path, name="tz", fmt="generic", mapping=mapping)
        s = spark_ingest.ingest(sp, path, name="tz", fmt="generic", mapping=mapping, master=MASTER)
        assert d.report.rejected == s.report.rejected == {"unparseable_time": 1}
        same_events(duck, "tz", sp, "tz")
        assert events(sp, "tz")["ts"].astype(str).tolist() == ["2021-03-05 15:30:00", "2020-12-30 16:15:00"]


def test_bytes_that_are_not_utf8_are_refused_on_both_engines(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    # The bad byte lies past the 256 KiB sniffed sample, so the readers themselves must see it.
    path.write_bytes(b"user_id,category,behavior,ts\n" + b"u1,c1,view,1500000000\n" * 15_000
                     + "u2,caf\u00e9,view,1500000000\n".encode("latin-1"))
    with Store(tmp_path / "d.duckdb") as duck, pytest.raises(FileEncodingError, match="not valid UTF-8"):
        duck.ingest(path, name="l1")
    with Store(tmp_path / "s.duckdb") as sp, pytest.raises(FileEncodingError, match="not valid UTF-8"):
        spark_ingest.ingest(sp, path, name="l1", master=MASTER)
    with Store(tmp_path / "s.duckdb") as sp:
        assert sp.names() == []


def test_spark_refuses_what_only_duckdb_does_by_name(spark: Any, tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as sp, pytest.raises(EngineError, match="DuckDB engine only"):
        spark_ingest.ingest(sp, real_log(TAOBAO), name="p", options=IngestOptions(pseudonymize_key_env="K"),
                            master=MASTER)


@pytest.fixture(scope="module")
def tmall_stores(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """The Tmall log ingested through the CLI on each engine, each into its own store."""
    tmall = real_log(TMALL)
    root = tmp_path_factory.mktemp("tmall")
    duck_db, spark_db, warehouse = root / "d.duckdb", root / "s.duckdb", root / "warehouse"
    assert cli(["ingest", str(tmall), "--name", "tm", "--db", str(duck_db)]) == 0
    assert cli(["ingest", str(tmall), "--name", "tm", "--db", str(spark_db), "--engine", "spark",
                "--spark-master", MASTER, "--warehouse", str(warehouse)]) == 0
    yield duck_db, spark_db, warehouse


def test_tmall_events_are_identical_and_stored_as_partitioned_parquet(tmall_stores: tuple[Path, Path, Path]) -> None:
    duck_db, spark_db, warehouse = tmall_stores
    with Store(duck_db) as duck, Store(spark_db) as sp:
        same_events(duck, "tm", sp, "tm")
        info = sp.describe("tm")
        # SOURCE.md's exact counts.
        assert (info["rows"], info["users"], info["categories"]) == (182_880, 884, 9_531)
        assert info["rejected"] == duck.describe("tm")["rejected"] == {}
        assert json.loads(sp.query("SELECT options FROM datasets")["options"].iloc[0])["engine"] == "spark"
    months = sorted(p.name for p in next(warehouse.iterdir()).iterdir() if p.is_dir())
    assert months == ["month=2013-04", "month=2013-05", "month=2013-06", "month=2013-07", "month=2013-08"]


def test_tmall_weekly_panel_is_identical(tmall_stores: tuple[Path, Path, Path], tmp_path: Path) -> None:
    duck_db, spark_db, _ = tmall_stores
    duck_out, spark_out = tmp_path / "d.parquet", tmp_path / "s.parquet"
    assert cli(["panel", "tm", "--freq", "W", "--db", str(duck_db), "--out", str(duck_out)]) == 0
    assert cli(["panel", "tm", "--freq", "W", "--db", str(spark_db), "--out", str(spark_out), "--engine", "spark",
                "--spark-master", MASTER]) == 0
    key = ["user_id", "category", "period"]
    duck = pd.read_parquet(duck_out).sort_values(key, ignore_index=True)
    spark = pd.read_parquet(spark_out).sort_values(key, ignore_index=True)
    assert len(spark) == 71_513 and spark["period"].nunique() == 18
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False, check_exact=True)


def test_spark_panel_of_a_duckdb_dataset_with_top_k(tmall_stores: tuple[Path, Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    duck_db, _, _ = tmall_stores
    duck_out, spark_out = tmp_path / "d.csv", tmp_path / "s.csv"
    assert cli(["panel", "tm", "--freq", "M", "--top-k", "5", "--db", str(duck_db), "--out", str(duck_out)]) == 0
    assert cli(["panel", "tm", "--freq", "M", "--top-k", "5", "--db", str(duck_db), "--out", str(spark_out),
                "--engine", "spark", "--spark-master", MASTER, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["categories"] == 6
    key = ["user_id", "category", "period"]
    duck = pd.read_csv(duck_out, dtype={"user_id": str, "category": str}, parse_dates=["period"])
    spark = pd.read_csv(spark_out, dtype={"user_id": str, "category": str}, parse_dates=["period"])
    pd.testing.assert_frame_equal(duck.sort_values(key, ignore_index=True), spark.sort_values(key, ignore_index=True),
                                  check_dtype=False)


def test_taobao_sample_is_identical_on_both_engines(spark: Any, tmp_path: Path) -> None:
    taobao = real_log(TAOBAO)
    with Store(tmp_path / "d.duckdb") as duck, Store(tmp_path / "s.duckdb") as sp:
        d = duck.ingest(taobao, name="tb")
        s = spark_ingest.ingest(sp, taobao, name="tb", master=MASTER)
        assert d.report.to_dict() == s.report.to_dict()
        assert s.summary["rows"] == d.summary["rows"]
        same_events(duck, "tb", sp, "tb")
        sp.delete("tb")
        assert sp.names() == []
