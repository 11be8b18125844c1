"""Ingest on Spark: the same cleaning SQL and repairs as the DuckDB store, written as Parquet.

The file is sniffed locally exactly as for DuckDB (format, header, delimiter), read by Spark's
CSV/Parquet reader as text columns, classified by ``cleaning.classified_sql`` spelled for Spark,
staged once as Parquet, repaired and counted by the shared staging SQL, and its clean rows are
written partitioned by month under the warehouse folder. The catalog then registers that folder
(``Store.register_parquet``) so the app reads it through DuckDB like any other dataset.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interest_core.config import IngestOptions
from interest_core.engines.dialect import SPARK
from interest_core.engines.parquet_catalog import ParquetDataset, register_parquet
from interest_core.errors import EngineError, FileEncodingError, NoUsableRowsError
from interest_core.ingest import staging
from interest_core.ingest.cleaning import check_columns, classified_sql
from interest_core.ingest.formats import ColumnMapping
from interest_core.ingest.pipeline import REJECTS_KEPT, _fingerprint, _resolve_format, _stored_as
from interest_core.ingest.report import RejectReport
from interest_core.ingest.sources import SourceFile, open_source
from interest_core.store import IngestResult, Store, check_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CORRUPT = "_ic_corrupt_record"
MALFORMED_ERROR = "wrong number of fields or broken quoting"


def duckdb_url(location: str) -> str:
    """The same location as DuckDB names it (Hadoop's s3a:// is DuckDB's s3://)."""
    return "s3://" + location[len("s3a://"):] if location.startswith("s3a://") else location


def default_warehouse(store: Store) -> Path:
    """Where Spark-built datasets live by default: a folder beside the store file."""
    return store.path.parent / f"{store.path.stem}-parquet"


def _read_source(spark: SparkSession, source: SourceFile, workdir: Path) -> DataFrame:
    """Every column as text under its header name, plus the malformed line (NULL when fine)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    if source.kind == "parquet":
        frame = spark.read.parquet(str(source.read_path))
        return frame.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in frame.columns],
                            F.lit(None).cast("string").alias(CORRUPT))
    path = source.read_path
    if source.compression == "gzip" and not path.name.endswith(".gz"):
        link = workdir / "source.csv.gz"  # Spark picks its codec by the file name
        link.symlink_to(path.resolve())
        path = link
    schema = StructType([StructField(c, StringType()) for c in (*source.columns, CORRUPT)])
    return spark.read.csv(str(path), schema=schema, header=source.has_header, sep=source.delimiter, quote='"',
                          escape='"', mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT, multiLine=False,
                          enforceSchema=True, encoding="UTF-8")


def _stage_sql(mapping: ColumnMapping, options: IngestOptions) -> str:
    """The cleaning rule over every row; a line the reader could not split is a 'malformed_row'."""
    return classified_sql("ic_raw", mapping, options, dialect=SPARK, malformed_col=CORRUPT)


def ingest(
    store: Store, path: str | Path, *, name: str, fmt: str = "auto", mapping: ColumnMapping | None = None,
    options: IngestOptions | None = None, year: int = 2013, item_properties: Sequence[str | Path] = (),
    master: str | None = None, warehouse: str | Path | None = None,
) -> IngestResult:
    """``Store.ingest`` on Spark: same validation, reject reasons and report; events as Parquet."""
    from interest_core.engines.spark_session import spark_session
    check_name(name)
    options = options or IngestOptions()
    if options.pseudonymize_key_env:
        raise EngineError("pseudonymised ingest runs on the DuckDB engine only",
                          "ingest with --engine duckdb, or pseudonymise the ids upstream")
    if item_properties:
        raise EngineError("the RetailRocket item_properties join runs on the DuckDB engine only",
                          "ingest RetailRocket with --engine duckdb")
    source = open_source(path, encoding=options.encoding)
    try:
        preset, chosen = _resolve_format(source, fmt, mapping, year)
        if preset.name == "retailrocket":
            raise EngineError("RetailRocket events need the item_properties join, which runs on DuckDB only",
                              "ingest RetailRocket with --engine duckdb")
        check_columns(preset.mapping, source.columns)
        policy = options.duplicates if options.duplicates != "auto" else preset.default_duplicates
        fingerprint = _fingerprint(source.sha256, [], chosen, preset.mapping, options, policy)
        existing = _stored_as(store, name, fingerprint)  # same content stored, or the name taken
        if existing is not None:
            return existing
        spark = spark_session(master)
        # A local folder or a URL Spark writes to (s3a://, hdfs://): kept as text, not a Path.
        root = str(warehouse if warehouse is not None else default_warehouse(store)).rstrip("/")
        target = f"{root}/ev_{fingerprint[:16]}"
        with tempfile.TemporaryDirectory(prefix="ic-spark-") as tmp:
            report, summary = _run(spark, source, preset.mapping, options, policy, chosen, Path(tmp), target)
            result = register_parquet(store, ParquetDataset(
                name=name, fingerprint=fingerprint, events_glob=duckdb_url(f"{target}/*/*.parquet"),
                rejects_file=str(Path(tmp) / "rejects.parquet"), source_sha256=source.sha256,
                source_name=source.original.name, format=chosen, mapping=preset.mapping,
                options={**options.to_dict(), "duplicates": policy, "engine": "spark", "location": target},
                report=report, summary=summary))
    finally:
        source.cleanup()
    if fmt == "auto":
        return IngestResult(result.name, True, f"{result.message} (format auto-detected: {chosen})",
                            result.summary, result.report)
    return result


def _run(spark: SparkSession, source: SourceFile, mapping: ColumnMapping, options: IngestOptions, policy: str,
         chosen: str, tmp: Path, target: str) -> tuple[RejectReport, dict[str, Any]]:
    """Stage, repair, count and write; returns the reject report and the summary."""
    _read_source(spark, source, tmp).createOrReplaceTempView("ic_raw")
    stage_dir = tmp / "stage"
    spark.sql(_stage_sql(mapping, options)).write.parquet(str(stage_dir))
    spark.read.parquet(str(stage_dir)).createOrReplaceTempView("ic_stage0")
    if mapping.item_id is not None:  # an empty category is filled from the item's other rows
        spark.sql(f"""SELECT s.user_id, s.item_id, coalesce(s.category, m.cat) AS category, s.behavior, s.ts,
                        s.value, s.reason, s.raw_behavior, s.raw_ts, s.raw_value,
                        s.reason IS NULL AND s.category IS NULL AND m.cat IS NOT NULL AS filled
                      FROM ic_stage0 s LEFT JOIN ({staging.item_category_sql("ic_stage0")}) m
                      ON s.item_id = m.item_id AND s.reason IS NULL AND s.category IS NULL""").createOrReplaceTempView(
            "ic_stage1")
    else:
        spark.sql("SELECT *, FALSE AS filled FROM ic_stage0").createOrReplaceTempView("ic_stage1")
    spark.sql("""SELECT user_id, item_id, category, behavior, ts, value,
                   CASE WHEN reason IS NULL AND category IS NULL THEN 'missing_category' ELSE reason END AS reason,
                   raw_behavior, raw_ts, raw_value, filled FROM ic_stage1""").createOrReplaceTempView("ic_stage")
    # One pass counts every reason and both repairs.
    # Spark's reader turns bytes that are not UTF-8 into U+FFFD where DuckDB's refuses the file.
    texts = "concat_ws('', user_id, item_id, category, raw_behavior, raw_ts, raw_value)"
    rows = spark.sql(f"""SELECT coalesce(reason, '') AS reason, count(*) AS n, count_if(filled) AS filled,
                          count_if(reason IS NULL AND raw_value IS NOT NULL AND value IS NULL) AS bad_values,
                          count_if(contains({texts}, {SPARK.string(chr(0xFFFD))})) AS not_utf8
                        FROM ic_stage GROUP BY 1""").collect()
    not_utf8 = sum(int(r[4]) for r in rows)
    if not_utf8:
        raise FileEncodingError(f"{source.original.name!r} is not valid UTF-8 ({not_utf8:,} row(s))",
                                "pass --encoding with the file's encoding (e.g. gbk, latin-1, cp1252) "
                                "or save it as UTF-8")
    counts = {str(r[0]): int(r[1]) for r in rows}
    clean = counts.pop("", 0)
    malformed = counts.pop("malformed_row", 0)
    repaired: dict[str, int] = {}
    filled, bad_values = sum(int(r[2]) for r in rows), sum(int(r[3]) for r in rows)
    if filled:
        repaired["category_filled_from_item"] = filled
    if bad_values:
        repaired["value_unparseable_set_null"] = bad_values
    rejected = {r: n for r, n in sorted(counts.items(), key=lambda kv: -kv[1])}
    if malformed:
        rejected = {"malformed_row": malformed, **rejected}
    spark.sql("SELECT * FROM ic_stage WHERE reason IS DISTINCT FROM 'malformed_row'").createOrReplaceTempView(
        "ic_stage_rows")
    examples = staging.example_records(spark.sql(staging.examples_sql("ic_stage_rows")).toArrow().to_pandas())
    lines = spark.sql(f"SELECT raw_ts FROM ic_stage WHERE reason = 'malformed_row' ORDER BY raw_ts "
                      f"LIMIT {staging.EXAMPLES_PER_REASON}").collect()
    if lines:
        examples["malformed_row"] = [{"line": str(r[0])[:200], "error": MALFORMED_ERROR} for r in lines]
    rows_read = clean + sum(rejected.values())

    def report_of(kept: int) -> RejectReport:
        return RejectReport(rows_read=rows_read, rows_kept=kept, rejected=rejected, repaired=repaired,
                            duplicates_policy=policy, format=chosen, examples=examples)

    if clean == 0:  # nothing is written (de-duplication never empties a non-empty set)
        raise NoUsableRowsError(
            f"no usable rows in {source.original.name!r} ({report_of(0).summary_line()})",
            "check the format and the column/behaviour mapping; nothing was stored",
        )
    # At most REJECTS_KEPT rows: one small file for the store's reject table, through Arrow.
    import pyarrow.parquet as pq

    kept_rejects = spark.sql(
        f"SELECT reason, user_id, item_id, category, raw_behavior AS behavior, raw_ts AS ts, raw_value AS value "
        f"FROM ic_stage_rows WHERE reason IS NOT NULL ORDER BY reason, {staging.EXAMPLE_ORDER} LIMIT {REJECTS_KEPT}")
    pq.write_table(kept_rejects.toArrow(), tmp / "rejects.parquet")
    events = spark.sql(f"SELECT {staging.EVENT_COLUMNS} FROM ic_stage WHERE reason IS NULL")
    if policy == "drop":
        events = events.dropDuplicates()  # one shuffle, in the write; the summary counts what remained
    # overwrite: a folder left by an earlier run that was never registered
    events.withColumn("month", events["ts"].cast("date").cast("string").substr(1, 7)).write.mode(
        "overwrite").partitionBy("month").parquet(target)
    spark.read.parquet(target).createOrReplaceTempView("ic_events_written")
    row = spark.sql(staging.summary_sql("ic_events_written")).collect()[0]
    behaviors = spark.sql(staging.behavior_counts_sql("ic_events_written")).collect()
    duplicates = clean - int(row[0])
    if duplicates:
        rejected["duplicate"] = duplicates
    report = report_of(int(row[0]))
    return report, staging.summary_dict(list(row), [list(b) for b in behaviors])
