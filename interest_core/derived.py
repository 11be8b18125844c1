"""Derived data: what pages need of a dataset, built once per dataset and frequency inside the store.

Per frequency, three tables beside the events (named ``dv_<fingerprint>_<kind>_<freq>``):

- ``panel``: the rows of ``panel.build_panel`` over all users and categories (``panel.panel_sql``,
  the one definition), sorted by user so one user's rows are a short read;
- ``users``: one row per user: events, interest, behaviour counts, active periods, first and last
  active period, categories, the top category and its share of the user's interest;
- ``categories``: one row per (category, period): interest, events, users.

A build reads the events under a read lease (other sessions keep reading and the app keeps
working), writes Parquet files beside the store, and only then takes the write lock to load them
into tables, so the lock is held for seconds even on large logs. The catalog table
``derived_tables`` lists them; deleting a dataset (or ingesting a name again) drops them.
Other steps (fitting the models behind pages) join through ``register_step``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from interest_core.config import BehaviorWeights, PanelSpec
from interest_core.ingest.formats import BEHAVIORS
from interest_core.panel import panel_sql
from interest_core.periods import FREQ_PART, check_freq
from interest_core.store import DERIVED_CATALOG, DERIVED_DDL, Progress, Store, derived_prefix

KINDS: tuple[str, ...] = ("panel", "users", "categories")
DEFAULT_FREQS: tuple[str, ...] = ("D", "W", "M")


@dataclass(frozen=True)
class DerivedTable:
    """One derived table as the catalog lists it."""

    dataset: str
    freq: str
    kind: str
    table: str  # unquoted table name
    rows: int
    built_at: str
    seconds: float

    @property
    def relation(self) -> str:
        return f'"{self.table}"'


@dataclass(frozen=True)
class PrepareStep:
    """Work that ``prepare`` runs after the tables (e.g. fitting a page's model).

    ``run(store, dataset, freqs, progress)`` reports its own progress from 0 to 1; ``weight`` is
    its share of the whole bar, against 1.0 per frequency of tables.
    """

    name: str
    run: Callable[[Store, str, tuple[str, ...], Progress], None]
    weight: float = 1.0


_STEPS: dict[str, PrepareStep] = {}
_STEPS_LOCK = threading.Lock()


def register_step(step: PrepareStep) -> None:
    """Add (or replace, by name) a step that every ``prepare`` without explicit ``steps`` runs."""
    with _STEPS_LOCK:
        _STEPS[step.name] = step


def registered_steps() -> tuple[PrepareStep, ...]:
    with _STEPS_LOCK:
        return tuple(_STEPS.values())


def _noop(_fraction: float, _message: str) -> None:
    return None


def table_name(events_table: str, kind: str, freq: str) -> str:
    """``ev_<fp>`` -> ``dv_<fp>_<kind>_<freq>`` (``h`` spelled ``hour``: names are case-insensitive)."""
    return f"{derived_prefix(events_table)}{kind}_{FREQ_PART[check_freq(freq)]}"


def _weights_json(weights: BehaviorWeights) -> str:
    return json.dumps(weights.as_dict(), sort_keys=True)


def tables(store: Store, dataset: str) -> list[DerivedTable]:
    """The derived tables of a dataset that are current (built from its stored events)."""
    events_table = store.table(dataset).strip('"')
    with store.reading() as cur:
        if not _has_catalog(cur):
            return []
        rows = cur.execute(
            f"SELECT dataset, freq, kind, table_name, rows, CAST(built_at AS VARCHAR), seconds FROM {DERIVED_CATALOG} "
            "WHERE dataset = ? AND starts_with(table_name, ?) ORDER BY freq, kind",
            [dataset, derived_prefix(events_table)]).fetchall()
    return [DerivedTable(str(d), str(f), str(k), str(t), int(n), str(b), float(s)) for d, f, k, t, n, b, s in rows]


def relation(store: Store, dataset: str, freq: str, kind: str = "panel", *,
             weights: BehaviorWeights | None = None) -> str | None:
    """The quoted name of a derived table of ``dataset`` at ``freq``, or None when it is not built
    (or was built with other behaviour weights): callers then fall back to the events."""
    if kind not in KINDS:
        raise ValueError(f"unknown derived table kind {kind!r}; use one of {', '.join(KINDS)}")
    events_table = store.table(dataset).strip('"')
    name = table_name(events_table, kind, freq)
    with store.reading() as cur:
        if not _has_catalog(cur):
            return None
        row = cur.execute(f"SELECT weights FROM {DERIVED_CATALOG} WHERE dataset = ? AND table_name = ?",
                          [dataset, name]).fetchone()
    if row is None or json.loads(row[0]) != json.loads(_weights_json(weights or BehaviorWeights())):
        return None
    return f'"{name}"'


def panel_relation(store: Store, dataset: str, freq: str, *, weights: BehaviorWeights | None = None) -> str | None:
    """The stored panel of ``dataset`` at ``freq`` (columns of ``panel.build_panel``), or None."""
    return relation(store, dataset, freq, "panel", weights=weights)


def users_relation(store: Store, dataset: str, freq: str) -> str | None:
    return relation(store, dataset, freq, "users")


def categories_relation(store: Store, dataset: str, freq: str) -> str | None:
    return relation(store, dataset, freq, "categories")


def _has_catalog(cur: duckdb.DuckDBPyConnection) -> bool:
    row = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                      "AND database_name = current_database()", [DERIVED_CATALOG]).fetchone()
    return bool(row and row[0])


def prepare(store: Store, dataset: str, *, freqs: Iterable[str] | None = None, progress: Progress | None = None,
            steps: Sequence[PrepareStep] | None = None, weights: BehaviorWeights | None = None,
            force: bool = False) -> None:
    """Build the derived tables of ``dataset`` for each frequency (default D, W, M), then run ``steps``
    (default: the registered ones). Tables already built with the same weights, and the page summaries, are
    kept unless ``force``; so a second call returns at once."""
    store.check_writable()
    report = progress or _noop
    chosen = tuple(dict.fromkeys(check_freq(f) for f in (freqs if freqs is not None else DEFAULT_FREQS)))
    extra = tuple(registered_steps() if steps is None else steps)
    weights = weights or BehaviorWeights()
    total = len(chosen) + sum(s.weight for s in extra) or 1.0
    done = 0.0
    if force:  # everything again: the whole-dataset results too (derived_results keeps them across tables)
        from interest_core.derived_results import forget

        forget(store, dataset)
    for freq in chosen:
        def sub(fraction: float, message: str, base: float = done) -> None:
            report(min(1.0, (base + fraction) / total), message)

        if force or any(relation(store, dataset, freq, k, weights=weights) is None for k in KINDS):
            _build(store, dataset, freq, weights, sub)
        else:
            sub(1.0, f"{dataset}: {freq} tables already built")
        done += 1.0
    for step in extra:
        def sub_step(fraction: float, message: str, base: float = done, w: float = step.weight) -> None:
            report(min(1.0, (base + fraction * w) / total), message)

        step.run(store, dataset, chosen, sub_step)
        done += step.weight
    report(1.0, f"{dataset}: derived data ready")


def _spill_folder(store: Store) -> Path:
    if str(store.path) == ":memory:":
        return Path(tempfile.mkdtemp(prefix="interest-derived-"))
    return Path(tempfile.mkdtemp(prefix=f".{store.path.name}.derived-", dir=store.path.parent))


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _build(store: Store, dataset: str, freq: str, weights: BehaviorWeights, progress: Progress) -> None:
    started = time.perf_counter()
    events = store.table(dataset)
    names = {k: table_name(events.strip('"'), k, freq) for k in KINDS}
    folder = _spill_folder(store)
    files = {k: folder / f"{k}.parquet" for k in KINDS}
    try:
        progress(0.05, f"{dataset}: building the {freq} panel")
        with store.reading() as cur:  # a read lease: other sessions keep reading meanwhile
            spec = PanelSpec(freq=check_freq(freq), weights=weights)
            # share NULL (a user's period of zero-weight events) is 0, as build_panel returns it.
            cur.execute(f"COPY (SELECT * REPLACE (coalesce(share, 0.0) AS share) FROM ({panel_sql(spec, events)}) "
                        "ORDER BY user_id, category, period) "
                        f"TO {_sql_path(files['panel'])} (FORMAT parquet)")
        progress(0.6, f"{dataset}: per-user and per-category features ({freq})")
        _features(files)
        progress(0.85, f"{dataset}: saving the {freq} tables")
        rows: dict[str, int] = {}
        with store.writing() as cur:  # the write lock, only while loading the finished files
            cur.execute(DERIVED_DDL)
            cur.execute("BEGIN TRANSACTION")
            try:
                if store.table(dataset) != events:  # deleted or replaced while we built
                    cur.execute("ROLLBACK")
                    return
                built_at = datetime.now(UTC).replace(tzinfo=None)
                seconds = time.perf_counter() - started
                for kind, name in names.items():
                    source = f"read_parquet({_sql_path(files[kind])})"
                    cur.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM {source}')
                    count = cur.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                    rows[kind] = int(count[0]) if count else 0
                    cur.execute(f"DELETE FROM {DERIVED_CATALOG} WHERE dataset = ? AND freq = ? AND kind = ?",
                                [dataset, freq, kind])
                    cur.execute(f"INSERT INTO {DERIVED_CATALOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [dataset, freq, kind, name, _weights_json(weights), rows[kind], built_at, seconds])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        progress(1.0, f"{dataset}: {freq} panel of {rows.get('panel', 0):,} rows ready")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _features(files: dict[str, Path]) -> None:
    """Per-user and per-(category, period) tables from the panel file (far smaller than the events)."""
    counts = ", ".join(f"CAST(sum(n_{b}) AS BIGINT) AS n_{b}" for b in BEHAVIORS)
    events = "CAST(sum(" + " + ".join(f"n_{b}" for b in BEHAVIORS) + ") AS BIGINT)"
    con = duckdb.connect()
    try:
        from interest_core.store_sharing import configure

        configure(con, files["panel"].parent / "spill")
        panel = f"read_parquet({_sql_path(files['panel'])})"
        con.execute(f"""COPY (
            WITH per_cat AS (
              SELECT user_id, category, sum(interest) AS interest FROM {panel} GROUP BY ALL
            ), top AS (
              SELECT user_id, arg_max(category, (interest, category)) AS top_category,
                     max(interest) / nullif(sum(interest), 0) AS top_share, count(*) AS categories
              FROM per_cat GROUP BY user_id
            ), per_user AS (
              SELECT user_id, {events} AS events, sum(interest) AS interest, {counts},
                     count(DISTINCT period) AS periods, min(period) AS first_period, max(period) AS last_period
              FROM {panel} GROUP BY user_id
            )
            SELECT u.*, t.categories, t.top_category, coalesce(t.top_share, 0.0) AS top_share
            FROM per_user u JOIN top t USING (user_id) ORDER BY user_id
        ) TO {_sql_path(files['users'])} (FORMAT parquet)""")
        con.execute(f"""COPY (
            SELECT category, period, sum(interest) AS interest, {events} AS events, count(*) AS users
            FROM {panel} GROUP BY ALL ORDER BY period, category
        ) TO {_sql_path(files['categories'])} (FORMAT parquet)""")
    finally:
        con.close()


def _page_summaries(store: Store, dataset: str, freqs: tuple[str, ...], progress: Progress) -> None:
    from interest_core.derived_results import summarize

    summarize(store, dataset, freqs, progress)


# The small whole-dataset results pages read (KPIs, category totals, learned groups: derived_results.py).
register_step(PrepareStep("page summaries", _page_summaries, weight=0.5))
