"""The ingest pipeline: one raw file -> one stored dataset, in one transaction of the store.

Outside the store's write lock: hash, sniff, resolve the format, compute the fingerprint (the
slow reading of the file is DuckDB's, inside). Inside it: the name and fingerprint checks again
(another session may have stored the same file or name meanwhile), then stage, repair, count,
de-duplicate and rename the staging table into place. A pseudonymised ingest stages and hashes
in this process and writes in a fresh one (``ingest.isolated``): raw ids never reach the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from interest_core.config import IngestOptions
from interest_core.errors import DatasetExistsError, MissingColumnsError, NoUsableRowsError
from interest_core.ingest import isolated, staging
from interest_core.ingest.archives import literal_paths
from interest_core.ingest.cleaning import check_columns
from interest_core.ingest.formats import ColumnMapping, Preset, detect_preset, get_preset, with_header_names
from interest_core.ingest.isolated import Plan, Stage
from interest_core.ingest.privacy import pseudonymizer_key
from interest_core.ingest.report import RejectReport
from interest_core.ingest.sources import SourceFile, open_source, sha256_file
from interest_core.store import IngestResult, Progress, check_name, drop_derived

if TYPE_CHECKING:
    from interest_core.store import Store

REJECTS_KEPT = 10_000
STAGE_TABLES = ("ic_stage", "ic_reject_errors", "ic_reject_scans")


def _noop(_fraction: float, _message: str) -> None:
    return None


def ingest(
    store: Store,
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
    max_decompressed_bytes: int | None = None,
) -> IngestResult:
    """Read, validate and store one events file as dataset ``name``.

    ``max_decompressed_bytes`` caps what a .gz/.zip may inflate to (DecompressedTooLargeError):
    the app sets it, so a small upload cannot fill the disk. Paths are read literally.
    """
    store.check_writable()
    check_name(name)
    options = options or IngestOptions()
    report_progress = progress or _noop
    key_id = None
    if options.pseudonymize_key_env:  # a missing key fails before any reading
        key = pseudonymizer_key(options.pseudonymize_key_env)
        # Another key gives other pseudonyms, so another dataset (the key itself is not stored).
        key_id = hmac.new(key, b"interest_core dataset key id", hashlib.sha256).hexdigest()[:16]
    report_progress(0.02, "hashing and sniffing the file")
    source = open_source(path, encoding=options.encoding, max_decompressed_bytes=max_decompressed_bytes)
    try:
        preset, chosen = _resolve_format(source, fmt, mapping, year)
        policy = options.duplicates if options.duplicates != "auto" else preset.default_duplicates
        prop_hashes = [sha256_file(Path(p)) for p in item_properties]
        fingerprint = _fingerprint(source.sha256, prop_hashes, chosen, preset.mapping, options, policy, key_id)
        existing = _stored_as(store, name, fingerprint)  # answered early, without the write lock
        if existing is not None:
            return existing
        plan = Plan(name, fingerprint, source.sha256, source_name or source.original.name, chosen, preset.mapping,
                    options, policy)
        with literal_paths(item_properties) as props:
            relation, columns = _relation(source, preset, props)
            check_columns(preset.mapping, columns)
            if options.pseudonymize_key_env and not store.in_memory:
                # The process that read raw ids never writes the file (see ingest.isolated).
                result = isolated.ingest(store, source, relation, plan, report_progress)
            else:
                sql, params = staging.stage_sql(relation, preset.mapping, options)
                result = write_dataset(store, plan, Stage(sql, params, source), report_progress)
        if fmt == "auto":  # say what auto-detection chose, so a wrong guess is visible at once
            result = replace(result, message=f"{result.message} (format auto-detected: {chosen})")
        report_progress(1.0, result.message)
        return result
    finally:
        source.cleanup()


def _stored_as(store: Store, name: str, fingerprint: str,
               cur: duckdb.DuckDBPyConnection | None = None) -> IngestResult | None:
    """The dataset already holding this content (None), or DatasetExistsError for a taken name."""
    with contextlib.ExitStack() as stack:
        if cur is None:
            cur = stack.enter_context(store.reading())
        found = cur.execute("SELECT name FROM datasets WHERE fingerprint = ?", [fingerprint]).fetchone()
        if found:
            other = str(found[0])
            info = store._record(other, cur)
            summary = {**json.loads(info["summary"]), "name": other}
            report = RejectReport.from_dict(json.loads(info["report"]))
            summary.update(rejected=report.rejected, repaired=report.repaired)
            return IngestResult(other, False, f"this file was already stored as {other!r} with the same options; "
                                "nothing stored", summary, report)
        if cur.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone():
            raise DatasetExistsError(
                f"dataset {name!r} already exists with other content",
                f"delete it first (delete {name}) or choose another name",
            )
    return None


def _relation(source: SourceFile, preset: Preset, item_properties: Sequence[Path]) -> tuple[str, tuple[str, ...]]:
    """The source relation and its columns; RetailRocket's events get their category from item_properties."""
    relation = source.relation_sql()
    if preset.name != "retailrocket":
        return relation, source.columns
    return staging.join_item_categories(relation, item_properties), (*source.columns, "categoryid")


def write_dataset(store: Store, plan: Plan, stage: Stage, progress: Progress) -> IngestResult:
    """Under the store's write lock: the checks again (another session may have stored the same
    file or name meanwhile), then stage, repair, count, de-duplicate and catalog the dataset."""
    with store.writing() as cur:
        existing = _stored_as(store, plan.name, plan.fingerprint, cur)
        if existing is not None:
            return existing
        return _ingest_locked(store, cur, plan, stage, progress)


def _ingest_locked(store: Store, cur: duckdb.DuckDBPyConnection, plan: Plan, stage: Stage,
                   progress: Progress) -> IngestResult:
    name, options, policy = plan.name, plan.options, plan.policy
    table = f"ev_{plan.fingerprint[:16]}"
    rejects = f"rj_{plan.fingerprint[:16]}"
    order_key = str(store.path.resolve())
    _relax_row_order(cur, order_key)
    try:
        cur.execute("BEGIN TRANSACTION")
        progress(0.1, "reading and validating rows")
        for tmp in STAGE_TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {tmp}")
        try:
            # A real table (not TEMP): on success it is renamed into place instead of copied.
            cur.execute(f"CREATE TABLE ic_stage AS {stage.sql}", stage.params)
        except duckdb.Error as exc:
            if stage.source is None:
                raise
            raise staging.read_error(exc, stage.source) from None
        # Committed alone: deleting rejected or duplicate rows from a table created in the same
        # transaction makes DuckDB rewrite the whole table at COMMIT (8 CPU s per 10 M rows), while
        # in a committed table a delete only marks rows. The rest is one transaction again; the
        # staging table is dropped on failure, or by the next ingest if this process dies here.
        cur.execute("COMMIT")
        cur.execute("BEGIN TRANSACTION")
        progress(0.55, "repairing and counting rejects")
        malformed, malformed_lines = stage.malformed, stage.malformed_lines
        if stage.source is not None:  # the file was read here: its reader's rejects are here
            staging.check_encoding(cur, stage.source)
            malformed = staging.malformed_rows(cur)
            malformed_lines = staging.malformed_lines(cur, raw_lines=not options.pseudonymize_key_env)
        repaired: dict[str, int] = {}
        bad_values_sql = "count(*) FILTER (WHERE reason IS NULL AND raw_value IS NOT NULL AND value IS NULL)"
        # One scan answers whether the category repairs are needed at all (most files: no).
        census = cur.execute("SELECT count(*) FILTER (WHERE reason IS NULL AND category IS NULL), "
                             f"{bad_values_sql} FROM ic_stage").fetchone()
        no_category, bad_values = (int(census[0]), int(census[1])) if census else (0, 0)
        if no_category:
            filled = staging.fill_categories(cur)
            if filled:
                repaired["category_filled_from_item"] = filled
            cur.execute("UPDATE ic_stage SET reason = 'missing_category' WHERE reason IS NULL AND category IS NULL")
            bad_values = staging.count(cur, f"SELECT {bad_values_sql} FROM ic_stage")
        if bad_values:
            repaired["value_unparseable_set_null"] = bad_values
        counts = dict(cur.execute("SELECT coalesce(reason, '') , count(*) FROM ic_stage GROUP BY 1").fetchall())
        clean = int(counts.pop("", 0))
        rejected = {r: int(n) for r, n in sorted(counts.items(), key=lambda kv: -kv[1])}
        if malformed:
            rejected = {"malformed_row": malformed, **rejected}
        progress(0.65, "writing events")
        duplicates = staging.drop_duplicates(cur) if policy == "drop" else 0
        if duplicates:
            rejected["duplicate"] = duplicates
        kept = clean - duplicates
        rows_read = clean + sum(n for r, n in rejected.items() if r != "duplicate")
        examples = staging.examples(cur, malformed_lines)
        report = RejectReport(rows_read=rows_read, rows_kept=kept, rejected=rejected, repaired=repaired,
                              duplicates_policy=policy, format=plan.format, examples=examples)
        if kept == 0:
            raise NoUsableRowsError(
                f"no usable rows in {plan.source_name!r} ({report.summary_line()})",
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
        drop_derived(cur, name)  # left by an earlier dataset of this name: never served for this one
        cur.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, table, plan.source_sha256, plan.fingerprint, plan.source_name, plan.format,
             json.dumps(plan.mapping.to_dict()),
             json.dumps({**options.to_dict(), "duplicates": policy}), json.dumps(report.to_dict()),
             json.dumps(summary), datetime.now(UTC).replace(tzinfo=None)],
        )
        cur.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        with contextlib.suppress(duckdb.Error):
            cur.execute("DROP TABLE IF EXISTS ic_stage")
        raise
    finally:
        _restore_row_order(cur, order_key)
    message = f"stored {name!r}: {report.summary_line()}"
    return IngestResult(name, True, message, {"name": name, **summary, "rejected": rejected,
                                               "repaired": repaired}, report)


def ingest_frame(store: Store, events: pd.DataFrame, *, name: str, fmt: str = "generic",
                 mapping: ColumnMapping | None = None, options: IngestOptions | None = None,
                 workdir: Path | None = None, progress: Progress | None = None) -> IngestResult:
    """Ingest an in-memory frame (e.g. synthetic data) through the same validation path."""
    store.check_writable()
    mapping = mapping or ColumnMapping(user_id="user_id", item_id="item_id", category="category",
                                       behavior="behavior", ts="ts", value="value" if "value" in events else None)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "frame.parquet"
        events.astype({c: "string" for c in events.columns if c != "ts"}).to_parquet(path, index=False)
        return ingest(store, path, name=name, fmt=fmt, mapping=mapping, options=options, progress=progress,
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
        object.__setattr__(source, "columns", preset.header)
    return with_header_names(preset, list(source.columns)), preset.name


def _fingerprint(sha: str, prop_hashes: list[str], fmt: str, mapping: ColumnMapping, options: IngestOptions,
                 policy: str, key_id: str | None = None) -> str:
    identity = {"sha": sha, "props": prop_hashes, "format": fmt, "mapping": mapping.to_dict(),
                "options": {**options.to_dict(), "duplicates": policy, "encoding": None}}
    if key_id:
        identity["key_id"] = key_id
    blob = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
