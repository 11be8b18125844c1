"""The embedded store: a DuckDB file holding datasets by name, content-addressed by sha256.

Each dataset is one table of canonical events plus a catalog row (mapping, options, report,
summary). An ingest (interest_core.ingest.pipeline) runs in one transaction: a refused file
leaves the store as it was. The file is shared with other processes (interest_core.store_sharing):
reads open it read-only, writes take the write lock only while they write.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb
import pandas as pd

from interest_core import store_sharing
from interest_core.errors import DatasetNotFoundError, StoreError
from interest_core.ingest.formats import ColumnMapping
from interest_core.ingest.report import RejectReport

if TYPE_CHECKING:
    pass

DEFAULT_DB = Path(__file__).resolve().parent.parent / "data" / "interest.duckdb"
DB_ENV = "INTEREST_DB"  # overrides the default store path (tests and deployments)
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
Progress = Callable[[float, str], None]
CATALOG_DDL = """CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL, source_name VARCHAR, format VARCHAR, mapping JSON,
    options JSON, report JSON, summary JSON, created_at TIMESTAMP)"""
# Derived tables (interest_core.derived): listed here so that deleting a dataset drops them.
DERIVED_CATALOG = "derived_tables"
DERIVED_DDL = f"""CREATE TABLE IF NOT EXISTS {DERIVED_CATALOG} (
    dataset VARCHAR NOT NULL, freq VARCHAR NOT NULL, kind VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
    weights JSON, rows BIGINT, built_at TIMESTAMP, seconds DOUBLE, PRIMARY KEY (dataset, freq, kind))"""


@dataclass(frozen=True)
class IngestResult:
    name: str
    created: bool
    message: str
    summary: dict[str, Any]
    report: RejectReport


@dataclass(frozen=True)
class DatasetInfo:
    """One stored dataset as the catalog describes it (what `describe` and the listing show)."""

    name: str
    format: str
    source: str
    sha256: str
    created_at: str
    rows: int
    users: int
    items: int
    categories: int
    start: str
    end: str
    behaviors: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    duplicates_policy: str = ""

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> DatasetInfo:
        """From a catalog row; a row that does not parse is a named error, not a KeyError later."""
        try:
            summary, report = json.loads(rec["summary"]), json.loads(rec["report"])
            return cls(
                name=str(rec["name"]), format=str(rec["format"]), source=str(rec["source_name"]),
                sha256=str(rec["source_sha256"]), created_at=str(rec["created_at"]),
                rows=int(summary["rows"]), users=int(summary["users"]), items=int(summary["items"]),
                categories=int(summary["categories"]), start=str(summary["start"]), end=str(summary["end"]),
                behaviors={str(k): int(v) for k, v in summary["behaviors"].items()},
                rows_read=int(report["rows_read"]), rejected={str(k): int(v) for k, v in report["rejected"].items()},
                repaired={str(k): int(v) for k, v in report["repaired"].items()},
                duplicates_policy=str(report["duplicates_policy"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"the catalog entry of dataset {rec.get('name')!r} is damaged ({exc!r})",
                             "delete the dataset and ingest its file again") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        """Read-by-key for code written against the old dict (prefer the attribute)."""
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)


LISTING_COLUMNS = ["name", "format", "source", "rows", "users", "categories", "start", "end", "created_at"]


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise StoreError(
            f"dataset name {name!r} is not allowed",
            "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def default_db_path() -> Path:
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


@contextmanager
def _vanished_dataset() -> Iterator[None]:
    """A dataset's table that disappears under a query (deleted by another session): a plain named error."""
    try:
        yield
    except duckdb.CatalogException as exc:
        if not re.search(r"Table with name (ev|rj)_[0-9a-f]{16} does not exist", str(exc)):
            raise
        raise DatasetNotFoundError("this dataset was deleted (by another session or program) while it was open",
                                   "pick another dataset, or ingest the file again") from None


class _ReadCursor:
    """A cursor on the shared read connection; ``close`` ends its lease on the file."""

    def __init__(self, store: Store) -> None:
        self._lease = store.reading()
        self._cur: duckdb.DuckDBPyConnection | None = self._lease.__enter__()

    def __getattr__(self, name: str) -> Any:
        cur = self.__dict__.get("_cur")  # not self._cur: that would recurse before __init__ set it
        if cur is None:
            raise duckdb.ConnectionException("the cursor is closed")
        attr = getattr(cur, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            _ = self  # the lease lives until the call returns, even in `store.cursor().x().y()`
            return attr(*args, **kwargs)

        return call

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        with _vanished_dataset():
            self.__getattr__("execute")(sql, params or [])
        # Itself, not DuckDB's cursor: `store.cursor().execute(...).fetchone()` keeps the lease alive.
        return cast(duckdb.DuckDBPyConnection, self)

    def sql(self, sql: str, params: Any = None) -> duckdb.DuckDBPyRelation:
        with _vanished_dataset():
            return self.__getattr__("sql")(sql, params=params)

    def close(self) -> None:
        if self.__dict__.pop("_cur", None) is not None:
            self._lease.__exit__(None, None, None)

    def __del__(self) -> None:  # a cursor dropped without close() must not hold the file
        self.close()


class Store:
    """A DuckDB database file of datasets. Thread-safe, and shared with other processes.

    Nothing is held open between calls: each read opens the file read-only (shared with the
    process's other readers), each write opens it read-write for as long as it writes, waiting
    up to ``wait_s`` seconds (``$INTEREST_STORE_WAIT_S``, default 10) for another program's lock,
    then raising StoreBusyError. ``read_only=True`` refuses every write.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False,
                 wait_s: float | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        self.wait_s = store_sharing.default_wait_s() if wait_s is None else wait_s
        # ":memory:" (tests, scratch work): one private connection, nothing to share.
        self._memory = duckdb.connect() if str(path) == ":memory:" else None
        self._memory_lock = threading.Lock()
        if self._memory is not None:
            store_sharing.configure(self._memory, Path(tempfile.gettempdir()) / "interest-duckdb" /
                                    f"pid-{os.getpid()}")
            self._memory.execute(CATALOG_DDL)
        elif not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._has_catalog():
                with self.writing() as cur:
                    cur.execute(CATALOG_DDL)

    def _exists(self) -> bool:
        return self._memory is not None or self.path.exists()

    def _has_catalog(self) -> bool:
        if not self._exists():
            return False
        row = self.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'datasets' "
                         "AND database_name = current_database()")
        return bool(row["n"].iloc[0])

    # -- connection -------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reads (the file is open read-only while any reader of this process needs it)."""
        if self._memory is not None:
            with contextlib.closing(self._memory.cursor()) as cur:
                yield cur
            return
        if not self._exists():
            raise StoreError("the data store has not been created yet", "ingest a dataset first")
        with store_sharing.reading(self.path, self.wait_s) as cur:
            yield cur

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the only read-write connection, for one write (ingest, delete, derived tables)."""
        self.check_writable()
        if self._memory is not None:
            with self._memory_lock, contextlib.closing(self._memory.cursor()) as cur:
                yield cur
            return
        with store_sharing.writing(self.path, self.wait_s) as cur:
            yield cur

    @property
    def in_memory(self) -> bool:
        """A private ``:memory:`` store (one connection of this process, no file)."""
        return self._memory is not None

    def check_writable(self) -> None:
        if self.read_only:
            raise StoreError("this store was opened read-only", "open it without read_only to change it")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A read cursor that must be closed (it holds the file open for reads until then)."""
        return cast(duckdb.DuckDBPyConnection, _ReadCursor(self))

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        with self.reading() as cur:
            return cur.execute(sql, params or []).df()

    def close(self) -> None:
        """Nothing stays open between calls; kept so that ``with Store(...)`` reads naturally."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalog ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self._exists():
            return []
        return [str(n) for n in self.query("SELECT name FROM datasets ORDER BY name")["name"]]

    def datasets(self) -> list[DatasetInfo]:
        if not self._exists():
            return []
        frame = self.query("SELECT * FROM datasets ORDER BY name")
        return [DatasetInfo.from_record(rec) for rec in frame.to_dict("records")]

    def list(self) -> pd.DataFrame:
        rows = [{k: v for k, v in info.to_dict().items() if k in LISTING_COLUMNS} for info in self.datasets()]
        frame = pd.DataFrame(rows, columns=LISTING_COLUMNS)
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def _record(self, name: str, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
        if cur is None:
            with self.reading() as own:
                return self._record(name, own)
        frame = cur.execute("SELECT * FROM datasets WHERE name = ?", [name]).df()
        if frame.empty:
            known = [str(n) for (n,) in cur.execute("SELECT name FROM datasets ORDER BY name").fetchall()]
            raise DatasetNotFoundError(
                f"no dataset named {name!r} (stored: {', '.join(known) or 'none'})",
                "ingest it first or pick one of those",
            )
        return dict(frame.iloc[0].to_dict())

    def table(self, name: str) -> str:
        """The quoted table name holding a dataset's events (raises if unknown)."""
        return '"' + str(self._record(name)["table_name"]) + '"'

    def describe(self, name: str) -> DatasetInfo:
        return DatasetInfo.from_record(self._record(name))

    def report(self, name: str) -> RejectReport:
        return RejectReport.from_dict(json.loads(self._record(name)["report"]))

    def mapping(self, name: str) -> ColumnMapping:
        return ColumnMapping.from_dict(json.loads(self._record(name)["mapping"]))

    def fingerprint(self, name: str) -> str:
        return str(self._record(name)["fingerprint"])

    def rejected_rows(self, name: str) -> pd.DataFrame:
        """Up to 10,000 rejected rows with their reason (for the downloadable reject report)."""
        with self.reading() as cur:
            table = str(self._record(name, cur)["table_name"]).replace("ev_", "rj_", 1)
            return cur.execute(
                f'SELECT * FROM "{table}" ORDER BY reason, ts, user_id, item_id, category, behavior, value').df()

    def delete(self, name: str) -> None:
        """Drop a dataset and rewrite the file without it, so none of its values stay readable there."""
        self.check_writable()
        if self._memory is not None:
            with self.writing() as cur:
                _drop(cur, name, str(self._record(name, cur)["table_name"]))
            return
        with store_sharing.rewriting(self.path, self.wait_s) as (cur, new_path):
            _drop(cur, name, str(self._record(name, cur)["table_name"]))
            # Dropped tables leave their blocks in the file, readable, until reused: copy what
            # remains into a fresh file that then replaces this one.
            cur.execute(f"ATTACH {_sql_str(str(new_path))} AS ic_compact")
            current = cur.execute("SELECT current_database()").fetchone()
            cur.execute(f'COPY FROM DATABASE "{current[0] if current else "main"}" TO ic_compact')
            cur.execute("DETACH ic_compact")


def derived_prefix(events_table: str) -> str:
    """Derived tables of a dataset are named from its events table: ``ev_<fp>`` -> ``dv_<fp>_...``."""
    return "dv_" + events_table.removeprefix("ev_") + "_"


def drop_derived(cur: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the derived tables recorded for dataset ``name`` (inside the caller's transaction)."""
    found = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                        "AND database_name = current_database()", [DERIVED_CATALOG]).fetchone()
    if not (found and found[0]):
        return
    for (table,) in cur.execute(f"SELECT table_name FROM {DERIVED_CATALOG} WHERE dataset = ?", [name]).fetchall():
        cur.execute(f'DROP TABLE IF EXISTS "{table}"')
    cur.execute(f"DELETE FROM {DERIVED_CATALOG} WHERE dataset = ?", [name])


def _drop(cur: duckdb.DuckDBPyConnection, name: str, table: str) -> None:
    cur.execute("BEGIN TRANSACTION")
    try:
        drop_derived(cur, name)
        # A Spark-built dataset is a view over its Parquet folder (engines.parquet_catalog).
        view = cur.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [table]).fetchone()
        cur.execute(f'DROP {"VIEW" if view and view[0] else "TABLE"} IF EXISTS "{table}"')
        cur.execute(f'DROP TABLE IF EXISTS "{table.replace("ev_", "rj_", 1)}"')
        cur.execute("DELETE FROM datasets WHERE name = ?", [name])
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
