"""The store's catalog entry for a dataset whose events are Parquet files (written by Spark).

The events become a DuckDB view over read_parquet, so the app, the panel and every page open
the dataset like one ingested into DuckDB. The catalog row has the same fields as the DuckDB
pipeline writes; its options also name the engine and the Parquet location.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interest_core.ingest.formats import ColumnMapping
from interest_core.ingest.pipeline import _stored_as
from interest_core.ingest.report import RejectReport
from interest_core.ingest.sources import sql_str
from interest_core.store import IngestResult, Store, check_name


@dataclass(frozen=True)
class ParquetDataset:
    """Where a Spark-built dataset's Parquet lives, and its catalog row."""

    name: str
    fingerprint: str
    events_glob: str  # e.g. /warehouse/ev_0123/*/*.parquet (a path or URL DuckDB can read)
    rejects_file: str  # Parquet of the kept rejected rows (may hold none)
    source_sha256: str
    source_name: str
    format: str
    mapping: ColumnMapping
    options: dict[str, Any]  # the ingest options, with the engine and the Parquet location
    report: RejectReport
    summary: dict[str, Any]


def register_parquet(store: Store, record: ParquetDataset) -> IngestResult:
    """Catalog ``record`` in one transaction (an existing same content or a taken name answers as ingest does)."""
    check_name(record.name)
    table, rejects = f"ev_{record.fingerprint[:16]}", f"rj_{record.fingerprint[:16]}"
    with store.writing() as cur:
        existing = _stored_as(store, record.name, record.fingerprint, cur)
        if existing is not None:
            return existing
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT user_id, item_id, category, behavior, ts, value '
                        f"FROM read_parquet({sql_str(record.events_glob)}, hive_partitioning = false)")
            cur.execute(f'CREATE OR REPLACE TABLE "{rejects}" AS SELECT reason, user_id, item_id, category, behavior, '
                        f"ts, value FROM read_parquet({sql_str(record.rejects_file)})")
            cur.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [record.name, table, record.source_sha256, record.fingerprint, record.source_name, record.format,
                 json.dumps(record.mapping.to_dict()), json.dumps(record.options), json.dumps(record.report.to_dict()),
                 json.dumps(record.summary), datetime.now(UTC).replace(tzinfo=None)],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    message = f"stored {record.name!r}: {record.report.summary_line()}"
    summary = {"name": record.name, **record.summary, "rejected": record.report.rejected,
               "repaired": record.report.repaired}
    return IngestResult(record.name, True, message, summary, record.report)
