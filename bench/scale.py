"""Benchmark: the budgets of issue 10 on generated Taobao-format logs, each printed as measured.

Generates the log with DuckDB (interest_core.synth_scale), then, each CLI command in its own
process (its peak RSS is its own):

1. CLI ingest, then CLI daily panel to Parquet (budget at 100 M events: <= 4 min, <= 4 GB);
2. CLI prepare (derived tables and page models; budget at 10 M events over 6 months: <= 2 min);
3. every page opened cold and rerun warm in AppTest in a child process (bench/pages.py): wall and CPU
   seconds per page (budgets 10 s cold, 0.5 s warm) and that process's peak RSS (budget 3 GB);
4. ingest + weekly panel against plain DuckDB with text ids (bench/ingest.py; budget <= 1.5x).

    .venv/bin/python bench/scale.py --log 10m            # 10 M events, 6 months, 100 k users
    .venv/bin/python bench/scale.py --log 100m           # 100 M events, 9 days, 1 M users (~3.5 GB CSV)
    .venv/bin/python bench/scale.py --events 1e6         # a quick run at another size
    .venv/bin/python bench/scale.py --pages-only --workdir DIR   # pages only, on DIR's prepared store
    .venv/bin/python bench/scale.py --prepare-only --workdir DIR # `prepare` again from scratch on DIR's store
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ingest import compare, report  # after the path above
from bench.pages import COLD_S, PEAK_GB, WARM_S, PageTimes
from interest_core.synth_scale import NINE_DAYS_100M, SIX_MONTHS_10M, ScaleSpec, write_taobao_csv

ROOT = Path(__file__).resolve().parent.parent

LOGS = {"10m": SIX_MONTHS_10M, "100m": NINE_DAYS_100M}
PREPARE_BUDGET_S = 120.0  # 10 M events over 6 months
INGEST_PANEL_BUDGET_S, INGEST_PANEL_PEAK_GB = 240.0, 4.0  # 100 M events
RATIO_BUDGET = 1.5

# Runs one CLI command and reports its wall time and peak RSS on stderr's last line.
_CHILD = """
import json, resource, sys, time
from interest_core.cli.main import main
t = time.perf_counter()
rc = main(sys.argv[1:])
use = resource.getrusage(resource.RUSAGE_SELF)
figures = {"rc": rc, "seconds": time.perf_counter() - t, "peak_gb": use.ru_maxrss / 1024**2,
           "cpu_s": use.ru_utime + use.ru_stime}
sys.stderr.write("\\nBENCH " + json.dumps(figures) + "\\n")
"""


def run_cli(*args: str) -> dict[str, Any]:
    """``python -m interest_core ARGS --json`` in a fresh process: its result, seconds and peak GB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    marker = [line for line in proc.stderr.splitlines() if line.startswith("BENCH ")]
    if proc.returncode or not marker or json.loads(marker[-1][6:])["rc"]:
        raise SystemExit(f"`{' '.join(args)}` failed:\n{proc.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(marker[-1][6:])
    figures["result"] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"


def _spec(args: argparse.Namespace) -> tuple[str, ScaleSpec]:
    base = LOGS[args.log]
    changes = {k: int(float(v)) for k in ("events", "days", "users", "categories") if (v := getattr(args, k))}
    label = args.log if not changes else "custom"
    return label, replace(base, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", choices=list(LOGS), default="10m", help="which log of issue 10 (default 10m)")
    parser.add_argument("--events", help="another number of events (e.g. 1e6); --days/--users/--categories too")
    parser.add_argument("--days")
    parser.add_argument("--users")
    parser.add_argument("--categories")
    parser.add_argument("--workdir", help="keep the CSV and store here (default: a temp folder, removed)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the ratio comparison (best is kept)")
    parser.add_argument("--skip-ratio", action="store_true", help="leave out the comparison with plain DuckDB")
    parser.add_argument("--skip-prepare", action="store_true", help="leave out `prepare` (and the pages)")
    parser.add_argument("--skip-pages", action="store_true", help="leave out the pages")
    parser.add_argument("--prepare-only", action="store_true",
                        help="only `prepare --force` (tables rebuilt, page models refitted) on --workdir's store")
    parser.add_argument("--pages-only", action="store_true",
                        help="only the pages, on the store --workdir holds (ingested and prepared by a run before)")
    args = parser.parse_args()
    label, spec = _spec(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / f"taobao_{spec.events}_{spec.days}d.csv"
    try:
        if args.pages_only:
            _pages(workdir / "scale.duckdb")
        elif args.prepare_only:
            _prepare(label, workdir / "scale.duckdb", fresh=True)
        else:
            measure(label, spec, csv, workdir, args)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def measure(label: str, spec: ScaleSpec, csv: Path, workdir: Path, args: argparse.Namespace) -> None:
    print(f"log: {spec.events:,} events over {spec.days} days, {spec.users:,} users, {spec.categories:,} categories")
    if not csv.exists():
        t = time.perf_counter()
        write_taobao_csv(csv, spec)
        print(f"generated {csv.name} ({csv.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f}s")
    db = workdir / "scale.duckdb"
    for stale in workdir.glob("scale.duckdb*"):
        stale.unlink()
    ingest = run_cli("ingest", str(csv), "--name", "scale", "--db", str(db))
    panel = run_cli("panel", "scale", "--db", str(db), "--freq", "D", "--out", str(workdir / "daily.parquet"))
    (workdir / "daily.parquet").unlink(missing_ok=True)
    total, peak = ingest["seconds"] + panel["seconds"], max(ingest["peak_gb"], panel["peak_gb"])
    print(f"CLI ingest: {ingest['seconds']:.1f}s (cpu {ingest['cpu_s']:.1f}s), peak {ingest['peak_gb']:.2f} GB "
          f"({ingest['result']['rows']:,} rows, {ingest['result']['users']:,} users)")
    print(f"CLI daily panel to Parquet: {panel['seconds']:.1f}s (cpu {panel['cpu_s']:.1f}s), "
          f"peak {panel['peak_gb']:.2f} GB "
          f"({panel['result']['rows']:,} rows)")
    budget = "" if label != "100m" else (
        f"  (budget <= {INGEST_PANEL_BUDGET_S:.0f}s, <= {INGEST_PANEL_PEAK_GB} GB) "
        f"{_verdict(total <= INGEST_PANEL_BUDGET_S and peak <= INGEST_PANEL_PEAK_GB)}")
    print(f"CLI ingest + daily panel: {total:.1f}s, peak {peak:.2f} GB{budget}", flush=True)

    if not args.skip_prepare:
        _prepare(label, db)
        if not args.skip_pages:
            _pages(db)
    print(f"store file: {db.stat().st_size / 1e9:.2f} GB", flush=True)
    if not args.skip_ratio:
        for stale in workdir.glob("scale.duckdb*"):  # kept otherwise, for --pages-only
            stale.unlink()
        print("\ningest + weekly panel vs plain DuckDB (text ids), each in a fresh process:")
        ratio = report(compare(csv, workdir, args.repeat), spec.events)
        print(f"ratio budget <= {RATIO_BUDGET}: {_verdict(ratio <= RATIO_BUDGET)}")


def _prepare(label: str, db: Path, fresh: bool = False) -> None:
    """CLI ``prepare``; ``fresh``: on a store prepared before, rebuild its tables and refit its page models."""
    if fresh:
        if not db.exists():
            raise SystemExit(f"no store at {db}: run without --prepare-only first (with --workdir)")
        from interest_core.forecasting.page_models import page_models_root

        shutil.rmtree(page_models_root(db), ignore_errors=True)
    load_before = os.getloadavg()[0]
    prepare = run_cli("prepare", "scale", "--db", str(db), *(["--force"] if fresh else []))
    tables = {f"{t['kind']} {t['freq']}": t["rows"] for t in prepare["result"]["tables"]}
    ok = prepare["seconds"] <= PREPARE_BUDGET_S
    budget = "" if label != "10m" else f"  (budget <= {PREPARE_BUDGET_S:.0f}s) {_verdict(ok)}"
    print(f"CLI prepare (D, W, M: panel, users, categories; page models): {prepare['seconds']:.1f}s "
          f"(cpu {prepare['cpu_s']:.1f}s), "
          f"peak {prepare['peak_gb']:.2f} GB{budget}; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    print(f"  rows: {', '.join(f'{k} {v:,}' for k, v in sorted(tables.items()))}")


def _page_verdict(page: PageTimes) -> str:
    if page.problem or not page.within_budget(slack=float("inf")):
        return "OVER"
    return "OK" if page.within_budget() else "CPU OK, wall OVER"  # wall: the shared machine's load


def _pages(db: Path) -> None:
    """Every page cold and warm in one child process (bench/pages.py) on the prepared store."""
    if not db.exists():
        raise SystemExit(f"no store at {db}: run without --pages-only first (with --workdir)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "pages.py"), "--db", str(db), "--dataset", "scale"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("PAGES ")]
    if proc.returncode or not marker:
        raise SystemExit(f"the page walk failed:\n{proc.stderr[-3000:]}")
    result = json.loads(marker[-1][6:])
    print(f"\npages (AppTest, one process, {time.perf_counter() - started:.0f}s in all; "
          f"budgets cold <= {COLD_S:.0f}s, warm <= {WARM_S}s):")
    print(f"  {'page':<28} {'cold wall':>9} {'cold cpu':>9} {'warm wall':>9} {'warm cpu':>9}")
    for file, figures in result["pages"].items():
        page = PageTimes(**figures)
        problem = f"  ({page.problem})" if page.problem else ""
        print(f"  {Path(file).stem:<28} {page.cold_wall:>9.2f} {page.cold_cpu:>9.2f} {page.warm_wall:>9.2f} "
              f"{page.warm_cpu:>9.2f}  {_page_verdict(page)}{problem}")
    print(f"  process peak RSS {result['peak_gb']:.2f} GB (budget <= {PEAK_GB:.0f} GB) "
          f"{_verdict(result['peak_gb'] <= PEAK_GB)}; background fit workers peak "
          f"{result['worker_peak_gb']:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
