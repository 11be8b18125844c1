"""Long work (model fits, backtests) in a spawned worker process, with progress on disk.

The app must stay usable while a model trains, and TensorFlow must not be forked, so a job is
a ``spawn``-ed process. Inputs travel as Parquet/JSON files in the job's folder (the DuckDB
store stays with the app process, which holds its lock). The worker writes ``status.json``
atomically after every progress step; any process can read it.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
import traceback
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

State = Literal["queued", "running", "done", "failed"]


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
        return self.state in ("done", "failed")


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, default=str))
    os.replace(tmp, path)


class Job:
    """A handle on a job folder: read its status, wait for it, see if its process lives."""

    def __init__(self, folder: Path, process: Any = None) -> None:
        self.folder = Path(folder)
        self.process = process

    @property
    def id(self) -> str:
        return self.folder.name

    def status(self) -> JobStatus:
        path = self.folder / "status.json"
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return JobStatus("queued", 0.0, "starting")
        status = JobStatus(**data)
        if not status.finished and self.process is not None and not self.process.is_alive():
            # The worker died without a word (killed, out of memory): say so instead of spinning.
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

    def cancel(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()


def launch(job_root: str | Path, task: str, payload: dict[str, Any],
           frames: dict[str, pd.DataFrame] | None = None) -> Job:
    """Start ``task`` (a name in interest_core.forecasting.tasks.TASKS) in a spawned process."""
    from interest_core.forecasting.tasks import TASKS

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(sorted(TASKS))}")
    folder = Path(job_root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    for name, frame in (frames or {}).items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    _write_json_atomic(folder / "request.json", {"task": task, "payload": payload, "frames": sorted(frames or {})})
    _write_json_atomic(folder / "status.json", asdict(JobStatus("queued", 0.0, "queued", updated=time.time())))
    process = mp.get_context("spawn").Process(target=run_job, args=(str(folder),), daemon=True)
    process.start()
    return Job(folder, process)


def run_job(folder_name: str) -> None:
    """Worker entry point: run the task, reporting progress and the result or the error."""
    from interest_core.errors import InterestCoreError
    from interest_core.forecasting.tasks import TASKS

    folder = Path(folder_name)
    request = json.loads((folder / "request.json").read_text())
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in request["frames"]}
    status_path = folder / "status.json"

    def progress(fraction: float, message: str) -> None:
        _write_json_atomic(status_path, asdict(JobStatus("running", float(min(max(fraction, 0.0), 1.0)), message,
                                                         updated=time.time())))

    progress(0.0, "started")
    try:
        result = TASKS[request["task"]](request["payload"], frames, progress)
    except InterestCoreError as exc:
        _write_json_atomic(status_path, asdict(JobStatus("failed", 1.0, "failed", error=str(exc), updated=time.time())))
        return
    except Exception as exc:  # the page shows one line; the traceback stays in the job folder
        (folder / "traceback.txt").write_text(traceback.format_exc())
        _write_json_atomic(status_path, asdict(JobStatus("failed", 1.0, "failed",
                                                         error=f"{type(exc).__name__}: {exc}", updated=time.time())))
        return
    _write_json_atomic(status_path, asdict(JobStatus("done", 1.0, "done", result=result, updated=time.time())))
