"""The embedded store: a DuckDB file holding datasets by name, content-addressed by sha256.

Each dataset is one table of canonical events plus a catalog row (mapping, options, report,
summary). An ingest runs in one transaction: a refused file leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from interest_core.config import IngestOptions
from interest_core.errors import (
    DatasetExistsError,
    DatasetNotFoundError,
    MissingColumnsError,
    NoUsableRowsError,
    StoreError,
)
from interest_core.ingest import staging
from interest_core.ingest.cleaning import check_columns, classified_sql
from interest_core.ingest.formats import ColumnMapping, Preset, detect_preset, get_preset, with_header_names
from interest_core.ingest.privacy import pseudonymizer_key
from interest_core.ingest.report import RejectReport
from interest_core.ingest.sources import SourceFile, open_source, sha256_file

DEFAULT_DB = Path(__file__).resolve().parent.parent / "data" / "interest.duckdb"
DB_ENV = "INTEREST_DB"  # overrides the default store path (tests and deployments)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REJECTS_KEPT = 10_000
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class IngestResult:
    name: str
    created: bool
    message: str
    summary: dict[str, Any]
    report: RejectReport


@dataclass(frozen=True)
class ParquetDataset:
    """A dataset built outside the store (by Spark): where its Parquet lives and its catalog row."""

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


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise StoreError(
            f"dataset name {name!r} is not allowed",
            "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def _noop(_fraction: float, _message: str) -> None:
    return None


def default_db_path() -> Path:
    import os

    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


class Store:
    """A DuckDB database file of datasets. Thread-safe: each call uses its own cursor."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(
                f"database {str(self.path)!r} could not be opened ({str(exc).splitlines()[0]})",
                "close the other program using it (the app or another CLI command) or pass another --db",
            ) from None
        self._lock = threading.Lock()
        self._con.execute("SET TimeZone='UTC'")
        if not read_only:
            self._con.execute(
                """CREATE TABLE IF NOT EXISTS datasets (
                    name VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL,
                    fingerprint VARCHAR NOT NULL, source_name VARCHAR, format VARCHAR, mapping JSON,
                    options JSON, report JSON, summary JSON, created_at TIMESTAMP)"""
            )

    # -- connection -------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self._con.cursor()
        cur.execute("SET TimeZone='UTC'")
        return cur

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalog ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [str(n) for n in self.query("SELECT name FROM datasets ORDER BY name")["name"]]

    def list(self) -> pd.DataFrame:
        frame = self.query("SELECT name, format, source_name, summary, created_at FROM datasets ORDER BY name")
        rows = []
        for rec in frame.to_dict("records"):
            summary = json.loads(rec["summary"])
            rows.append({
                "name": rec["name"], "format": rec["format"], "source": rec["source_name"],
                "rows": summary["rows"], "users": summary["users"], "categories": summary["categories"],
                "start": summary["start"], "end": summary["end"], "created_at": rec["created_at"],
            })
        return pd.DataFrame(rows, columns=["name", "format", "source", "rows", "users", "categories", "start",
                                           "end", "created_at"])

    def _record(self, name: str) -> dict[str, Any]:
        frame = self.query("SELECT * FROM datasets WHERE name = ?", [name])
        if frame.empty:
            known = ", ".join(self.names()) or "none"
            raise DatasetNotFoundError(
                f"no dataset named {name!r} (stored: {known})", "ingest it first or pick one of those"
            )
        return frame.iloc[0].to_dict()

    def table(self, name: str) -> str:
        """The quoted table name holding a dataset's events (raises if unknown)."""
        return '"' + str(self._record(name)["table_name"]) + '"'

    def describe(self, name: str) -> dict[str, Any]:
        rec = self._record(name)
        out = {"name": name, "format": rec["format"], "source": rec["source_name"],
               "sha256": rec["source_sha256"], "created_at": str(rec["created_at"])}
        out.update(json.loads(rec["summary"]))
        report = json.loads(rec["report"])
        out["rejected"] = report["rejected"]
        out["repaired"] = report["repaired"]
        out["rows_read"] = report["rows_read"]
        out["duplicates_policy"] = report["duplicates_policy"]
        return out

    def report(self, name: str) -> RejectReport:
        return RejectReport.from_dict(json.loads(self._record(name)["report"]))

    def mapping(self, name: str) -> ColumnMapping:
        return ColumnMapping.from_dict(json.loads(self._record(name)["mapping"]))

    def fingerprint(self, name: str) -> str:
        return str(self._record(name)["fingerprint"])

    def rejected_rows(self, name: str) -> pd.DataFrame:
        """Up to 10,000 rejected rows with their reason (for the downloadable reject report)."""
        table = str(self._record(name)["table_name"]).replace("ev_", "rj_", 1)
        return self.query(f'SELECT * FROM "{table}" ORDER BY reason, ts, user_id, item_id, category, behavior, value')

    def delete(self, name: str) -> None:
        rec = self._record(name)
        table = str(rec["table_name"])
        view = self.query("SELECT count(*) AS n FROM duckdb_views() WHERE view_name = ?", [table])["n"].iloc[0]
        with self._lock:
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                # A Spark-built dataset is a view over its Parquet folder (the folder itself is left alone).
                cur.execute(f'DROP {"VIEW" if view else "TABLE"} IF EXISTS "{table}"')
                cur.execute(f'DROP TABLE IF EXISTS "{table.replace("ev_", "rj_", 1)}"')
                cur.execute("DELETE FROM datasets WHERE name = ?", [name])
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def register_parquet(self, record: ParquetDataset) -> IngestResult:
        """Catalog a dataset whose events are Parquet files (written by Spark) as a view over them.

        The app then opens it like any other dataset: every query goes through DuckDB's
        read_parquet. Rejected rows (at most REJECTS_KEPT) are copied into the store.
        """
        check_name(record.name)
        table, rejects = f"ev_{record.fingerprint[:16]}", f"rj_{record.fingerprint[:16]}"
        with self._lock:
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                if self.query("SELECT name FROM datasets WHERE name = ?", [record.name]).shape[0]:
                    raise DatasetExistsError(f"dataset {record.name!r} already exists with other content",
                                             f"delete it first (delete {record.name}) or choose another name")
                cur.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT user_id, item_id, category, behavior, ts, '
                            f"value FROM read_parquet({_sql_str(record.events_glob)}, hive_partitioning = false)")
                cur.execute(f'CREATE OR REPLACE TABLE "{rejects}" AS SELECT reason, user_id, item_id, category, '
                            f"behavior, ts, value FROM read_parquet({_sql_str(record.rejects_file)})")
                cur.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [record.name, table, record.source_sha256, record.fingerprint, record.source_name, record.format,
                     json.dumps(record.mapping.to_dict()), json.dumps(record.options),
                     json.dumps(record.report.to_dict()), json.dumps(record.summary),
                     datetime.now(UTC).replace(tzinfo=None)],
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        message = f"stored {record.name!r}: {record.report.summary_line()}"
        return IngestResult(record.name, True, message, {"name": record.name, **record.summary,
                                                          "rejected": record.report.rejected,
                                                          "repaired": record.report.repaired}, record.report)

    # -- ingest -----------------------------------------------------------------------------
    def ingest(
        self,
        path: str | Path,
        *,
        name: str,
        fmt: str = "auto",
        mapping: ColumnMapping | None = None,
        options: IngestOptions | None = None,
        year: int = 2013,
        item_properties: Sequence[str | Path] = (),
        source_name: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Read, validate and store one events file as dataset ``name``."""
        check_name(name)
        options = options or IngestOptions()
        report_progress = progress or _noop
        key_id = None
        if options.pseudonymize_key_env:  # a missing key fails before any reading
            key = pseudonymizer_key(options.pseudonymize_key_env)
            # Another key gives other pseudonyms, so another dataset (the key itself is not stored).
            key_id = hmac.new(key, b"interest_core dataset key id", hashlib.sha256).hexdigest()[:16]
        report_progress(0.02, "hashing and sniffing the file")
        source = open_source(path, encoding=options.encoding)
        try:
            preset, chosen = _resolve_format(source, fmt, mapping, year)
            policy = options.duplicates if options.duplicates != "auto" else preset.default_duplicates
            prop_hashes = [sha256_file(Path(p)) for p in item_properties]
            fingerprint = _fingerprint(source.sha256, prop_hashes, chosen, preset.mapping, options, policy, key_id)
            existing = self.query("SELECT name FROM datasets WHERE fingerprint = ?", [fingerprint])
            if not existing.empty:
                other = str(existing["name"].iloc[0])
                summary = self.describe(other)
                return IngestResult(other, False, f"this file was already stored as {other!r} with the same options; "
                                    "nothing stored", summary, self.report(other))
            if name in self.names():
                raise DatasetExistsError(
                    f"dataset {name!r} already exists with other content",
                    f"delete it first (delete {name}) or choose another name",
                )
            relation = source.relation_sql()
            if preset.name == "retailrocket":
                relation = staging.join_item_categories(relation, item_properties)
            check_columns(preset.mapping, source.columns + (("categoryid",) if preset.name == "retailrocket" else ()))
            with self._lock:
                result = self._ingest_locked(
                    source, relation, preset, chosen, policy, options, fingerprint, name,
                    source_name or source.original.name, report_progress,
                )
            if fmt == "auto":  # say what auto-detection chose, so a wrong guess is visible at once
                result = replace(result, message=f"{result.message} (format auto-detected: {chosen})")
            report_progress(1.0, result.message)
            return result
        finally:
            source.cleanup()

    def _ingest_locked(
        self, source: SourceFile, relation: str, preset: Preset, chosen: str, policy: str,
        options: IngestOptions, fingerprint: str, name: str, source_name: str, progress: Progress,
    ) -> IngestResult:
        table = f"ev_{fingerprint[:16]}"
        rejects = f"rj_{fingerprint[:16]}"
        cur = self.cursor()
        order_key = str(self.path.resolve())
        _relax_row_order(cur, order_key)
        try:
            cur.execute("BEGIN TRANSACTION")
            progress(0.1, "reading and validating rows")
            for tmp in ("ic_stage", "ic_reject_errors", "ic_reject_scans"):
                cur.execute(f"DROP TABLE IF EXISTS {tmp}")
            try:
                # A real table (not TEMP): on success it is renamed into place instead of copied.
                cur.execute(f"CREATE TABLE ic_stage AS {classified_sql(relation, preset.mapping, options)}")
            except duckdb.Error as exc:
                raise staging.read_error(exc, source) from None
            progress(0.55, "repairing and counting rejects")
            staging.check_encoding(cur, source)
            malformed = staging.malformed_rows(cur)
            repaired: dict[str, int] = {}
            filled = staging.fill_categories(cur)
            if filled:
                repaired["category_filled_from_item"] = filled
            cur.execute("UPDATE ic_stage SET reason = 'missing_category' WHERE reason IS NULL AND category IS NULL")
            bad_values = staging.count(cur, "SELECT count(*) FROM ic_stage WHERE reason IS NULL "
                                            "AND raw_value IS NOT NULL AND value IS NULL")
            if bad_values:
                repaired["value_unparseable_set_null"] = bad_values
            counts = dict(cur.execute("SELECT coalesce(reason, '') , count(*) FROM ic_stage GROUP BY 1").fetchall())
            clean = int(counts.pop("", 0))
            rejected = {r: int(n) for r, n in sorted(counts.items(), key=lambda kv: -kv[1])}
            if malformed:
                rejected = {"malformed_row": malformed, **rejected}
            if options.pseudonymize_key_env:
                progress(0.6, "pseudonymising user ids")
                staging.pseudonymize_stage(cur, pseudonymizer_key(options.pseudonymize_key_env))
            progress(0.65, "writing events")
            duplicates = staging.drop_duplicates(cur) if policy == "drop" else 0
            if duplicates:
                rejected["duplicate"] = duplicates
            kept = clean - duplicates
            rows_read = clean + sum(n for r, n in rejected.items() if r != "duplicate")
            examples = staging.examples(cur, raw_lines=not options.pseudonymize_key_env)
            report = RejectReport(rows_read=rows_read, rows_kept=kept, rejected=rejected, repaired=repaired,
                                  duplicates_policy=policy, format=chosen, examples=examples)
            if kept == 0:
                raise NoUsableRowsError(
                    f"no usable rows in {source_name!r} ({report.summary_line()})",
                    "check the format and the column/behaviour mapping; nothing was stored",
                )
            cur.execute(
                f'CREATE TABLE "{rejects}" AS SELECT reason, user_id, item_id, category, raw_behavior AS behavior, '
                f"raw_ts AS ts, raw_value AS value FROM ic_stage WHERE reason IS NOT NULL "
                f"ORDER BY reason, {staging.EXAMPLE_ORDER} LIMIT {REJECTS_KEPT}"
            )
            if sum(counts.values()):
                cur.execute("DELETE FROM ic_stage WHERE reason IS NOT NULL")
            for column in ("reason", "raw_behavior", "raw_ts", "raw_value"):
                cur.execute(f"ALTER TABLE ic_stage DROP COLUMN {column}")
            cur.execute(f'ALTER TABLE ic_stage RENAME TO "{table}"')
            progress(0.85, "summarising")
            summary = staging.summary(cur, table)
            cur.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [name, table, source.sha256, fingerprint, source_name, chosen, json.dumps(preset.mapping.to_dict()),
                 json.dumps({**options.to_dict(), "duplicates": policy}), json.dumps(report.to_dict()),
                 json.dumps(summary), datetime.now(UTC).replace(tzinfo=None)],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            _restore_row_order(cur, order_key)
            cur.close()
        message = f"stored {name!r}: {report.summary_line()}"
        return IngestResult(name, True, message, {"name": name, **summary, "rejected": rejected,
                                                   "repaired": repaired}, report)

    def ingest_frame(self, events: pd.DataFrame, *, name: str, fmt: str = "generic",
                     mapping: ColumnMapping | None = None, options: IngestOptions | None = None,
                     workdir: Path | None = None, progress: Progress | None = None) -> IngestResult:
        """Ingest an in-memory frame (e.g. synthetic data) through the same validation path."""
        import tempfile

        mapping = mapping or ColumnMapping(user_id="user_id", item_id="item_id", category="category",
                                           behavior="behavior", ts="ts", value="value" if "value" in events else None)
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            path = Path(tmp) / f"{name}.parquet"
            events.astype({c: "string" for c in events.columns if c != "ts"}).to_parquet(path, index=False)
            return self.ingest(path, name=name, fmt=fmt, mapping=mapping, options=options, progress=progress,
                               source_name=f"{name} (in-memory frame)")


# Stored row order carries no meaning (every reader sorts or groups), and keeping it makes DuckDB
# serialise the writes of text columns: about half the ingest time. The setting belongs to the
# whole database (every cursor and connection on the file), so while any ingest on a file runs it
# is off for all of them, and the last ingest to end turns it back on (DuckDB's default).
_ORDER_LOCK = threading.Lock()
_INGESTS_RUNNING: dict[str, int] = {}


def _relax_row_order(cur: duckdb.DuckDBPyConnection, key: str) -> None:
    with _ORDER_LOCK:
        if not _INGESTS_RUNNING.get(key):
            cur.execute("SET preserve_insertion_order = false")
        _INGESTS_RUNNING[key] = _INGESTS_RUNNING.get(key, 0) + 1


def _restore_row_order(cur: duckdb.DuckDBPyConnection, key: str) -> None:
    with _ORDER_LOCK:
        _INGESTS_RUNNING[key] -= 1
        if _INGESTS_RUNNING[key]:
            return
        del _INGESTS_RUNNING[key]
        # A connection that the failure invalidated cannot be reset: let the original error through.
        with contextlib.suppress(duckdb.Error):
            cur.execute("SET preserve_insertion_order = true")


def _resolve_format(source: SourceFile, fmt: str, mapping: ColumnMapping | None, year: int) -> tuple[Preset, str]:
    if fmt == "generic" or (fmt == "auto" and mapping is not None):
        if mapping is None:
            raise MissingColumnsError(
                "format 'generic' needs a column mapping",
                "pass --map user_id=COL --map category=COL --map ts=COL (and behavior=COL or --behavior-all)",
            )
        return Preset("generic", "user mapping", source.columns, mapping), "generic"
    if fmt == "auto":
        preset = detect_preset(list(source.columns), list(source.first_row) if source.first_row else None, year=year)
    else:
        preset = get_preset(fmt, year=year)
    if not source.has_header and len(source.columns) == len(preset.header):
        # Header-less file of a known format: name its columns as the preset does.
        source_cols = preset.header
        object.__setattr__(source, "columns", source_cols)
    return with_header_names(preset, list(source.columns)), preset.name


def _fingerprint(sha: str, prop_hashes: list[str], fmt: str, mapping: ColumnMapping, options: IngestOptions,
                 policy: str, key_id: str | None = None) -> str:
    identity = {"sha": sha, "props": prop_hashes, "format": fmt, "mapping": mapping.to_dict(),
                "options": {**options.to_dict(), "duplicates": policy, "encoding": None}}
    if key_id:
        identity["key_id"] = key_id
    blob = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
