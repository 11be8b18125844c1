"""One way to write a file that readers never see half-written: temp file, fsync, rename.

Used for every small artefact the forecasting side writes (job status and requests, saved
backtests, manifests, state files, the model folder's pointer). The temp file sits in the
target's folder so the final ``os.replace`` never crosses a file system, which keeps it atomic.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a folder's entry to disk (a rename is durable only once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Replace ``path`` with ``data`` atomically; ``durable`` also fsyncs the file and its folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from an app run by another account
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_path(target.parent)
    return target


def write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), durable=durable)


def write_json(path: str | Path, payload: Any, *, durable: bool = True, indent: int | None = None,
               sort_keys: bool = False) -> Path:
    """JSON (NaN allowed, unknown types as str) written atomically."""
    text = json.dumps(payload, indent=indent, sort_keys=sort_keys, allow_nan=True, default=str)
    return write_text(path, text, durable=durable)
