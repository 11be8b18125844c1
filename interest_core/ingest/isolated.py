"""A pseudonymised ingest in two processes: the process that read the raw ids never writes the store.

DuckDB writes blocks holding bytes it never initialised (alignment padding, the unused part of
a string segment), and its Python build shares the system allocator with Python: any memory
that once held raw ids (DuckDB's CSV buffers, the caller's strings, an upload's bytes) can be
reused for such a block and so reach the file. So under pseudonymisation the calling process
reads the file and hashes the ids in a private in-memory DuckDB, writes the hashed staging rows
to a Parquet in a private folder beside the store (removed whatever happens), and a fresh
interpreter (exec'd, never forked: a fork copies the dirty memory), without the pseudonym key
in its environment, takes the store's write lock and does the rest of the ingest from that
Parquet. Its result, or its named error, comes back through a JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

import interest_core
from interest_core import atomic, errors, store_sharing
from interest_core.config import IngestOptions
from interest_core.errors import InterestCoreError, StoreError
from interest_core.ingest import staging
from interest_core.ingest.formats import ColumnMapping
from interest_core.ingest.report import RejectReport
from interest_core.ingest.sources import SourceFile, sql_str

if TYPE_CHECKING:
    from interest_core.store import IngestResult, Progress, Store

REQUEST, PROGRESS, RESULT, STAGED = "request.json", "progress.json", "result.json", "stage.parquet"
FOLDER_PREFIX = "ingest-"
POLL_S = 0.1


@dataclass(frozen=True)
class Plan:
    """What the new dataset is, besides its rows: everything the writing step needs (JSON for the writer)."""

    name: str
    fingerprint: str
    source_sha256: str
    source_name: str
    format: str
    mapping: ColumnMapping
    options: IngestOptions
    policy: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "mapping": self.mapping.to_dict(), "options": self.options.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(**{**data, "mapping": ColumnMapping.from_dict(data["mapping"]),
                      "options": IngestOptions(**data["options"])})


@dataclass(frozen=True)
class Stage:
    """Where ic_stage's rows come from: a query over the file (``source`` set: the file is read here,
    and the reader's rejects are counted here), or the Parquet another process staged and checked."""

    sql: str
    params: list[object] = field(default_factory=list)
    source: SourceFile | None = None
    malformed: int = 0
    malformed_lines: list[dict[str, str]] = field(default_factory=list)


def ingest(store: Store, source: SourceFile, relation: str, plan: Plan, progress: Progress) -> IngestResult:
    """Stage and hash here, write the dataset in a fresh writer process; the caller holds no lock."""
    folder = _private_folder(store.path)
    try:
        progress(0.1, "reading, validating and pseudonymising rows")
        sql, params = staging.stage_sql(relation, plan.mapping, plan.options)
        malformed, lines = _stage_to_parquet(source, sql, params, folder)
        # The path as the caller names it (not resolved): a symlinked store's lock file is beside the link.
        atomic.write_json(folder / REQUEST, {
            "store": str(store.path.absolute()), "wait_s": store.wait_s, "plan": plan.to_dict(),
            "malformed": malformed, "malformed_lines": lines, "caller_pid": os.getpid()}, durable=False)
        progress(0.5, "writing the dataset")
        with store_sharing.external_write(store.path, store.wait_s):
            return _run_writer(folder, plan.options, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _private_folder(store_path: Path) -> Path:
    """A fresh folder (mode 0700) in the store's temp area; those of dead processes are removed first."""
    area = store_sharing.temp_dir(store_path).parent
    area.mkdir(parents=True, exist_ok=True)
    for stale in area.glob(f"{FOLDER_PREFIX}*"):
        pid = stale.name.removeprefix(FOLDER_PREFIX).split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not store_sharing.pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = area / f"{FOLDER_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(mode=0o700)
    return folder


def _stage_to_parquet(source: SourceFile, sql: str, params: list[object],
                      folder: Path) -> tuple[int, list[dict[str, str]]]:
    """The hashed staging rows into the folder's Parquet; the reader's malformed-row count and examples."""
    con = duckdb.connect()  # private and in memory: nothing of the store is open in this process for it
    try:
        store_sharing.configure(con, folder / "spill")
        con.execute("SET preserve_insertion_order = false")
        try:
            con.execute(f"COPY ({sql}) TO {sql_str(str(folder / STAGED))} (FORMAT parquet)", params)
        except duckdb.Error as exc:
            raise staging.read_error(exc, source) from None
        staging.check_encoding(con, source)
        return staging.malformed_rows(con), staging.malformed_lines(con, raw_lines=False)
    finally:
        con.close()


def _run_writer(folder: Path, options: IngestOptions, progress: Progress) -> IngestResult:
    env = dict(os.environ)
    if options.pseudonymize_key_env:
        env.pop(options.pseudonymize_key_env, None)  # the writer has no use for the key
    package_root = str(Path(interest_core.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        if not sys.executable:
            raise OSError("sys.executable is empty")
        child = subprocess.Popen([sys.executable, "-m", "interest_core.ingest.isolated", str(folder)],
                                 env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise StoreError(f"the process that writes a pseudonymised dataset could not start ({exc})",
                         "run the ingest from a regular Python interpreter (not a frozen or embedded one)"
                         ) from None
    last = 0.0
    try:
        while True:
            done = child.poll() is not None
            step = _read_json(folder / PROGRESS)
            if step and float(step["fraction"]) > last:
                last = float(step["fraction"])
                progress(0.5 + last / 2, str(step["message"]))  # the writer's 0..1 is the second half
            if done:
                break
            time.sleep(POLL_S)
    finally:
        if child.poll() is None:  # the caller was interrupted: stop the writer (its transaction rolls back)
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return _outcome(_read_json(folder / RESULT), child.returncode)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _outcome(data: dict[str, Any] | None, returncode: int) -> IngestResult:
    """The writer's result, or its error raised here again (a named error keeps its class, message and fix)."""
    from interest_core.store import IngestResult

    if data is None:
        raise StoreError(f"the process writing the dataset ended without a result (exit code {returncode})",
                         "try again; if it happens again, check the free memory and disk space")
    if "result" in data:
        res = data["result"]
        return IngestResult(str(res["name"]), bool(res["created"]), str(res["message"]), dict(res["summary"]),
                            RejectReport.from_dict(res["report"]))
    failure = data.get("error") or {}
    cls = getattr(errors, str(failure.get("kind")), None)
    if isinstance(cls, type) and issubclass(cls, InterestCoreError):
        raise cls(str(failure.get("problem")), failure.get("fix"))
    raise StoreError(f"writing the dataset failed ({failure.get('problem')})",
                     "try again; if it happens again, report it with the message above")


def _exit_with(caller_pid: int) -> None:
    """A killed caller must not have its dataset stored behind its back: the writer ends as if
    killed too (nothing half-written survives that: see the SIGKILL tests); its staging folder is
    the caller's, removed by the next ingest."""
    def watch() -> None:
        while os.getppid() == caller_pid:
            time.sleep(POLL_S)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="caller-watch").start()


def main(folder_name: str) -> int:
    """The writer process: the locked part of the ingest, from the staged Parquet."""
    from interest_core.ingest import pipeline
    from interest_core.store import Store

    folder = Path(folder_name)

    def progress(fraction: float, message: str) -> None:
        atomic.write_json(folder / PROGRESS, {"fraction": fraction, "message": message}, durable=False)

    try:
        request = json.loads((folder / REQUEST).read_text())
        _exit_with(int(request["caller_pid"]))
        plan = Plan.from_dict(request["plan"])
        stage = Stage(f"SELECT * FROM read_parquet({sql_str(str(folder / STAGED))})",
                      malformed=int(request["malformed"]), malformed_lines=list(request["malformed_lines"]))
        result = pipeline.write_dataset(Store(request["store"], wait_s=float(request["wait_s"])), plan, stage,
                                        progress)
        outcome: dict[str, Any] = {"result": {
            "name": result.name, "created": result.created, "message": result.message,
            "summary": result.summary, "report": result.report.to_dict()}}
    except InterestCoreError as exc:
        outcome = {"error": {"kind": exc.kind, "problem": exc.problem, "fix": exc.fix}}
    except Exception as exc:  # reported to the caller in one line; the traceback goes to stderr
        traceback.print_exc()
        outcome = {"error": {"kind": None, "problem": f"{type(exc).__name__}: {str(exc)[:300]}"}}
    atomic.write_json(folder / RESULT, outcome, durable=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
