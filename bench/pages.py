"""Every page of app.py opened in AppTest, cold then warm, timed (the page budgets of issue 10).

Shared by ``tests/test_scale_pages.py`` (asserts the budgets on a 1 M-event log) and ``bench/scale.py``
(runs this file in a child process on a prepared store, so the peak RSS is the app's own):

    .venv/bin/python bench/pages.py --db STORE.duckdb --dataset NAME [--freq W]

prints one ``PAGES {json}`` line: per page cold/warm wall and CPU seconds and any problem, and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.apptest import APP, check_clean, check_drawn  # after the path above

COLD_S = 10.0  # issue 10: a page opens in 10 s or less with its charts drawn
WARM_S = 0.5  # and reruns in 0.5 s or less
PEAK_GB = 3.0  # server peak
NO_CHARTS = {"app_pages/scoring.py"}  # draws only after a file is uploaded


@dataclass(frozen=True)
class PageTimes:
    cold_wall: float
    cold_cpu: float
    warm_wall: float
    warm_cpu: float
    problem: str = ""  # what a check found (only when not strict)

    def within_budget(self, slack: float = 1.0) -> bool:
        """CPU budgets strict; wall budgets stretched by ``slack`` (the machine's load)."""
        return (self.cold_cpu <= COLD_S and self.cold_wall <= COLD_S * slack
                and self.warm_cpu <= WARM_S and self.warm_wall <= WARM_S * slack)


def timed(at: AppTest) -> tuple[float, float]:
    """(wall, CPU) seconds of one run: the CPU time of this process (the script thread and DuckDB's)."""
    started, cpu = time.perf_counter(), time.process_time()
    at.run()
    return time.perf_counter() - started, time.process_time() - cpu


def _check(at: AppTest, file: str) -> None:
    check_clean(at)
    if file not in NO_CHARTS:
        check_drawn(at, file)


def walk_pages(dataset: str, freq: str | None = None, *, strict: bool = True,
               timeout: float = 600) -> dict[str, PageTimes]:
    """Open every page of app.py's table on ``dataset`` ($INTEREST_DB's store), cold then warm. ``strict``:
    a page with an exception, an error box or no chart fails an assertion; else the problem is recorded."""
    from app import PAGES

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params["dataset"] = dataset
    if freq:
        at.query_params["freq"] = freq
    at.run()
    check_clean(at)
    times = {}
    for spec in PAGES:
        at.switch_page(spec.file)
        cold = timed(at)
        problems = []
        try:
            _check(at, spec.file)
        except AssertionError as failed:
            if strict:
                raise
            problems.append(f"cold: {str(failed)[:300]}")
        warm = timed(at)
        try:
            check_clean(at)
        except AssertionError as failed:
            if strict:
                raise
            problems.append(f"warm: {str(failed)[:300]}")
        (cold_wall, cold_cpu), (warm_wall, warm_cpu) = cold, warm
        times[spec.file] = PageTimes(round(cold_wall, 2), round(cold_cpu, 2), round(warm_wall, 2),
                                     round(warm_cpu, 2), problem="; ".join(problems))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="the prepared store")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--freq", help="the period to open with (default: the app's own choice)")
    args = parser.parse_args()
    os.environ["INTEREST_DB"] = str(Path(args.db).resolve())
    times = walk_pages(args.dataset, args.freq, strict=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    print("PAGES " + json.dumps({"pages": {k: asdict(v) for k, v in times.items()},
                                 "peak_gb": peak, "worker_peak_gb": workers}), flush=True)


if __name__ == "__main__":
    main()
