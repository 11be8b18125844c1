"""Benchmark: where `prepare`'s page models spend their time, step by step, on a prepared store.

Refits every page model the CLI ``prepare`` fits (page_defaults.prepare_page_models) into a fresh
folder and prints, at each progress message, wall and CPU seconds since the start and since the
last message, the load average and the process's peak RSS; then each model's own wall seconds.
``--profile FILE`` also writes a cProfile of the whole run (pstats format; it adds ~20-30 %).

    .venv/bin/python bench/prepare_steps.py --db /tmp/scale-prepare/scale.duckdb --dataset scale
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from interest_core.forecasting.page_defaults import prepare_page_models  # after the path above
from interest_core.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="a store whose dataset `prepare` built the tables of")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--profile", help="write a cProfile of the run here")
    args = parser.parse_args()
    started, cpu_started = time.perf_counter(), time.process_time()
    last = [started, cpu_started]

    def progress(fraction: float, message: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"{now - started:7.1f}s wall {cpu - cpu_started:7.1f}s cpu (+{now - last[0]:6.1f} / "
              f"+{cpu - last[1]:6.1f}) load {os.getloadavg()[0]:4.1f} peak {peak:.2f} GB  {fraction:.2f} {message}",
              flush=True)
        last[:] = [now, cpu]

    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="prepare-steps-") as root, Store(args.db, read_only=True) as store:
        if profile:
            profile.enable()
        rows = prepare_page_models(store, args.dataset, root=root, progress=progress)
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
    for row in rows:
        print(f"  {row['kind']:<20} {row['freq']} {row['state']:<6} {row['seconds']:7.2f}s wall"
              + (f"  ({row['error']})" if row["error"] else ""))


if __name__ == "__main__":
    main()
