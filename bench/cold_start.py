"""Cold start: seconds from ``streamlit run app.py`` to the first chart drawn in a browser.

    .venv/bin/python bench/cold_start.py [--runs 3] [--page overview]

Each run starts three servers, each a fresh process: ``empty`` on a new temporary store (the first page ingests
the demo while the browser waits: ``streamlit run app.py`` on a store that never held it), ``run.sh`` on a new
store where ``python -m interest_core demo`` stored the demo first (what the README's ``scripts/run.sh`` does
before it starts the server, so every start through it is this case) and ``restart`` on that same store again.
Chromium and its tab are opened before the clock starts: the figure is the server's, not the browser's. The time
counts from spawning the server process to the first chart in the page holding data: a plotly chart with traces
(``_fullData``) or the HTML bar list the Data page opens with (``interest_core.charts.bar_list``), its bars laid
out; ``--page overview`` times the first plotly chart of a page opened by its link;
``ws_s`` is when the page opened its websocket (the browser had loaded Streamlit's frontend), ``server_cpu_s``
the CPU the server used until the chart was drawn and ``browser_cpu_s`` the CPU Chromium's processes used from
the spawn to then (figures the machine's other load does not inflate), ``load`` the 1-minute load average.
The server runs as the README says (``streamlit run app.py``, the settings of .streamlit/config.toml), headless.
Needs the playwright package and Debian's chromium (as tests/e2e).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SERVER_ARGS = ["--server.headless", "true"]  # the README's command otherwise: what a person gets
STORES = ("empty", "run.sh", "restart")  # see the docstring
# A plotly chart holding data, or the HTML bar list (interest_core/charts/bar_list.py) with a bar laid out.
CHART_DRAWN_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .some(el => (el._fullData || []).length > 0)
  || Array.from(document.querySelectorAll('[data-chart="bar-list"] .ic-bar')).some(el => el.offsetWidth > 0)"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                if resp.read().decode().strip() == "ok":
                    return time.monotonic()
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"streamlit did not start (exit code {proc.poll()})")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Processes under ``pid`` (Linux /proc): this bench's Chromium and its renderers."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _browser_cpu_s(skip: int) -> float:
    """CPU seconds Chromium's processes (those under this one, the server ``skip`` aside) have used so far."""
    total = 0.0
    for pid in _descendants(os.getpid()):
        try:
            if pid != skip and "chrom" in Path(f"/proc/{pid}/comm").read_text():
                total += _cpu_s(pid)
        except OSError:
            continue
    return total


def first_chart(browser: Any, env: dict[str, str], page: str, root: Path = ROOT) -> dict[str, float]:
    """One server start: seconds to health, to the page's websocket and to the first chart with data on ``page``
    ('' = the start page), and the CPU the server and the browser used meanwhile."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The tab is the browser's, opened before the clock starts like the browser itself: a person's browser is
    # already running when they open the app's address (a new tab costs Chromium 0.15-0.2 s here).
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    opened: list[float] = []
    tab.on("websocket", lambda _ws: opened.append(time.monotonic()))
    browser_cpu = _browser_cpu_s(skip=0)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             *SERVER_ARGS], cwd=root, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        healthy = _wait_healthy(url, proc)
        tab.goto(f"{url}/{page}")
        tab.wait_for_function(CHART_DRAWN_JS, timeout=60_000, polling=50)
        drawn = time.monotonic()
        server_cpu = _cpu_s(proc.pid)
        browser_cpu = _browser_cpu_s(skip=proc.pid) - browser_cpu
    finally:
        tab.close()
        proc.terminate()
        proc.wait(timeout=20)
    return {"health_s": round(healthy - started, 2), "ws_s": round(opened[0] - started, 2) if opened else -1.0,
            "first_chart_s": round(drawn - started, 2), "server_cpu_s": round(server_cpu, 2),
            "browser_cpu_s": round(browser_cpu, 2), "load": round(os.getloadavg()[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page", default="", help="url path of the page to open ('' = the start page)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py runs (compare two)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows: list[dict[str, Any]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for run in range(args.runs):
                folder = Path(tempfile.mkdtemp(prefix="cold_start_"))
                for store in STORES:
                    if store != "restart":  # a new store; a restart reuses the one run.sh's start made
                        folder = Path(tempfile.mkdtemp(prefix="cold_start_"))
                    env = {"INTEREST_DB": str(folder / "interest.duckdb"),
                           "INTEREST_MODELS_DIR": str(folder / "models")}
                    if store == "run.sh":
                        subprocess.run([sys.executable, "-m", "interest_core", "demo"], cwd=args.root,
                                       env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
                    rows.append({"run": run, "store": store, **first_chart(browser, env, args.page, args.root)})
        finally:
            browser.close()
    for row in rows:
        print(json.dumps(row))
    for store in STORES:
        times = sorted(float(r["first_chart_s"]) for r in rows if r["store"] == store)
        cpu = sorted(float(r["server_cpu_s"]) for r in rows if r["store"] == store)
        if times:
            print(f"{store} store, page '{args.page or 'start'}': first chart median {times[len(times) // 2]:.2f} s "
                  f"(min {times[0]:.2f}, max {times[-1]:.2f}, {len(times)} runs); server CPU median "
                  f"{cpu[len(cpu) // 2]:.2f} s")


if __name__ == "__main__":
    main()
