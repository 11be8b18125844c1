"""Saved models: ``models/NAME`` points at a version folder holding manifest.json + state.json (+ binaries).

Layout (all in the models folder)::

    NAME -> .NAME.v-<time>-<id>/   a symlink, switched atomically to the newest complete version
    .NAME.v-<time>-<id>/           manifest.json, state.json, model.keras, windows.npz (LSTM)
    .NAME.lock                     held (flock) by the one save writing NAME

A save writes the new version into ``.NAME.tmp-*``, fsyncs it, renames it to ``.NAME.v-*`` and
then replaces the link with ``os.replace`` (atomic), so a process killed at any instant leaves
``NAME`` pointing at the old or the new version, never at nothing. Stale temp folders and old
versions (all but the current and the one before, which a reader may still be reading) are
removed by the next save, under the folder's lock. A folder saved by an earlier version of this
code (a real directory) is converted on its next save.

Loading checks the manifest schema (``manifest.Manifest``), its HMAC signature when
``INTEREST_MODEL_KEY`` is set, that the class is in the forecaster registry (the only classes
ever instantiated), and every file's size and hash before anything is parsed. No pickle.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interest_core import atomic
from interest_core.errors import ArtifactError, ModelBusyError, ModelError
from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.manifest import (
    FILE_NAME_RE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    RESAVE,
    STATE,
    FileEntry,
    Manifest,
    ModelRef,
    check_signature,
    signed,
    signing_key,
)
from interest_core.forecasting.manifest import fail as _fail
from interest_core.forecasting.next_interest import SAVED_PREFIX, next_interest_class, saved_name
from interest_core.forecasting.next_interest.history import NextInterestModel

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "STATE", "Manifest", "SavedModel", "SavedNextInterest",
           "load_model", "load_next_interest", "model_dir", "read_manifest", "save_model", "verify"]
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few KB; refuse to parse anything huge
PICKLE_MAGIC = (b"\x80", b"(dp", b"(lp", b"c__builtin__", b"ccopy_reg")
LOCK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SavedModel:
    """A loaded model with what its manifest and state recorded beside it."""

    model: Forecaster
    manifest: Manifest
    extra: dict[str, Any]
    path: Path

    @property
    def panel_spec(self) -> dict[str, Any]:
        return dict(self.manifest.panel_spec)


@dataclass(frozen=True)
class SavedNextInterest:
    """A loaded next_interest model (ranks every category per user) with its manifest and extras."""

    model: NextInterestModel
    manifest: Manifest
    extra: dict[str, Any]
    path: Path


def registry_name(model: Forecaster | NextInterestModel) -> str:
    from interest_core.forecasting.forecasters.registry import registry_name as name_of

    try:
        return saved_name(model) if isinstance(model, NextInterestModel) else name_of(model)
    except ModelError as exc:
        raise ArtifactError(exc.problem, exc.fix) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import duckdb
    import numpy
    import pandas

    out = {"python": platform.python_version(), "numpy": numpy.__version__, "pandas": pandas.__version__,
           "duckdb": duckdb.__version__}
    for mod in ("keras", "tensorflow", "statsmodels"):  # recorded only if the model used them
        if mod in sys.modules:
            out[mod] = str(getattr(sys.modules[mod], "__version__", "unknown"))
    return out


# -- the folder: link, versions, lock ------------------------------------------------------------

def _link_path(directory: str | Path, check_name: bool = False) -> Path:
    """``directory`` with its parent resolved but not the link itself."""
    path = Path(directory)
    if check_name and not FILE_NAME_RE.fullmatch(path.name):
        raise ArtifactError(f"{path.name!r} is not a usable model folder name",
                            "use letters, digits, '.', '_' or '-' (starting with a letter or digit)")
    return path.parent.resolve() / path.name


def _versions_of(link: Path) -> list[Path]:
    """Complete versions of a model (``.NAME.v-*``, and ``.NAME.old-*`` from earlier code), oldest first."""
    if not link.parent.is_dir():
        return []
    found = [p for p in link.parent.glob(f".{link.name}.*") if p.is_dir() and not p.is_symlink()
             and p.name.startswith((f".{link.name}.v-", f".{link.name}.old-")) and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: (p / MANIFEST).stat().st_mtime_ns)


def _own_target(link: Path) -> str:
    """Where ``link`` points, refused unless it is one of its own version folders (a sibling)."""
    target = os.readlink(link)
    if "/" in target or not target.startswith(f".{link.name}.v-"):
        raise _fail(str(link), f"is a link to {target!r}, not to one of its own versions",
                    "remove the link and save the model again")
    return target


def model_dir(directory: str | Path) -> Path:
    """The folder that holds the current version of the model at ``directory``."""
    link = _link_path(directory)
    if link.is_symlink():
        target = _own_target(link)
        if (link.parent / target).is_dir():
            return link.parent / target
    elif link.is_dir():
        return link  # a real folder: written by an earlier version of this code, or by hand
    versions = _versions_of(link)
    if versions:  # a conversion from the old layout was cut short: its newest complete version
        return versions[-1]
    raise ArtifactError(f"no saved model at {str(directory)!r}",
                        "train one with `python -m interest_core fit NAME --out DIR` or check the path")


@contextmanager
def folder_lock(link: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock of one model folder (``.NAME.lock`` beside it): one save at a time."""
    link.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(link.parent / f".{link.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ModelBusyError(f"another save has been writing {str(link)!r} for over {timeout:.0f} s",
                                         "wait for it to finish, or stop the process that holds it") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock (also when the process dies)


def _clean(link: Path, keep: set[str]) -> None:
    """Remove temp folders/links and versions of ``link`` not in ``keep`` (call under the lock)."""
    for path in link.parent.glob(f".{link.name}.*"):
        if path.name in keep or path.name == f".{link.name}.lock":
            continue
        if path.name.startswith((f".{link.name}.tmp-", f".{link.name}.v-", f".{link.name}.old-")):
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _point(link: Path, version: Path) -> None:
    """Switch ``link`` to ``version`` atomically (a real folder of the old layout becomes a version first)."""
    if link.exists() and not link.is_symlink():
        # Old layout: between these two renames the folder is the newest version, which model_dir finds.
        os.rename(link, link.parent / f".{link.name}.old-{time.time_ns()}")
    tmp = link.parent / f".{link.name}.tmp-link-{uuid.uuid4().hex[:8]}"
    os.symlink(version.name, tmp)
    os.replace(tmp, link)
    atomic.fsync_path(link.parent)


def _check_target(link: Path) -> None:
    if link.is_symlink():
        _own_target(link)  # refuses a link that is not to one of its own versions
    elif link.exists() and (not link.is_dir() or (any(link.iterdir()) and not (link / MANIFEST).is_file())):
        raise ArtifactError(f"{str(link)!r} exists and is not a saved model",
                            "pick a new or empty folder (a saved model is only ever replaced by another)")


def save_model(model: Forecaster | NextInterestModel, directory: str | Path, *, dataset_sha256: str,
               panel_spec: dict[str, Any], metrics: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write the fitted model as a new version of ``directory`` and switch to it atomically."""
    model.check_fitted()
    name = registry_name(model)
    link = _link_path(directory, check_name=True)
    with folder_lock(link):
        _check_target(link)
        current = os.readlink(link) if link.is_symlink() else None
        _clean(link, {current} if current else set())  # stale temp folders and superseded versions
        tmp = Path(tempfile.mkdtemp(prefix=f".{link.name}.tmp-", dir=link.parent))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the model from the app run by another account
            _write_version(model, name, tmp, dataset_sha256, panel_spec, metrics, extra)
            version = link.parent / f".{link.name}.v-{time.time_ns()}-{uuid.uuid4().hex[:6]}"
            os.rename(tmp, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _point(link, version)
        _clean(link, {version.name, *([current] if current else [])})
    return link


def _write_version(model: Forecaster | NextInterestModel, name: str, folder: Path, dataset_sha256: str,
                   panel_spec: dict[str, Any], metrics: dict[str, Any] | None,
                   extra: dict[str, Any] | None) -> Manifest:
    atomic.write_json(folder / STATE, {"format_version": FORMAT_VERSION, "model": name, "state": model.to_state(),
                                       "extra": extra or {}}, indent=1, sort_keys=True, durable=False)
    allowed = {STATE, *model.write_files(folder)}
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name not in allowed or not FILE_NAME_RE.fullmatch(path.name) or path.name == MANIFEST:
            raise ArtifactError(f"saving {type(model).__name__} wrote {path.name!r}, which it does not declare",
                                "list every binary file in the class's `files` and name it with letters, "
                                "digits, '.', '_' or '-'")
        if path.is_symlink() or not path.is_file():
            raise ArtifactError(f"saving wrote {path.name!r}, which is not a plain file",
                                "_write_files must write one plain file per declared name")
        atomic.fsync_path(path)
        files[path.name] = FileEntry(_sha256(path), path.stat().st_size)
    manifest = signed(Manifest(
        ModelRef(name, type(model).__name__, model.get_params()), files, dataset_sha256, dict(panel_spec),
        dict(metrics or {}), datetime.now(UTC).isoformat(timespec="seconds"), _versions()), signing_key())
    atomic.write_json(folder / MANIFEST, manifest.to_dict(), indent=1, sort_keys=True)
    atomic.fsync_path(folder)
    return manifest


# -- loading ------------------------------------------------------------------------------------

def read_manifest(directory: str | Path) -> Manifest:
    """The manifest of a saved model, schema-checked (files are not verified here: see verify)."""
    return _read_manifest(model_dir(directory), Path(directory))


def _read_manifest(folder: Path, where: Path) -> Manifest:
    path, shown = folder / MANIFEST, where / MANIFEST
    if not path.is_file() or path.is_symlink():
        raise _fail(str(shown), "missing (not a saved model folder)", "point at a folder written by save_model / fit")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise _fail(str(shown), f"is {path.stat().st_size:,} bytes, too large for a manifest")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(shown), f"is not valid JSON ({exc})") from None
    return Manifest.from_dict(data, str(shown))


def verify(directory: str | Path) -> Manifest:
    """Schema, signature (with a key), file set, sizes and sha256 of every file; returns the manifest.

    Messages name files under ``directory`` as given (the link), not the version folder behind it.
    """
    return _verify(model_dir(directory), Path(directory))


def _verify(folder: Path, shown: Path) -> Manifest:
    manifest = _read_manifest(folder, shown)
    check_signature(manifest, str(shown / MANIFEST), signing_key())
    listed = manifest.files
    present = {p.name for p in folder.iterdir()} - {MANIFEST}
    foreign = sorted(present - set(listed))
    if foreign:
        raise _fail(str(shown / foreign[0]), "is not listed in the manifest (a foreign file)",
                    "remove it from the model folder, or save the model again")
    for fname, entry in listed.items():
        path = folder / fname
        if not path.exists():
            raise _fail(str(shown / fname), "is missing")
        if path.is_symlink() or not path.is_file():
            raise _fail(str(shown / fname), "is not a plain file")
        size = path.stat().st_size
        if size != entry.bytes:
            what = "truncated" if size < entry.bytes else "longer than saved"
            raise _fail(str(shown / fname), f"is {what}: {size:,} bytes, the manifest says {entry.bytes:,}")
        if _sha256(path) != entry.sha256:
            raise _fail(str(shown / fname), "does not match its sha256 in the manifest (modified, or from another "
                        "model)")
    return manifest


def _check_binary(path: Path) -> None:
    """Refuse what the Keras or numpy loaders should never see (e.g. a pickle renamed to .keras)."""
    head = path.read_bytes()[:16]
    if head.startswith(PICKLE_MAGIC):
        raise _fail(str(path), "is a Python pickle, which is never loaded", RESAVE)
    if path.suffix in (".keras", ".npz"):
        if not zipfile.is_zipfile(path):
            raise _fail(str(path), f"is not a {path.suffix} archive (zip)")
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as zf:
                if "config.json" not in zf.namelist():
                    raise _fail(str(path), "is a zip without a Keras config.json")


def _load(directory: str | Path, next_interest: bool) -> tuple[Any, Manifest, dict[str, Any]]:
    """Verify a saved model and build it from its state; any doubt about a file raises ArtifactError naming it."""
    from interest_core.forecasting.forecasters import forecaster_class

    folder = model_dir(directory)  # resolved once: a save switching the link meanwhile does not mix versions
    manifest = _verify(folder, Path(directory))
    name = manifest.model.name
    if name.startswith(SAVED_PREFIX) != next_interest:
        kind, loader = ("a next_interest model", "load_next_interest") if not next_interest else \
            ("a forecaster", "load_model")
        raise ArtifactError(f"{str(directory)!r} holds {kind} ({name})", f"load it with persist.{loader}")
    state_path = folder / STATE
    try:
        stored = json.loads(state_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(Path(directory) / STATE), f"is not valid JSON ({exc})") from None
    if not isinstance(stored, dict) or stored.get("model") != name or not isinstance(stored.get("state"), dict):
        raise _fail(str(Path(directory) / STATE), f"does not hold the state of a {name!r} model")
    cls = next_interest_class(name.removeprefix(SAVED_PREFIX)) if next_interest else forecaster_class(name)
    unknown = sorted(set(manifest.model.params) - set(cls._param_names()))
    if unknown:
        raise _fail(str(Path(directory) / MANIFEST), f"has parameters this code rejects ({name} has no {unknown})")
    binaries = {f: folder / f for f in manifest.files if f != STATE}
    for path in binaries.values():
        _check_binary(path)
    try:
        model = cls.from_state(manifest.model.params, stored["state"], binaries)
    except (KeyError, ValueError, TypeError) as exc:
        raise _fail(str(Path(directory) / STATE),
                    f"has an incomplete or invalid state ({type(exc).__name__}: {exc})") from None
    model.check_fitted()
    return model, manifest, dict(stored.get("extra") or {})


def load_model(directory: str | Path) -> SavedModel:
    """Verify and load a saved forecaster; any doubt about a file raises ArtifactError naming it."""
    model, manifest, extra = _load(directory, next_interest=False)
    return SavedModel(model, manifest, extra, _link_path(directory))


def load_next_interest(directory: str | Path) -> SavedNextInterest:
    """Verify and load a saved next_interest model (same checks as ``load_model``); ``.model.top_categories``
    scores users in batches."""
    model, manifest, extra = _load(directory, next_interest=True)
    return SavedNextInterest(model, manifest, extra, _link_path(directory))
