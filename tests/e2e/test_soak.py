"""Soak (issue 13, "done when"): four browser sessions walk every page of the real server at once.

For ``INTEREST_SOAK_S`` seconds (default 300, and at least three rounds whatever the duration) four headless
Chromium sessions of one browser click through the sidebar's pages, each starting at a different page so
different pages run side by side. Throughout: ``/_stcore/health`` answers ``ok`` (polled every second), no page shows an
exception box or an error alert, no page takes over 60 s from the click to the end of its run, the
browser reports no script error, and the memory of the server with its child processes (RSS from /proc)
grows by under 25% from the end of the first round (caches warm) to any later round. The server listens
on 127.0.0.1 only (from .streamlit/config.toml). All traffic goes to 127.0.0.1; every loop is bounded.

The suite runs issue 13's five minutes (its "done when" asks for them in the suite); ``INTEREST_SOAK_S=60``
shortens it for a local run (three rounds still: every page four times per round, the memory of rounds 2
and 3 against round 1).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT

pytestmark = pytest.mark.slow

SESSIONS = 4
SOAK_S = float(os.environ.get("INTEREST_SOAK_S", "300"))
MIN_ROUNDS = 3  # every page in every session at least this often, however short SOAK_S is
PAGE_LIMIT_S = 60.0
MAX_GROWTH = 0.25
MAX_ROUNDS = 500  # a bound on the loop whatever the duration
# Sidebar title -> the page's heading where they differ (pages/*.py st.title).
HEADINGS = {"Churn": "Churn risk", "Promotions": "Promotion targeting", "Demand": "Category demand",
            "Retention": "Retention and funnel"}
PAGE_DONE_JS = """heading => {
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  return [...document.querySelectorAll("[data-testid='stMain'] h1")].some(h => h.innerText.trim() === heading);
}"""


@pytest.fixture(scope="module")
def server_env(prepared_demo_env: dict[str, str]) -> dict[str, str]:
    """The demo prepared before the server starts (its page models fitted, as ``prepare`` leaves them): the soak
    is about sessions side by side, not first fits (the walk of test_browser_walk.py waits for those on Tmall and
    Taobao); four sessions each waiting for the same cold fits made the first round the slowest part."""
    return prepared_demo_env


# -- the server process, from /proc ---------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def server_pid(port: int) -> int:
    """The ``streamlit run`` process serving ``port`` (tests/e2e/browser.py starts it with --server.port)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if b"streamlit" in b" ".join(args) and b"--server.port" in args and str(port).encode() in args:
                return int(entry.name)
    raise AssertionError(f"no streamlit process serves port {port}")


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and every process under it (workers included)."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on ``port`` (IPv4 as dotted quads, IPv6 as hex)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
                             if len(address) == 8 else address)
    return found


# -- health, polled beside the sessions -----------------------------------------------------------------

@dataclass
class HealthWatch:
    url: str
    polls: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.polls += 1
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as resp:
                    body = resp.read().decode().strip()
                if body != "ok":
                    self.failures.append(f"{time.strftime('%X')}: {body!r}")
            except OSError as exc:
                self.failures.append(f"{time.strftime('%X')}: {exc}")


@contextlib.contextmanager
def health_watch(url: str) -> Iterator[HealthWatch]:
    watch = HealthWatch(url)
    thread = threading.Thread(target=watch.run, name="soak-health", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        watch.stop.set()
        thread.join(timeout=15)


# -- the sessions -----------------------------------------------------------------------------------------

@dataclass
class Session:
    page: Any
    offset: int
    js_errors: list[str] = field(default_factory=list)
    clicked: tuple[str, float] = ("", 0.0)


def _click(session: Session, title: str) -> None:
    session.page.locator("[data-testid='stSidebarNav'] a").filter(
        has=session.page.get_by_text(title, exact=True)).first.click()
    session.clicked = (title, time.monotonic())


def _finish(session: Session, problems: list[str]) -> float:
    """Wait for the clicked page's run to end (within the page limit) and check it; its seconds."""
    title, t0 = session.clicked
    heading = HEADINGS.get(title, title)
    left_ms = max(1.0, PAGE_LIMIT_S - (time.monotonic() - t0)) * 1000
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        session.page.wait_for_function(PAGE_DONE_JS, arg=heading, timeout=left_ms)
    except PlaywrightTimeout:
        problems.append(f"session {session.offset}: {title} not done within {PAGE_LIMIT_S:.0f} s")
        return time.monotonic() - t0
    took = time.monotonic() - t0
    page = session.page
    if page.locator("[data-testid='stException']").count():
        problems.append(f"session {session.offset}: exception box on {title}")
    errors = page.locator("[data-testid='stAlertContentError']")
    if errors.count():
        problems.append(f"session {session.offset}: error on {title}: {errors.all_inner_texts()}")
    return took


def test_four_sessions_walk_every_page(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium)"
    port = int(urlparse(server).port or 0)
    assert urlparse(server).hostname == "127.0.0.1"
    assert listening_addresses(port) == ["127.0.0.1"], listening_addresses(port)
    pid = server_pid(port)
    problems: list[str] = []
    page_times: dict[str, float] = {}
    memory: list[int] = []
    rounds = 0
    with sync_api.sync_playwright() as pw, health_watch(server) as health:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            sessions = []
            for i in range(SESSIONS):
                page = browser.new_context(viewport=dict(VIEWPORT)).new_page()
                session = Session(page, i)
                page.on("pageerror", lambda exc, s=session: s.js_errors.append(str(exc)))
                page.goto(server)
                sessions.append(session)
            first = sessions[0].page
            first.wait_for_selector("[data-testid='stSidebarNav'] a")
            # A link's text is its icon's name, then its title.
            links = first.locator("[data-testid='stSidebarNav'] a").all_inner_texts()
            titles = [t.split("\n")[-1].strip() for t in links]
            assert len(titles) >= 10, titles
            for session in sessions:  # the app opens on its first page: let that run end first
                session.clicked = (titles[0], time.monotonic())
                _finish(session, problems)
            deadline = time.monotonic() + SOAK_S
            while rounds < MAX_ROUNDS and (rounds < MIN_ROUNDS or time.monotonic() < deadline):
                for step in range(1, len(titles) + 1):  # the last step of a round is back on page 0
                    for session in sessions:
                        _click(session, titles[(session.offset * 3 + step) % len(titles)])
                    for session in sessions:
                        took = _finish(session, problems)
                        title = session.clicked[0]
                        page_times[title] = max(page_times.get(title, 0.0), took)
                    assert not problems, problems
                rounds += 1
                memory.append(rss_bytes(pid))
        finally:
            browser.close()
    js_errors = [e for s in sessions for e in s.js_errors]
    with capsys.disabled():
        print(f"\nsoak: {rounds} rounds of {len(titles)} pages x {SESSIONS} sessions in {SOAK_S:.0f} s; "
              f"slowest page {max(page_times.values()):.1f} s ({max(page_times, key=page_times.__getitem__)}); "
              f"health polls {health.polls}, failures {len(health.failures)}; server RSS MiB per round: "
              f"{[round(m / 2**20) for m in memory]}")
    assert not health.failures, health.failures
    assert health.polls >= SOAK_S * 0.5
    assert not js_errors, js_errors
    assert max(page_times.values()) <= PAGE_LIMIT_S, page_times
    baseline, peak = memory[0], max(memory[1:])
    assert peak < baseline * (1 + MAX_GROWTH), (
        f"server memory grew {peak / baseline - 1:.0%} after the first round: {[m // 2**20 for m in memory]} MiB")
