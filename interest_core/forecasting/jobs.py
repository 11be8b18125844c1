"""Long work (model fits, backtests) in a spawned worker process, with progress on disk.

The app must stay usable while a model trains, and TensorFlow must not be forked, so a job is
a ``spawn``-ed process. Inputs travel as Parquet/JSON files in the job's folder (the DuckDB
store stays with the app process) and are deleted when the job ends: a job folder never keeps
a user-level panel. The worker writes ``status.json`` atomically after every progress step.

``JobRunner`` is what the app uses: one job per model folder (a second start returns the running
job), at most ``max_workers`` at once across every process sharing the jobs folder (claims
under ``.claims/``, taken under a file lock), cancellation, finished workers reaped (joined, so
none stays ``<defunct>``) and old job folders pruned.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing as mp
import os
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from interest_core import atomic
from interest_core.errors import JobError, JobLimitError, MalformedFileError

State = Literal["queued", "running", "done", "failed", "cancelled"]
MAX_WORKERS_ENV = "INTEREST_MAX_JOBS"
DEFAULT_MAX_WORKERS = 2  # the reference machine has 2 cores
CLAIMS = ".claims"
STATUS = "status.json"
REQUEST = "request.json"


@dataclass(frozen=True)
class JobStatus:
    state: State
    fraction: float
    message: str
    error: str | None = None
    result: dict[str, Any] | None = None
    updated: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> JobStatus:
        if not isinstance(data, dict) or data.get("state") not in get_args(State) \
                or not isinstance(data.get("fraction"), int | float) or not isinstance(data.get("message"), str):
            raise MalformedFileError(f"{where} is not a job status", "delete the job folder and start the job again")
        return cls(data["state"], float(data["fraction"]), data["message"], data.get("error"), data.get("result"),
                   float(data.get("updated") or 0.0))


def _write_status(folder: Path, status: JobStatus) -> None:
    atomic.write_json(folder / STATUS, asdict(status), durable=False)


def _drop_inputs(folder: Path) -> None:
    """Delete a job's input frames (copies of user-level panels) once it has ended."""
    for path in folder.glob("*.parquet"):
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Job:
    """A handle on a job folder: read its status, wait for it, cancel it, reap its process."""

    def __init__(self, folder: Path, process: Any = None) -> None:
        self.folder = Path(folder)
        self.process = process

    @property
    def id(self) -> str:
        return self.folder.name

    def _stored(self) -> JobStatus:
        """What status.json says (validated)."""
        path = self.folder / STATUS
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return JobStatus("queued", 0.0, "starting")
        except json.JSONDecodeError:
            raise MalformedFileError(f"{path} is not valid JSON", "delete the job folder and start it again") from None
        return JobStatus.from_dict(data, str(path))

    def status(self) -> JobStatus:
        status = self._stored()
        if status.finished:
            self.reap()
        elif self.process is not None and not self.process.is_alive():
            # The worker died without a word (killed, out of memory): say so instead of spinning.
            _drop_inputs(self.folder)
            return JobStatus("failed", status.fraction, status.message,
                             error=f"worker process exited with code {self.process.exitcode}")
        return status

    def wait(self, timeout: float | None = None, poll: float = 0.2) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status.finished or (deadline is not None and time.monotonic() > deadline):
                return status
            time.sleep(poll)

    def reap(self, timeout: float = 5.0) -> None:
        """Join a worker that has ended (or is ending), so it does not stay a zombie."""
        if self.process is not None and self.process.pid is not None:
            self.process.join(timeout)

    def cancel(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL), record it as cancelled and delete its inputs."""
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(5.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5.0)
        if not self._stored().finished:
            _write_status(self.folder, JobStatus("cancelled", 1.0, "cancelled", error="cancelled",
                                                 updated=time.time()))
        _drop_inputs(self.folder)


def launch(job_root: str | Path, task: str, payload: Mapping[str, Any],
           frames: dict[str, pd.DataFrame] | None = None) -> Job:
    """Start ``task`` (a name in interest_core.forecasting.tasks.TASKS) in a spawned process (no cap: see JobRunner)."""
    from interest_core.forecasting.tasks import TASKS

    if task not in TASKS:
        raise JobError(f"unknown task {task!r}", f"use one of {', '.join(sorted(TASKS))}")
    folder = Path(job_root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    for name, frame in (frames or {}).items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    atomic.write_json(folder / REQUEST, {"task": task, "payload": dict(payload), "frames": sorted(frames or {})},
                      durable=False)
    _write_status(folder, JobStatus("queued", 0.0, "queued", updated=time.time()))
    process = mp.get_context("spawn").Process(target=run_job, args=(str(folder),), daemon=True)
    process.start()
    return Job(folder, process)


def read_request(folder: Path) -> tuple[str, dict[str, Any], list[str]]:
    """(task, payload, frame names) of a job folder, validated."""
    from interest_core.forecasting.tasks import TASKS

    path = folder / REQUEST
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise MalformedFileError(f"{path} cannot be read ({type(exc).__name__})", "start the job again") from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("task") not in TASKS or not isinstance(data.get("payload"), dict) \
            or not isinstance(frames, list) or not all(isinstance(f, str) and f.isidentifier() for f in frames):
        raise MalformedFileError(f"{path} is not a job request (task, payload, frames)", "start the job again")
    return str(data["task"]), dict(data["payload"]), [str(f) for f in frames]


def run_job(folder_name: str) -> None:
    """Worker entry point: run the task, reporting progress and the result or the error."""
    from interest_core.errors import InterestCoreError
    from interest_core.forecasting.tasks import TASKS

    folder = Path(folder_name)

    def progress(fraction: float, message: str) -> None:
        _write_status(folder, JobStatus("running", float(min(max(fraction, 0.0), 1.0)), message, updated=time.time()))

    try:
        task, payload, names = read_request(folder)
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in names}
        progress(0.0, "started")
        result = TASKS[task](payload, frames, progress)
    except InterestCoreError as exc:
        _write_status(folder, JobStatus("failed", 1.0, "failed", error=str(exc), updated=time.time()))
        return
    except Exception as exc:  # the page shows one line; the traceback stays in the job folder
        (folder / "traceback.txt").write_text(traceback.format_exc())
        _write_status(folder, JobStatus("failed", 1.0, "failed", error=f"{type(exc).__name__}: {exc}",
                                        updated=time.time()))
        return
    finally:
        _drop_inputs(folder)
    _write_status(folder, JobStatus("done", 1.0, "done", result=result, updated=time.time()))


def default_max_workers() -> int:
    value = os.environ.get(MAX_WORKERS_ENV, "")
    try:
        return max(1, int(value)) if value else DEFAULT_MAX_WORKERS
    except ValueError:
        raise JobError(f"{MAX_WORKERS_ENV}={value!r} is not a whole number", f"set {MAX_WORKERS_ENV} to e.g. 2") \
            from None


@dataclass(frozen=True)
class JobEntry:
    """A training job as a page lists it."""

    job: Job
    dataset: str
    target: str
    model: str
    freq: str
    horizon: int
    folds: int
    started: float
    model_dir: str


def _claim_key(key: str) -> str:
    return hashlib.sha256(str(key).encode()).hexdigest()[:20]


class JobRunner:
    """Starts jobs under a jobs folder: one per key (model folder), at most ``max_workers`` at once."""

    def __init__(self, root: str | Path, max_workers: int | None = None, kept: int = 20) -> None:
        self.root = Path(root)
        self.max_workers = default_max_workers() if max_workers is None else max(1, int(max_workers))
        self.kept = kept
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    @contextmanager
    def _claims(self) -> Iterator[Path]:
        """The claims folder, under an exclusive file lock shared with every process using this root."""
        claims = self.root / CLAIMS
        claims.mkdir(parents=True, exist_ok=True)
        fd = os.open(claims / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield claims
        finally:
            os.close(fd)

    def _live_claims(self, claims: Path) -> dict[str, dict[str, Any]]:
        """key -> claim of jobs still running (a claim whose worker ended or died is removed)."""
        live = {}
        for path in claims.glob("*.json"):
            try:
                claim = json.loads(path.read_text())
                folder = Path(claim["folder"])
                running = _alive(int(claim["pid"])) and not Job(folder).status().finished
            except (OSError, ValueError, KeyError, TypeError, MalformedFileError):
                running = False
            if running:
                live[path.stem] = claim
            else:
                path.unlink(missing_ok=True)
        return live

    def start(self, task: str, payload: Mapping[str, Any], frames: dict[str, pd.DataFrame] | None = None,
              key: str | None = None) -> Job:
        """Start a job, or return the running one for the same key (model folder); JobLimitError at the cap."""
        claim_key = _claim_key(key if key is not None else uuid.uuid4().hex)
        with self._lock, self._claims() as claims:
            self.reap()
            live = self._live_claims(claims)
            if claim_key in live:
                if claim_key in self._jobs:
                    return self._jobs[claim_key]
                raise JobError(f"a job is already training {key} (job {Path(live[claim_key]['folder']).name})",
                               "wait for it to finish or cancel it, then start again")
            if len(live) >= self.max_workers:
                raise JobLimitError(f"{len(live)} training jobs are running, the most allowed at once",
                                    f"wait for one to finish or cancel one (the cap is {MAX_WORKERS_ENV})")
            job = launch(self.root, task, payload, frames)
            atomic.write_json(claims / f"{claim_key}.json", {"pid": job.process.pid, "folder": str(job.folder),
                                                             "key": str(key)}, durable=False)
            self._jobs[claim_key] = job
            return job

    def job_for(self, key: str) -> Job | None:
        """The job this runner started for ``key`` and has not reaped yet, or None."""
        with self._lock:
            return self._jobs.get(_claim_key(key))

    def running(self) -> list[Job]:
        return [job for job in self._jobs.values() if not job.status().finished]

    def reap(self) -> None:
        """Join ended workers, delete their inputs, forget them, and prune old job folders."""
        mp.active_children()  # joins every finished child of this process
        for claim_key, job in list(self._jobs.items()):
            if job.status().finished:
                job.reap()
                _drop_inputs(job.folder)
                del self._jobs[claim_key]
        self.prune()

    def prune(self) -> int:
        """Delete all but the ``kept`` newest finished job folders; returns how many went."""
        from interest_core.forecasting.catalog import prune_job_folders

        return prune_job_folders(self.root, keep=self.kept, spare={j.id for j in self._jobs.values()})


_RUNNERS: dict[str, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def runner(root: str | Path) -> JobRunner:
    """The process's one JobRunner for a jobs folder."""
    key = str(Path(root).resolve())
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = JobRunner(key)
        return _RUNNERS[key]
