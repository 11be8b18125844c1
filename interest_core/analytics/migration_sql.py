"""``migration.share_transitions`` computed in DuckDB over a panel relation (the stored panel, folded into groups).

The same share-mass coupling as ``migration.couple`` (see migration.py's docstring), as SQL: on a 10 M-event
log the pandas merges over a few periods of a 100 k-user panel took 5-10 s, the query about one. Equal to
``share_transitions(panel, ..., entry_exit=True)`` up to the order of float sums (1e-12 relative).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from interest_core.analytics.migration import EPS, GONE, NEW, TRANSITION_COLUMNS
from interest_core.panel import EventsSource
from interest_core.periods import FREQ_PART, check_freq


def share_transitions(source: EventsSource, freq: str, *, start: Any = None, end: Any = None,
                      frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """user_id, period, to_period, from_category, to_category, flow of every user between each period t and t+1
    in [start, end] (inclusive period starts; None: open), users active on one side only flowing from NEW / to
    GONE. ``source``: rows of user_id, category, period, interest (several rows of a key are summed)."""
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
        SELECT user_id, to_period - {step} AS period, to_period, from_category, to_category, flow FROM flows
        ORDER BY period, user_id, from_category, to_category"""
    out = source.query_arrow(sql, params, frames)
    if out.empty:
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    out = out.astype({"user_id": "string", "from_category": "string", "to_category": "string", "flow": "float64"})
    return out.assign(period=pd.to_datetime(out["period"]), to_period=pd.to_datetime(out["to_period"]))[
        TRANSITION_COLUMNS]
