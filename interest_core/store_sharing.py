"""Sharing one DuckDB file between the app, the CLI and their threads.

DuckDB lets one process open a file read-write, or many processes open it read-only, never both
(and inside one process, never both modes at once). So nothing here holds the file open while
idle: a read opens it read-only (shared by the process's concurrent readers, closed shortly
after the last one), and a write opens it read-write only for the duration of the write.
Another process's lock is waited for with backoff, up to ``wait_s`` seconds; then
:class:`StoreBusyError`, whose message carries no path, PID or command to run, because the app
shows it in the browser as it is.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from interest_core.errors import StoreBusyError, StoreError

WAIT_ENV = "INTEREST_STORE_WAIT_S"  # how long a read or write waits for another program's lock
DEFAULT_WAIT_S = 10.0
# DuckDB's own default memory limit is 80 % of RAM, per process: the app, the CLI and a worker on
# one machine could then ask for 2.4x the RAM. A limit makes large sorts and aggregates spill to
# the temp directory instead. INTEREST_DUCKDB_MEMORY takes DuckDB's syntax ("2GB", "512MiB").
MEMORY_ENV = "INTEREST_DUCKDB_MEMORY"
MEMORY_FRACTION = 0.125  # of physical RAM, between the bounds below
MEMORY_BOUNDS_GB = (1.0, 3.0)
LINGER_S = 0.5  # an idle read connection stays open this long: a page's queries share one open


def default_wait_s() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV) or DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    # Another process holds the file ("Could not set lock"), or this process holds it in the
    # other mode ("different configuration"): both pass once the holder closes it.
    return "lock" in text.lower() or "different configuration" in text


def _busy() -> StoreBusyError:
    return StoreBusyError(
        "the data store is busy: another program is writing to it, or reading it while a write waits",
        "try again in a moment (a large ingest can take a few minutes)",
    )


@dataclass
class _File:
    """What this process has open of one database file."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    con: duckdb.DuckDBPyConnection | None = None
    read_write: bool = False
    readers: int = 0
    writing: bool = False
    writers_waiting: int = 0
    draining: bool = False
    idle_since: float = 0.0


_FILES: dict[str, _File] = {}
_FILES_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Close lingering read connections at exit (their timers are daemon threads)."""
    with _FILES_LOCK:
        for state in _FILES.values():
            with state.cond:
                if not state.readers and not state.writing:
                    _close(state)


def _file(path: Path) -> _File:
    key = str(path.resolve())
    with _FILES_LOCK:
        return _FILES.setdefault(key, _File())


def default_memory_limit() -> str:
    """DuckDB's memory_limit for every connection the store opens ($INTEREST_DUCKDB_MEMORY or a RAM share)."""
    configured = (os.environ.get(MEMORY_ENV) or "").strip()
    if configured:
        return configured
    try:
        ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        ram_gb = 8.0
    low, high = MEMORY_BOUNDS_GB
    return f"{max(low, min(high, ram_gb * MEMORY_FRACTION)):.1f}GB"


def temp_dir(path: Path) -> Path:
    """Where this process's connections to the file spill: beside the file, one folder per process
    (DuckDB names its spill files alike in every process)."""
    return path.with_name(f".{path.name}.tmp") / f"pid-{os.getpid()}"


def configure(con: duckdb.DuckDBPyConnection, spill_dir: Path | None) -> None:
    """UTC, a memory limit, and a spill folder (None: DuckDB's default)."""
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar = false")  # callers report progress their own way
    try:
        con.execute(f"SET memory_limit = '{default_memory_limit().replace(chr(39), '')}'")
    except duckdb.Error as exc:
        raise StoreError(f"{MEMORY_ENV}={os.environ.get(MEMORY_ENV)!r} is not a memory size DuckDB accepts",
                         f"set {MEMORY_ENV} like 2GB or 512MiB, or unset it") from exc
    if spill_dir is not None:
        try:  # DuckDB creates the last folder of the path when it first spills, not its parents
            spill_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # a folder we cannot write (a read-only store): DuckDB's default stays
        _prune_spill_dirs(spill_dir.parent)
        con.execute(f"SET temp_directory = '{str(spill_dir).replace(chr(39), chr(39) * 2)}'")


def _prune_spill_dirs(parent: Path) -> None:
    """Remove the spill folders of processes that are gone (a killed process leaves its files)."""
    if not parent.is_dir():
        return
    for folder in parent.glob("pid-*"):
        pid = folder.name[4:]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        configure(con, temp_dir(path))
    except BaseException:
        con.close()
        raise
    return con


def _close(state: _File) -> None:
    if state.con is not None:
        state.con.close()
    state.con = None
    state.read_write = False


def _sleep(state: _File, attempt: int, deadline: float) -> None:
    """Wait for a notify or a backoff step; StoreBusyError once the deadline has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _busy()
    state.cond.wait(min(left, 0.02 * 2 ** min(attempt, 5)))


def _close_if_idle(state: _File) -> None:
    with state.cond:
        if state.con is not None and not state.readers and not state.writing and \
                time.monotonic() - state.idle_since >= LINGER_S * 0.9:
            _close(state)
            state.cond.notify_all()


def release(path: Path) -> None:
    """Close this process's idle read connection now, not after the linger: another process is about to write."""
    state = _file(path)
    with state.cond:
        if state.con is not None and not state.readers and not state.writing:
            _close(state)
            state.cond.notify_all()


@contextmanager
def reading(path: Path, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor for reads: on the process's read-only connection, or its read-write one mid-write."""
    state = _file(path)
    deadline = time.monotonic() + wait_s
    attempt = 0
    with state.cond:
        while True:
            # A waiting writer goes first; reads during a write use the writer's connection.
            if state.con is not None and not state.draining and (state.read_write or not state.writers_waiting):
                break
            if state.con is None and not state.writers_waiting:
                try:
                    state.con, state.read_write = _connect(path, read_only=True), False
                    break
                except duckdb.Error as exc:
                    if not _is_lock_conflict(exc):
                        raise
            _sleep(state, attempt, deadline)
            attempt += 1
        state.readers += 1
        cur = state.con.cursor()
    try:
        cur.execute("SET TimeZone='UTC'")
        yield cur
    finally:
        with state.cond:
            cur.close()
            state.readers -= 1
            if not state.readers and not state.writing:
                state.idle_since = time.monotonic()
                if state.writers_waiting or state.read_write:
                    _close(state)
                else:
                    timer = threading.Timer(LINGER_S, _close_if_idle, (state,))
                    timer.daemon = True
                    timer.start()
            state.cond.notify_all()


@contextmanager
def _writers_lock(path: Path, deadline: float) -> Iterator[None]:
    """An advisory lock beside the file, taken by every writer of every process before DuckDB's:
    it also covers the moment between closing the file and replacing it (see ``rewriting``)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        attempt = 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy() from None
                time.sleep(min(deadline - time.monotonic(), 0.02 * 2 ** min(attempt, 5)))
                attempt += 1
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def writing(path: Path, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """The only read-write connection to the file, for one write; others wait (or get StoreBusyError)."""
    state = _file(path)
    deadline = time.monotonic() + wait_s
    _claim_writer(state, deadline)
    try:
        with _writers_lock(path, deadline):
            con = _open_read_write(state, path, deadline)
            cur = con.cursor()
            try:
                cur.execute("SET TimeZone='UTC'")
                yield cur
            finally:
                cur.close()
                with state.cond:
                    _drain_and_close(state)  # closing checkpoints: the file is whole for the next reader
    finally:
        with state.cond:
            state.writing = False
            state.draining = False
            state.cond.notify_all()


@contextmanager
def external_write(path: Path, wait_s: float) -> Iterator[None]:
    """This process's side of a write made by another process it started: its connection is closed
    and stays closed (an open one would block the other process), and its own readers and writers
    wait as they would for a writer of its own."""
    state = _file(path)
    deadline = time.monotonic() + wait_s
    _claim_writer(state, deadline)
    try:
        with state.cond:
            state.writers_waiting += 1  # new readers wait; current ones finish first
            try:
                attempt = 0
                while state.readers:
                    _sleep(state, attempt, deadline)
                    attempt += 1
                _close(state)
            except BaseException:
                state.writers_waiting -= 1
                raise
        try:
            yield
        finally:
            with state.cond:
                state.writers_waiting -= 1
    finally:
        with state.cond:
            state.writing = False
            state.cond.notify_all()


def _claim_writer(state: _File, deadline: float) -> None:
    """One writer per process at a time (the file lock would refuse a second anyway)."""
    with state.cond:
        state.writers_waiting += 1
        try:
            attempt = 0
            while state.writing:
                _sleep(state, attempt, deadline)
                attempt += 1
            state.writing = True
        finally:
            state.writers_waiting -= 1


def _open_read_write(state: _File, path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    with state.cond:
        state.writers_waiting += 1  # new readers wait, so the current ones can finish
        try:
            attempt = 0
            while True:
                if not state.readers:
                    _close(state)  # a lingering read-only connection
                    try:
                        state.con, state.read_write = _connect(path, read_only=False), True
                        return state.con
                    except duckdb.Error as exc:
                        if not _is_lock_conflict(exc):
                            raise
                _sleep(state, attempt, deadline)
                attempt += 1
        finally:
            state.writers_waiting -= 1


def _drain_and_close(state: _File) -> None:
    """Wait for readers sharing the write connection (no new ones join), then close it."""
    state.draining = True
    while state.readers:
        state.cond.wait(0.05)
    _close(state)


@contextmanager
def rewriting(path: Path, wait_s: float) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    """A write that builds a new file and puts it in place of the old one (to compact it).

    The caller writes the new file's whole content at the path it is given; on a clean exit the
    old file is closed and replaced atomically, while the writers' lock keeps other writers out.
    """
    for stale in path.parent.glob(f".{path.name}.rewrite-*"):
        stale.unlink(missing_ok=True)  # left by a killed rewrite
    new = path.with_name(f".{path.name}.rewrite-{os.getpid()}-{threading.get_ident()}")
    state = _file(path)
    try:
        with writing(path, wait_s) as cur:
            yield cur, new
            with state.cond:
                _drain_and_close(state)
                os.replace(new, path)
    finally:
        new.unlink(missing_ok=True)
        Path(str(new) + ".wal").unlink(missing_ok=True)
