"""``migration.share_transitions`` computed in DuckDB over a panel relation (the stored panel, folded into groups).

The same share-mass coupling as ``migration.couple`` (see migration.py's docstring), as SQL: on a 10 M-event
log the pandas merges over a few periods of a 100 k-user panel took 5-10 s, the query about one. Equal to
``share_transitions(panel, ..., entry_exit=True)`` up to the order of float sums (1e-12 relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from interest_core.analytics.migration import EPS, GONE, NEW, TRANSITION_COLUMNS
from interest_core.ingest.privacy import suppress_small_groups
from interest_core.panel import EventsSource
from interest_core.periods import FREQ_PART, check_freq


def share_transitions(source: EventsSource, freq: str, *, start: Any = None, end: Any = None,
                      frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """user_id, period, to_period, from_category, to_category, flow of every user between each period t and t+1
    in [start, end] (inclusive period starts; None: open), users active on one side only flowing from NEW / to
    GONE. ``source``: rows of user_id, category, period, interest (several rows of a key are summed)."""
    sql, params = _transitions_sql(freq, start, end)
    out = source.query_arrow(sql + " ORDER BY period, user_id, from_category, to_category", params, frames)
    if out.empty:
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    out = out.astype({"user_id": "string", "from_category": "string", "to_category": "string", "flow": "float64"})
    return out.assign(period=pd.to_datetime(out["period"]), to_period=pd.to_datetime(out["to_period"]))[
        TRANSITION_COLUMNS]


def transitions_table(source: EventsSource, freq: str, *, start: Any = None, end: Any = None) -> pa.Table:
    """``share_transitions`` as an Arrow table in no order, for the aggregates below (``view_tables``,
    ``flow_users``): a page keeps it (about 40 bytes a flow) and never turns it into a pandas frame."""
    sql, params = _transitions_sql(freq, start, end)
    cur = source.con.cursor()
    try:
        cur.execute("SET TimeZone='UTC'")
        for name, frame in (source.frames or {}).items():
            cur.register(name, frame)
        return cur.sql(sql.replace("{events}", source.relation), params=params or None).to_arrow_table()
    finally:
        cur.close()


def _transitions_sql(freq: str, start: Any, end: Any) -> tuple[str, list[pd.Timestamp]]:
    step = f"INTERVAL 1 {FREQ_PART[check_freq(freq)]}"
    where = " AND ".join(["TRUE", *(["period >= ?"] if start is not None else []),
                          *(["period <= ?"] if end is not None else [])])
    params = [pd.Timestamp(b) for b in (start, end) if b is not None]
    sql = f"""
        WITH agg AS (SELECT user_id, category, period, sum(interest) AS interest FROM {{events}} WHERE {where}
                     GROUP BY ALL HAVING sum(interest) > 0),
        sh AS (SELECT user_id, period, category, interest / sum(interest) OVER (PARTITION BY user_id, period) AS share
               FROM agg),
        bounds AS (SELECT min(period) AS lo, max(period) AS hi FROM sh),
        a AS (SELECT user_id, period + {step} AS to_period, category, share AS s0 FROM sh, bounds
              WHERE period + {step} <= hi),
        b AS (SELECT user_id, period AS to_period, category, share AS s1 FROM sh, bounds WHERE period > lo),
        ka AS (SELECT DISTINCT user_id, to_period FROM a),
        kb AS (SELECT DISTINCT user_id, to_period FROM b),
        both_ AS (SELECT * FROM ka INTERSECT SELECT * FROM kb),
        m AS (SELECT user_id, to_period, category, coalesce(s0, 0.0) AS s0, coalesce(s1, 0.0) AS s1
              FROM (SELECT a.* FROM a SEMI JOIN both_ USING (user_id, to_period)) x
              FULL OUTER JOIN (SELECT b.* FROM b SEMI JOIN both_ USING (user_id, to_period)) y
              USING (user_id, to_period, category)),
        dec AS (SELECT user_id, to_period, category, greatest(s0 - s1, 0.0) AS d FROM m
                WHERE greatest(s0 - s1, 0.0) > {EPS}),
        inc AS (SELECT user_id, to_period, category, greatest(s1 - s0, 0.0) AS i FROM m
                WHERE greatest(s1 - s0, 0.0) > {EPS}),
        moved AS (SELECT *, sum(d) OVER (PARTITION BY user_id, to_period) AS total FROM dec),
        flows AS (
            SELECT user_id, to_period, category AS from_category, category AS to_category, least(s0, s1) AS flow
            FROM m WHERE least(s0, s1) > {EPS}
            UNION ALL
            SELECT d.user_id, d.to_period, d.category, i.category, d.d * i.i / d.total
            FROM moved d JOIN inc i USING (user_id, to_period)
            UNION ALL
            SELECT user_id, to_period, category, '{GONE}', s0 FROM a ANTI JOIN kb USING (user_id, to_period)
            UNION ALL
            SELECT user_id, to_period, '{NEW}', category, s1 FROM b ANTI JOIN ka USING (user_id, to_period))
        SELECT user_id, to_period - {step} AS period, to_period, from_category, to_category, flow FROM flows"""
    return sql, params


@dataclass(frozen=True, eq=False)
class FlowTables:
    """What ``migration.flow_matrix`` and ``migration.sankey_links`` give for one selection, and its counts."""

    matrix: pd.DataFrame
    hidden: int
    links: pd.DataFrame
    links_hidden: int
    users: int
    pairs: int


def _flows(transitions: pa.Table, members: Sequence[str] | None) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A connection over the transitions (of ``members`` only; None: everyone's) as the view ``tr``."""
    con = duckdb.connect()
    con.register("tr_all", transitions)
    if members is None:
        con.execute("CREATE VIEW tr AS SELECT * FROM tr_all")
    else:
        con.register("tr_members", pa.table({"user_id": pa.array([str(m) for m in members], pa.string())}))
        con.execute("CREATE VIEW tr AS SELECT * FROM tr_all SEMI JOIN tr_members USING (user_id)")
    return con, "tr"


def _matrix_sql(frame: str, by: Sequence[str], min_flow: float) -> str:
    """``migration.flow_matrix`` (diagonal included) of the rows of ``frame``, before suppression."""
    keys = ", ".join([*by, "from_category", "to_category"])
    row_keys = ", ".join([*by, "from_category"])
    order = ", ".join([*by, "mass DESC", "from_category", "to_category"])
    return f"""
        WITH per_user AS (SELECT {keys}, user_id, sum(flow) AS flow FROM {frame} GROUP BY ALL),
        agg AS (SELECT {keys}, sum(flow) AS mass, count(*) FILTER (WHERE flow >= {min_flow}) AS users
                FROM per_user GROUP BY ALL),
        row_total AS (SELECT {row_keys}, sum(flow) AS _row FROM {frame} GROUP BY ALL)
        SELECT {keys}, mass, users, mass / _row AS share_of_row FROM agg LEFT JOIN row_total USING ({row_keys})
        ORDER BY {order}"""


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    out = con.sql(sql, params=params).to_arrow_table().to_pandas()
    text = {c: "string" for c in ("from_category", "to_category", "user_id") if c in out}
    return out.astype({**text, **({"users": "int64"} if "users" in out else {})})


def view_tables(transitions: pa.Table, members: Sequence[str] | None, *, min_users: int, top_k: int,
                last_pairs: int, min_flow: float = 0.05, other: str = "other") -> FlowTables:
    """``flow_matrix`` of the whole selection and ``sankey_links(top_k=..., last_pairs=..., entry_exit=False)``
    in DuckDB over a ``transitions_table`` (pandas took seconds over 3 M flows); equal to them up to the
    order of float sums and of ties in mass."""
    con, tr = _flows(transitions, members)
    try:
        matrix, hidden = suppress_small_groups(_fetch(con, _matrix_sql(tr, (), min_flow)), "users", min_users)
        con.execute(f"""
            CREATE TEMP VIEW moves AS SELECT * FROM {tr}
            WHERE from_category NOT IN ('{NEW}', '{GONE}') AND to_category NOT IN ('{NEW}', '{GONE}')
              AND period IN (SELECT DISTINCT period FROM {tr}
                             WHERE from_category NOT IN ('{NEW}', '{GONE}') AND to_category NOT IN ('{NEW}', '{GONE}')
                             ORDER BY period DESC LIMIT {int(last_pairs)})""")
        label = "'" + other.replace("'", "''") + "'"
        con.execute(f"""
            CREATE TEMP VIEW folded AS
            WITH weight AS (SELECT category, sum(flow) AS w FROM (
                                SELECT from_category AS category, flow FROM moves
                                UNION ALL SELECT to_category, flow FROM moves) GROUP BY category),
            keep AS (SELECT category FROM weight ORDER BY w DESC, category LIMIT {int(top_k)})
            SELECT user_id, period, to_period,
                   CASE WHEN from_category IN (SELECT category FROM keep) THEN from_category ELSE {label} END
                       AS from_category,
                   CASE WHEN to_category IN (SELECT category FROM keep) THEN to_category ELSE {label} END
                       AS to_category,
                   flow
            FROM moves""")
        links, links_hidden = suppress_small_groups(_fetch(con, _matrix_sql("folded", ("period", "to_period"),
                                                                               min_flow)), "users", min_users)
        links = links.assign(period=pd.to_datetime(links["period"]), to_period=pd.to_datetime(links["to_period"]))
        fmt = "%Y-%m-%d"
        links["source"] = links["from_category"].astype(str) + "@" + links["period"].dt.strftime(fmt)
        links["target"] = links["to_category"].astype(str) + "@" + links["to_period"].dt.strftime(fmt)
        users, pairs = con.execute(f"SELECT count(DISTINCT user_id), count(DISTINCT (period, to_period)) "
                                   f"FROM {tr}").fetchone() or (0, 0)
        return FlowTables(matrix=matrix, hidden=hidden, links=links, links_hidden=links_hidden, users=int(users),
                          pairs=int(pairs))
    finally:
        con.close()


def flow_users(transitions: pa.Table, members: Sequence[str] | None, from_category: str, to_category: str, *,
               min_flow: float = 0.05) -> pd.DataFrame:
    """``migration.flow_users`` over a ``transitions_table``: the users behind one flow, biggest first."""
    con, tr = _flows(transitions, members)
    try:
        out = _fetch(con, f"""
            SELECT user_id, sum(flow) AS flow, count(DISTINCT period) AS n_periods, min(period) AS first_period,
                   max(period) AS last_period
            FROM {tr} WHERE from_category = ? AND to_category = ? GROUP BY user_id HAVING sum(flow) >= ?
            ORDER BY flow DESC, user_id""", [from_category, to_category, min_flow])
    finally:
        con.close()
    if out.empty:
        return pd.DataFrame(columns=["user_id", "flow", "n_periods", "first_period", "last_period"])
    return out.assign(n_periods=out["n_periods"].astype("int64"), first_period=pd.to_datetime(out["first_period"]),
                      last_period=pd.to_datetime(out["last_period"]))
