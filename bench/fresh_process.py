"""Run one measurement in a fresh spawned process, so its peak memory (ru_maxrss) is its own.

``fn`` must be a module-level function (spawn pickles it by name) returning a dict of figures;
``peak_gb`` (this process) and ``workers_peak_gb`` (its largest child process) are added.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
from collections.abc import Callable
from typing import Any

Measurement = Callable[..., dict[str, Any]]


def _child(fn: Measurement, args: tuple[Any, ...], queue: Any) -> None:
    out = fn(*args)
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out["workers_peak_gb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    queue.put(out)


def in_fresh_process(fn: Measurement, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    out: dict[str, Any] = queue.get()
    proc.join()
    return out
