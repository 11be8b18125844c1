"""The steps of one ingest over the staging table ``ic_stage`` (see Store.ingest).

``ic_stage`` holds every row of the file: canonical columns, a reject reason (NULL = clean) and
the raw texts that explain a reject. These steps repair, count, de-duplicate and summarise it
inside the ingest's transaction; none of them commits. The rules they apply (which category
fills a gap, which rows are examples, what the summary counts) are SQL shared with the Spark
engine (``engines.spark_ingest``): the ``*_sql`` functions below.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from interest_core.config import IngestOptions
from interest_core.errors import FileEncodingError, IngestError, MappingError, MissingColumnsError, UnreadableFileError
from interest_core.ingest.cleaning import classified_sql
from interest_core.ingest.formats import ColumnMapping
from interest_core.ingest.privacy import pseudonym_params, pseudonym_sql, pseudonymizer_key
from interest_core.ingest.sources import SourceFile, sql_str

EXAMPLES_PER_REASON = 5
# Examples are the first rows in this order, so the same file always shows the same examples.
EXAMPLE_ORDER = "raw_ts, user_id, item_id, category, raw_behavior, raw_value"
EVENT_COLUMNS = "user_id, item_id, category, behavior, ts, value"


def item_category_sql(stage: str) -> str:
    """item_id -> its most frequent category among clean and rejected rows (ties: the smallest)."""
    return f"""SELECT item_id, category AS cat FROM (
        SELECT item_id, category, row_number() OVER (PARTITION BY item_id ORDER BY count(*) DESC, category) AS rn
        FROM {stage} WHERE category IS NOT NULL AND item_id IS NOT NULL GROUP BY item_id, category) m
        WHERE rn = 1"""


def examples_sql(stage: str) -> str:
    """The first rejected rows of each reason, in EXAMPLE_ORDER (the same file shows the same examples)."""
    return f"""SELECT reason, user_id, item_id, category, behavior, ts, value FROM (
        SELECT reason, user_id, item_id, category, raw_behavior AS behavior, raw_ts AS ts, raw_value AS value,
               {EXAMPLE_ORDER}, row_number() OVER (PARTITION BY reason ORDER BY {EXAMPLE_ORDER}) AS rn
        FROM {stage} WHERE reason IS NOT NULL) x
        WHERE rn <= {EXAMPLES_PER_REASON} ORDER BY reason, {EXAMPLE_ORDER}"""


def summary_sql(table: str) -> str:
    return f"""SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id), count(DISTINCT category),
                      min(ts), max(ts) FROM {table}"""


def behavior_counts_sql(table: str) -> str:
    return f"SELECT behavior, count(*) AS n FROM {table} GROUP BY behavior ORDER BY n DESC, behavior"


def summary_dict(row: Sequence[Any], behaviors: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {
        "rows": int(row[0]), "users": int(row[1]), "items": int(row[2]), "categories": int(row[3]),
        "start": str(row[4]), "end": str(row[5]), "behaviors": {str(k): int(v) for k, v in behaviors},
    }


def example_records(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in frame.to_dict("records"):
        reason = rec.pop("reason")
        out.setdefault(reason, []).append({k: (None if pd.isna(v) else str(v)) for k, v in rec.items()})
    return out


def stage_sql(relation: str, mapping: ColumnMapping, options: IngestOptions) -> tuple[str, list[object]]:
    """The staging query and its parameters; under pseudonymisation user ids are hashed inside it.

    A malformed row's raw line (kept in raw_ts for the report) holds its raw user id: NULL then.
    """
    sql = classified_sql(relation, mapping, options)
    if not options.pseudonymize_key_env:
        return sql, []
    key = pseudonymizer_key(options.pseudonymize_key_env)
    return (f"SELECT * REPLACE ({pseudonym_sql('user_id')} AS user_id, "
            f"CASE WHEN reason = 'malformed_row' THEN NULL ELSE raw_ts END AS raw_ts) FROM ({sql})",
            pseudonym_params(key))


def join_item_categories(relation: str, item_properties: Sequence[str | Path]) -> str:
    if not item_properties:
        raise MissingColumnsError(
            "RetailRocket events carry no category",
            "pass the item_properties file(s) (--item-properties item_properties_part1.csv ...) to join categoryid",
        )
    files = "[" + ", ".join(sql_str(str(p)) for p in item_properties) + "]"
    props = (
        f"(SELECT itemid, arg_max(value, try_cast(timestamp AS BIGINT)) AS categoryid "
        f"FROM read_csv({files}, all_varchar=true, header=true) WHERE property = 'categoryid' GROUP BY itemid)"
    )
    return f"(SELECT e.*, p.categoryid FROM {relation} e LEFT JOIN {props} p ON e.itemid = p.itemid)"


def read_error(exc: duckdb.Error, source: SourceFile) -> IngestError:
    text = str(exc).splitlines()[0]
    # The mapping's time zone and time format are only checked when DuckDB first uses them.
    if "unknown timezone" in text.lower():
        return MappingError(f"the mapping's time zone is unknown ({text[:160]})",
                            "pass --timezone with an IANA zone name such as UTC, Asia/Shanghai or Etc/GMT-8")
    if "strftime/strptime" in text.lower():
        return MappingError(f"the mapping's time format is invalid ({text[:160]})",
                            "pass --ts-format with strptime codes, e.g. %Y-%m-%d %H:%M:%S")
    if "unicode" in text.lower() or "utf" in text.lower():
        return FileEncodingError(f"{source.original.name!r} is not valid UTF-8 ({text[:160]})",
                                 "pass --encoding with the file's encoding (e.g. gbk, latin-1)")
    return UnreadableFileError(f"{source.original.name!r} could not be read ({text[:200]})",
                               "check the delimiter, quoting and format of the file")


def count(cur: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = cur.execute(sql).fetchone()
    return int(row[0]) if row else 0


def has_reject_table(cur: duckdb.DuckDBPyConnection) -> bool:
    # Parquet sources have no CSV reject table. Probe the catalog rather than catching the
    # CatalogException: any error inside the ingest transaction aborts it.
    return bool(count(cur, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'ic_reject_errors'"))


def check_encoding(cur: duckdb.DuckDBPyConnection, source: SourceFile) -> None:
    """A byte that is not UTF-8 past the sniffed sample: the same named error as one inside it."""
    if not has_reject_table(cur):
        return
    row = cur.execute(
        "SELECT min(line), count(*) FROM ic_reject_errors WHERE error_type = 'INVALID ENCODING'"
    ).fetchone()
    if row and row[1]:
        raise FileEncodingError(
            f"{source.original.name!r} is not valid UTF-8 (first at line {row[0]}, {row[1]:,} line(s) in all)",
            "pass --encoding with the file's encoding (e.g. gbk, latin-1, cp1252) or save it as UTF-8",
        )


def malformed_rows(cur: duckdb.DuckDBPyConnection) -> int:
    if not has_reject_table(cur):
        return 0
    return count(cur, "SELECT count(DISTINCT line) FROM ic_reject_errors")


def fill_categories(cur: duckdb.DuckDBPyConnection) -> int:
    """Fill an empty category from the item's most frequent category among its other rows."""
    missing = count(cur, "SELECT count(*) FROM ic_stage WHERE reason IS NULL AND category IS NULL "
                          "AND item_id IS NOT NULL")
    if not missing:
        return 0
    cur.execute(
        f"""UPDATE ic_stage SET category = m.cat FROM ({item_category_sql("ic_stage")}) m
           WHERE ic_stage.item_id = m.item_id AND ic_stage.category IS NULL AND ic_stage.reason IS NULL"""
    )
    return missing - count(cur, "SELECT count(*) FROM ic_stage WHERE reason IS NULL AND category IS NULL "
                                 "AND item_id IS NOT NULL")


def drop_duplicates(cur: duckdb.DuckDBPyConnection) -> int:
    """Remove exact duplicate clean rows (all but one of each); returns how many were removed.

    A GROUP BY on one 64-bit row hash (and the time, which equal rows share) finds the candidates
    cheaply, and only rows with a repeated hash are compared and deleted: a log with a handful of
    duplicates no longer rewrites its whole table (on 10 M events that rewrite cost as much as the
    staging). The delete reads only the rows at those times: it no longer hashes every row again
    (100 M events: 11 CPU s less).
    """
    cols = EVENT_COLUMNS
    cur.execute(f"""CREATE OR REPLACE TEMP TABLE ic_dup_hashes AS SELECT h, ts FROM (
        SELECT hash({cols}) AS h, ts FROM ic_stage WHERE reason IS NULL GROUP BY h, ts HAVING count(*) > 1)""")
    try:
        if not count(cur, "SELECT count(*) FROM ic_dup_hashes"):
            return 0
        # PARTITION BY groups NULLs together, as DISTINCT does: rows equal in every column, NULLs included.
        return count(cur, f"""DELETE FROM ic_stage WHERE rowid IN (
            SELECT rid FROM (
              SELECT rid, row_number() OVER (PARTITION BY {cols} ORDER BY rid) AS rn FROM (
                SELECT rowid AS rid, {cols} FROM ic_stage
                WHERE reason IS NULL AND ts IN (SELECT DISTINCT ts FROM ic_dup_hashes)) at_times
              WHERE hash({cols}) IN (SELECT h FROM ic_dup_hashes)) d
            WHERE rn > 1)""")
    finally:
        cur.execute("DROP TABLE IF EXISTS ic_dup_hashes")


def malformed_lines(cur: duckdb.DuckDBPyConnection, *, raw_lines: bool = True) -> list[dict[str, str]]:
    """The first lines the CSV reader set aside (its reject table), as report examples."""
    if not has_reject_table(cur):
        return []
    lines = cur.execute(
        f"SELECT line, csv_line, error_message FROM ic_reject_errors ORDER BY line LIMIT {EXAMPLES_PER_REASON}"
    ).fetchall()
    # A raw CSV line holds the raw user id: leave it out when ids are pseudonymised.
    return [{"line": str(a)[:200] if raw_lines else f"line {n}", "error": str(b)[:200]} for n, a, b in lines]


def examples(cur: duckdb.DuckDBPyConnection, malformed: list[dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    out = example_records(cur.execute(examples_sql("ic_stage")).df())
    if malformed:
        out["malformed_row"] = list(malformed)
    return out


def summary(cur: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    row = cur.execute(summary_sql(f'"{table}"')).fetchone()
    assert row is not None
    return summary_dict(row, cur.execute(behavior_counts_sql(f'"{table}"')).fetchall())
