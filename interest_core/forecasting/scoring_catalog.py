"""Scored files registered in the store: a Parquet file of scores, readable through DuckDB by name.

``score --out scores.parquet --register NAME`` (either engine) writes the pair scores as
Parquet and records them here, as a Spark-built dataset's events are recorded
(``engines.parquet_catalog``): a DuckDB view over ``read_parquet`` plus a catalog row (the
model, the scored file, counts and warnings). The app, a notebook or any DuckDB client then
reads ``SELECT * FROM "sc_NAME"`` or ``scores_relation(store, NAME)``; the Parquet stays where
it was written (a local path, or an object-store URL DuckDB can read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.errors import DatasetNotFoundError
from interest_core.ingest.sources import sql_str
from interest_core.store import Store, check_name

SCORED_DDL = """CREATE TABLE IF NOT EXISTS scored (
    name VARCHAR PRIMARY KEY, view_name VARCHAR NOT NULL, location VARCHAR NOT NULL, model_dir VARCHAR,
    model VARCHAR, source_name VARCHAR, counts JSON, warnings JSON, created_at TIMESTAMP)"""
SCORE_COLUMNS = ("user_id", "category", "p_engage", "yhat", "cold_start")


@dataclass(frozen=True)
class ScoredFile:
    """One registered score file: its catalog row."""

    name: str
    view: str  # the DuckDB view over the Parquet (quote it: "sc_NAME")
    location: str
    model_dir: str
    model: str
    source_name: str
    counts: dict[str, int]
    warnings: tuple[str, ...]


def register_scores(store: Store, name: str, location: str | Path, *, model_dir: str, model: str,
                    source_name: str, counts: dict[str, int], warnings: tuple[str, ...] = ()) -> ScoredFile:
    """Record the Parquet of scores at ``location`` under ``name`` (a name scored before is replaced)."""
    check_name(name)
    where = str(location) if "://" in str(location) else str(Path(location).resolve())
    view = f"sc_{name}"
    with store.writing() as cur:
        cur.execute(SCORED_DDL)
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(f'CREATE OR REPLACE VIEW "{view}" AS SELECT {", ".join(SCORE_COLUMNS)} '
                        f"FROM read_parquet({sql_str(where)})")
            cur.execute("DELETE FROM scored WHERE name = ?", [name])
            cur.execute("INSERT INTO scored VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [name, view, where, model_dir, model, source_name, json.dumps(counts),
                         json.dumps(list(warnings)), datetime.now(UTC).replace(tzinfo=None)])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    return ScoredFile(name, view, where, model_dir, model, source_name, dict(counts), tuple(warnings))


def _has_catalog(store: Store) -> bool:
    if str(store.path) != ":memory:" and not store.path.exists():
        return False
    found = store.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'scored' "
                        "AND database_name = current_database()")
    return bool(found["n"].iloc[0])


def scored_files(store: Store) -> list[ScoredFile]:
    """Every registered score file, by name."""
    if not _has_catalog(store):
        return []
    rows = store.query("SELECT * FROM scored ORDER BY name").to_dict("records")
    return [_from_row(r) for r in rows]


def _from_row(row: dict[str, Any]) -> ScoredFile:
    return ScoredFile(str(row["name"]), str(row["view_name"]), str(row["location"]), str(row["model_dir"]),
                      str(row["model"]), str(row["source_name"]), json.loads(row["counts"]),
                      tuple(json.loads(row["warnings"])))


def scored_file(store: Store, name: str) -> ScoredFile:
    found = {s.name: s for s in scored_files(store)}
    if name not in found:
        raise DatasetNotFoundError(f"no scores registered as {name!r} (registered: {', '.join(found) or 'none'})",
                                   "score a file with --out FILE.parquet --register NAME first")
    return found[name]


def scores_relation(store: Store, name: str) -> str:
    """The quoted view to select the registered scores from."""
    return '"' + scored_file(store, name).view + '"'


def read_scores(store: Store, name: str) -> pd.DataFrame:
    """The registered scores (for tests and small files: pages should aggregate in SQL instead)."""
    return store.query(f"SELECT * FROM {scores_relation(store, name)} ORDER BY user_id, category")
