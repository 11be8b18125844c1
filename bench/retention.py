"""Benchmark: the Retention page's two queries (cohort grid, ordered funnel) on a generated events table.

Both aggregate in DuckDB and return at most cohorts x periods rows; this measures their time and the
process's peak memory at a size past the demo's (default 10 M events, 200 k users, 6 months).

    .venv/bin/python bench/retention.py [--events 10000000] [--users 200000] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from interest_core.analytics.retention import cohort_retention, ordered_funnel  # after the path above
from interest_core.panel import EventsSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--memory-limit", default="2GB")
    args = parser.parse_args()
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        con.execute(f"SET memory_limit='{args.memory_limit}'")
        con.execute(f"""CREATE TABLE ev AS SELECT CAST(i % {int(args.users)} AS VARCHAR) AS user_id,
              NULL::VARCHAR AS item_id, CAST(i % 5000 AS VARCHAR) AS category,
              CASE WHEN hash(i) % 20 = 0 THEN 'buy' WHEN hash(i) % 10 = 1 THEN 'cart' ELSE 'view' END AS behavior,
              TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i * 7) % (180 * 86400) AS BIGINT)) AS ts,
              NULL::DOUBLE AS value FROM range({int(args.events)}) t(i)""")
        source = EventsSource(con, "ev")
        start = time.perf_counter()
        grid = cohort_retention(source, "W")
        grid_s = time.perf_counter() - start
        start = time.perf_counter()
        flow = ordered_funnel(source)
        funnel_s = time.perf_counter() - start
        con.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.events:,} events, {args.users:,} users: cohort grid {grid_s:.1f} s ({len(grid.grid)} cells), "
          f"ordered funnel {funnel_s:.1f} s ({flow.completed:,} users all the way); peak RSS {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
