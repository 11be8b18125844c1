"""Every aggregation of events, in DuckDB: the interest panel and the summaries pages draw.

All SQL over events lives here. The panel's SQL (``panel_sql``) is spelled through a dialect, so
the Spark engine runs the same definition (``engines.spark_panel``). Functions take either a
Store and a dataset name, or an events DataFrame (``events_source``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from interest_core.config import BehaviorWeights, PanelSpec
from interest_core.engines.dialect import DUCKDB, Dialect
from interest_core.ingest.formats import BEHAVIORS
from interest_core.periods import FREQ_PART, check_freq
from interest_core.store import Store

# Arrow text -> pandas' default text dtype (Arrow-backed, NaN for missing), without a copy.
_ARROW_TEXT = {t: pd.StringDtype("pyarrow", na_value=np.nan)
               for t in (pa.string(), pa.large_string(), pa.string_view())}

PANEL_COLUMNS: tuple[str, ...] = (
    "user_id", "category", "period", "interest", *(f"n_{b}" for b in BEHAVIORS), "share",
)


@dataclass
class EventsSource:
    """Where events are: a stored dataset's table, or an in-memory frame on a private connection."""

    con: duckdb.DuckDBPyConnection | Store  # a Store leases a read cursor per query (store sharing)
    relation: str
    owned: bool = False
    # Frames registered on every cursor: DuckDB registrations are per connection, and each
    # query runs on its own cursor (thread safety), so a frame source re-registers each time.
    frames: dict[str, pd.DataFrame] | None = None

    def query(self, sql: str, params: Sequence[Any] | None = None, frames: dict[str, pd.DataFrame] | None = None
              ) -> pd.DataFrame:
        cur = self.con.cursor()
        try:
            cur.execute("SET TimeZone='UTC'")
            for name, frame in {**(self.frames or {}), **(frames or {})}.items():
                cur.register(name, frame)
            return cur.execute(sql.replace("{events}", self.relation), params or []).df()
        finally:
            cur.close()

    def execute(self, sql: str, params: Sequence[Any] | None = None,
                frames: dict[str, pd.DataFrame] | None = None) -> list[tuple[Any, ...]]:
        """Run a statement (a COPY, a count) and return its rows: for results that stay small."""
        cur = self.con.cursor()
        try:
            cur.execute("SET TimeZone='UTC'")
            for name, frame in {**(self.frames or {}), **(frames or {})}.items():
                cur.register(name, frame)
            return cur.execute(sql.replace("{events}", self.relation), params or []).fetchall()
        finally:
            cur.close()

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None,
                    frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """``query`` for large results of plain columns (text, numbers, naive timestamps).

        Rows come through Arrow, and text stays Arrow-backed in pandas: on bench/ingest.py's 10 M-row
        panel this is about 3x faster than ``.df()`` at a lower peak memory. DECIMAL and HUGEINT
        columns would arrive as Python objects here, so queries cast them to DOUBLE.
        """
        cur = self.con.cursor()
        try:
            cur.execute("SET TimeZone='UTC'")
            for name, frame in {**(self.frames or {}), **(frames or {})}.items():
                cur.register(name, frame)
            # Streamed in batches: DuckDB never holds the whole result beside the Arrow copy.
            reader = cur.sql(sql.replace("{events}", self.relation), params=params or None).to_arrow_reader()
            table = reader.read_all()
            # split_blocks + self_destruct: columns move into pandas one by one (no doubled peak).
            return table.to_pandas(types_mapper=_ARROW_TEXT.get, split_blocks=True, self_destruct=True)
        finally:
            cur.close()


def events_source(store_or_events: Store | pd.DataFrame, dataset: str | None = None) -> EventsSource:
    if isinstance(store_or_events, Store):
        if dataset is None:
            raise ValueError("pass the dataset name along with the store")
        return EventsSource(store_or_events, store_or_events.table(dataset))
    return EventsSource(duckdb.connect(), "ic_events", owned=True, frames={"ic_events": store_or_events})


def _weight_sql(weights: BehaviorWeights) -> str:
    # DOUBLE, not the DECIMAL a literal 1.0 would be: a DECIMAL sum runs in 128-bit arithmetic.
    whens = " ".join(f"WHEN '{b}' THEN CAST({float(w)!r} AS DOUBLE)" for b, w in weights.as_dict().items())
    return f"CASE behavior {whens} ELSE CAST(0 AS DOUBLE) END"


def panel_sql(spec: PanelSpec, events: str, *, where: str = "TRUE", grouped: bool = False,
              dialect: Dialect = DUCKDB) -> str:
    """The panel rule: weighted interest, counts per behaviour and share per (user, category, period).

    ``grouped``: categories are folded through a table ``ic_groups`` (category, group).
    """
    cat_expr, join = "category", ""
    if grouped:
        join = "LEFT JOIN ic_groups g ON e.category = g.category"
        cat_expr = f"coalesce(g.{dialect.ident('group')}, e.category)"
    counts = ", ".join(f"count(*) FILTER (WHERE behavior = '{b}') AS n_{b}" for b in BEHAVIORS)
    # Interest from the counts (weight x count per behaviour) rather than a weight per event: one
    # CASE per event less, about a fifth of the panel's time; equal for the integer-valued weights.
    weights = spec.weights.as_dict()
    interest = " + ".join(f"CAST({float(weights.get(b, 0.0))!r} AS DOUBLE) * n_{b}" for b in BEHAVIORS)
    n_cols = ", ".join(f"n_{b}" for b in BEHAVIORS)
    period = dialect.trunc(FREQ_PART[spec.freq], "e.ts")
    return f"""
        WITH counted AS (
          SELECT e.user_id, {cat_expr} AS category, {period} AS period, {counts}
          FROM (SELECT * FROM {events} WHERE {where}) e {join}
          GROUP BY ALL
        ), agg AS (
          SELECT user_id, category, period, {interest} AS interest, {n_cols} FROM counted
        ), totals AS (
          SELECT user_id, period, sum(interest) AS total FROM agg GROUP BY ALL
        )
        -- A join on per-user totals is cheaper than a window over millions of rows; callers sort if needed.
        SELECT agg.*, interest / nullif(total, 0) AS share FROM agg JOIN totals USING (user_id, period)"""


def _filters(start: Any, end: Any, users: Sequence[str] | None) -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    if start is not None:
        clauses.append("ts >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        clauses.append("ts < ?")
        params.append(pd.Timestamp(end).to_pydatetime())
    if users is not None:
        clauses.append("user_id IN (SELECT user_id FROM ic_users)")
    return " AND ".join(clauses), params


def build_panel(
    source: EventsSource,
    spec: PanelSpec = PanelSpec(),
    *,
    start: Any = None,
    end: Any = None,
    users: Sequence[str] | None = None,
    category_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Events -> long panel: user_id, category, period, interest, n_<behaviour>, share.

    ``end`` is exclusive (events strictly before it), so a backtest cutoff never leaks.
    ``category_map`` (category, group) folds categories into groups; unmapped ones keep their id.
    """
    where, params = _filters(start, end, users)
    frames: dict[str, pd.DataFrame] = {}
    if category_map is not None:
        frames["ic_groups"] = category_map[["category", "group"]].astype("string")
    if users is not None:
        frames["ic_users"] = pd.DataFrame({"user_id": pd.Series(list(users), dtype="string")})
    sql = panel_sql(spec, "{events}", where=where, grouped=category_map is not None)
    panel = source.query_arrow(sql, params, frames)
    panel = _typed(panel)
    if spec.decay_half_life is not None:
        from interest_core.transforms import apply_decay

        panel = apply_decay(panel, spec.decay_half_life, spec.freq)
    return panel


def _csv_safe(column: str) -> str:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (as export.escape_cell)."""
    return rf"""CASE WHEN regexp_matches({column}, '^[=+\-@\t\r]') THEN '''' || {column} ELSE {column} END"""


def write_panel(source: EventsSource, spec: PanelSpec, out: Path, *, category_map: pd.DataFrame | None = None,
                stored: str | None = None) -> dict[str, int]:
    """Write the panel (the rows of ``build_panel``, without decay) to ``out`` (.parquet, else CSV).

    DuckDB's COPY streams the rows to the file: they never become a pandas frame. ``stored``: a
    derived panel table (``derived.panel_relation``) to copy instead of aggregating the events.
    Returns rows, users, categories and periods of what was written.
    """
    frames: dict[str, pd.DataFrame] = {}
    if stored is not None:
        select = f"SELECT * FROM {stored}"
    else:
        if category_map is not None:
            frames["ic_groups"] = category_map[["category", "group"]].astype("string")
        grouped = panel_sql(spec, "{events}", grouped=category_map is not None)
        select = f"SELECT * REPLACE (coalesce(share, 0.0) AS share) FROM ({grouped})"
    target = "'" + str(out).replace("'", "''") + "'"
    if out.suffix == ".parquet":
        source.execute(f"COPY ({select}) TO {target} (FORMAT parquet)", frames=frames)
        written = f"read_parquet({target})"
    else:  # ids and category names come from the file: escaped against spreadsheet formulas
        escaped = f"{_csv_safe('user_id')} AS user_id, {_csv_safe('category')} AS category"
        source.execute(f"COPY (SELECT * REPLACE ({escaped}) FROM ({select})) TO {target} (HEADER, DELIMITER ',')",
                       frames=frames)
        written = f"read_csv({target}, all_varchar=true)"
    row = source.execute("SELECT count(*), count(DISTINCT user_id), count(DISTINCT category), "
                         f"count(DISTINCT period) FROM {written}")[0]
    return {"rows": int(row[0]), "users": int(row[1]), "categories": int(row[2]), "periods": int(row[3])}


def _typed(panel: pd.DataFrame) -> pd.DataFrame:
    panel["user_id"] = panel["user_id"].astype("string")
    panel["category"] = panel["category"].astype("string")
    panel["period"] = pd.to_datetime(panel["period"])
    for b in BEHAVIORS:
        panel[f"n_{b}"] = panel[f"n_{b}"].astype("int64")
    panel["interest"] = panel["interest"].astype("float64")
    panel["share"] = panel["share"].astype("float64").fillna(0.0)
    return panel.reset_index(drop=True)


# -- summaries for pages and models ------------------------------------------------------------

def category_totals(source: EventsSource, weights: BehaviorWeights = BehaviorWeights(), *, end: Any = None,
                    start: Any = None) -> pd.DataFrame:
    """category, interest, events, users: totals over a time window, most engaged first."""
    where, params = _filters(start, end, None)
    return source.query(
        f"""SELECT category, sum({_weight_sql(weights)}) AS interest, count(*) AS events,
                   count(DISTINCT user_id) AS users
            FROM {{events}} WHERE {where} GROUP BY category ORDER BY interest DESC, category""",
        params,
    )


def user_category_totals(source: EventsSource, weights: BehaviorWeights = BehaviorWeights(), *, end: Any = None,
                         start: Any = None, users_where: str | None = None) -> pd.DataFrame:
    """user_id, category, interest: the sparse user x category matrix in long form (``users_where``: an SQL
    condition that keeps a sample's users, ``user_sample_where``)."""
    where, params = _filters(start, end, None)
    if users_where:
        where = f"({where}) AND ({users_where})"
    return source.query_arrow(
        f"""SELECT user_id, category, sum({_weight_sql(weights)}) AS interest
            FROM {{events}} WHERE {where} GROUP BY ALL ORDER BY user_id, category""",
        params,
    )


def user_category_pairs(source: EventsSource) -> int:
    """How many (user, category) pairs the log holds: the rows ``user_category_totals`` would return."""
    rows = source.execute("SELECT count(*) FROM (SELECT DISTINCT user_id, category FROM {events})")
    return int(rows[0][0])


# A seeded sample of users: hash(salt || id) below a share of _SAMPLE_SCALE. Fixed salt: every process, session
# and model draws the same users (the page models' samples too: forecasting.page_frames.UserSample).
_SAMPLE_SALT, SAMPLE_SCALE = "interest-core-user-sample", 1_000_000


def user_sample_where(per_million: int, column: str = "user_id") -> str:
    """The SQL condition that keeps the users whose hashed id falls under ``per_million`` of a million."""
    return f"hash('{_SAMPLE_SALT}' || CAST({column} AS VARCHAR)) % {SAMPLE_SCALE} < {int(per_million)}"


def user_item_totals(source: EventsSource, weights: BehaviorWeights = BehaviorWeights(), *, end: Any = None,
                     start: Any = None) -> pd.DataFrame:
    """user_id, item, interest: the sparse user x item matrix (rows with an item id only)."""
    where, params = _filters(start, end, None)
    return source.query(
        f"""SELECT user_id, item_id AS item, sum({_weight_sql(weights)}) AS interest
            FROM {{events}} WHERE {where} AND item_id IS NOT NULL GROUP BY ALL ORDER BY user_id, item""",
        params,
    )


def activity_over_time(source: EventsSource, freq: str = "W") -> pd.DataFrame:
    """period, behavior, events, users."""
    part = FREQ_PART[check_freq(freq)]
    frame = source.query(
        f"""SELECT date_trunc('{part}', ts) AS period, behavior, count(*) AS events, count(DISTINCT user_id) AS users
            FROM {{events}} GROUP BY ALL ORDER BY period, behavior"""
    )
    frame["period"] = pd.to_datetime(frame["period"])
    return frame


def funnel(source: EventsSource) -> pd.DataFrame:
    """behavior, events, users, in funnel order (view, fav, cart, buy, rate)."""
    frame = source.query("SELECT behavior, count(*) AS events, count(DISTINCT user_id) AS users FROM {events} "
                         "GROUP BY behavior")
    order = {b: i for i, b in enumerate(BEHAVIORS)}
    frame = frame.assign(_o=frame["behavior"].map(order)).sort_values("_o").drop(columns="_o")
    return frame.reset_index(drop=True)


def top_categories_over_time(source: EventsSource, freq: str = "W", k: int = 8,
                             weights: BehaviorWeights = BehaviorWeights()) -> pd.DataFrame:
    """period, category, interest for the k categories most engaged overall (others as 'other')."""
    part = FREQ_PART[check_freq(freq)]
    frame = source.query(
        f"""WITH top AS (SELECT category FROM {{events}} GROUP BY category
                         ORDER BY sum({_weight_sql(weights)}) DESC, category LIMIT {int(k)})
            SELECT date_trunc('{part}', ts) AS period,
                   CASE WHEN category IN (SELECT category FROM top) THEN category ELSE 'other' END AS category,
                   sum({_weight_sql(weights)}) AS interest
            FROM {{events}} GROUP BY ALL ORDER BY period, category"""
    )
    frame["period"] = pd.to_datetime(frame["period"])
    return frame


def kpis(source: EventsSource) -> dict[str, Any]:
    row = source.query(
        """SELECT count(*) AS events, count(DISTINCT user_id) AS users, count(DISTINCT category) AS categories,
                  count(DISTINCT item_id) AS items, min(ts) AS start, max(ts) AS "end",
                  count(*) FILTER (WHERE behavior = 'buy') AS buys,
                  count(DISTINCT user_id) FILTER (WHERE behavior = 'buy') AS buyers
           FROM {events}"""
    ).iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.to_dict().items()}


def period_bounds(source: EventsSource, freq: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last period start of the data at this frequency."""
    part = FREQ_PART[check_freq(freq)]
    row = source.query(f"SELECT date_trunc('{part}', min(ts)) AS lo, date_trunc('{part}', max(ts)) AS hi "
                       "FROM {events}").iloc[0]
    return pd.Timestamp(row["lo"]), pd.Timestamp(row["hi"])


def search_users(source: EventsSource, text: str = "", limit: int = 50) -> pd.DataFrame:
    """user_id, events, last_seen for users whose id contains the text, most active first."""
    return source.query(
        f"""SELECT user_id, count(*) AS events, max(ts) AS last_seen FROM {{events}}
            WHERE contains(user_id, ?) GROUP BY user_id ORDER BY events DESC, user_id LIMIT {int(limit)}""",
        [text],
    )


EXACT_QUANTILE_EVENTS = 20_000_000


def time_window(source: EventsSource, q: float = 0.001, pad: float = 0.1) -> dict[str, Any]:
    """The period most events fall in, for time axes: start, end, outside (events left out), first, last,
    main_first / main_last (the first and last event inside it) and bulk_first / bulk_last (the quantiles).

    From the q and 1-q quantiles of time, widened by ``pad`` of that span on each side and clipped
    to the data: a few stray timestamps far from the rest (a log's outliers) do not stretch the
    axis, while the edges of a normal log stay inside (outside is then 0).
    """
    n_events = int(source.query("SELECT count(*) AS n FROM {events}")["n"].iloc[0])
    # An exact quantile holds every timestamp in memory (100 M events: over DuckDB's limit); past
    # EXACT_QUANTILE_EVENTS the t-digest's estimate places the axis as well.
    quantile = "quantile_disc" if n_events <= EXACT_QUANTILE_EVENTS else "approx_quantile"
    row = source.query(
        f"""SELECT min(ts) AS first, max(ts) AS last, {quantile}(ts, {float(q)}) AS lo,
                   {quantile}(ts, {1.0 - float(q)}) AS hi FROM {{events}}"""
    ).iloc[0]
    first, last, lo, hi = (pd.Timestamp(row[c]) for c in ("first", "last", "lo", "hi"))
    margin = (hi - lo) * float(pad)
    start, end = max(first, lo - margin), min(last, hi + margin)
    bounds = [start.to_pydatetime(), end.to_pydatetime()]
    inner = source.query("SELECT count(*) FILTER (WHERE ts < ? OR ts > ?) AS n, "
                         "min(ts) FILTER (WHERE ts BETWEEN ? AND ?) AS lo, "
                         "max(ts) FILTER (WHERE ts BETWEEN ? AND ?) AS hi FROM {events}", bounds * 3).iloc[0]
    # main_first / main_last: the first and last event inside the span; bulk_first / bulk_last: the q and 1-q
    # quantiles (where the bulk of the data starts and ends: a period before them is only partly covered).
    return {"start": start, "end": end, "outside": int(inner["n"]), "first": first, "last": last,
            "main_first": pd.Timestamp(inner["lo"]), "main_last": pd.Timestamp(inner["hi"]),
            "bulk_first": lo, "bulk_last": hi}
