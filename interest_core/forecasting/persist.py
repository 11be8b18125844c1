"""Saved models: ``models/NAME/`` = manifest.json + state.json (+ model.keras, windows.npz for the LSTM).

- ``state.json``: the forecaster's JSON-able learned state (``get_state``) and ``extra`` (e.g. the
  training profile that scoring compares new files with).
- binary files: whatever the forecaster's ``binary_files`` hook writes (Keras ``.keras`` files,
  numpy ``.npz`` arrays read with ``allow_pickle=False``). No pickle anywhere.
- ``manifest.json``: format version, registry name, class and params, sha256 and size of every
  file, the training dataset's sha256, the panel spec, backtest metrics, creation time and
  library versions.

Writes are atomic: everything goes into a temporary sibling directory, is fsynced, then renamed
into place (an existing model is moved aside first and removed only after the swap). Loading
checks the manifest schema, that the class is in the forecaster registry (the only classes
ever instantiated), and every file's size and hash before anything is parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interest_core.errors import ArtifactError
from interest_core.forecasting.forecasters.base import Forecaster

FORMAT = "interest-core-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "state.json"
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few KB; refuse to parse anything huge
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PICKLE_MAGIC = (b"\x80", b"(dp", b"(lp", b"c__builtin__", b"ccopy_reg")
RESAVE = "save the model again (python -m interest_core fit ...) or restore the folder from a backup"


@dataclass(frozen=True)
class SavedModel:
    """A loaded model with what its manifest and state recorded beside it."""

    model: Forecaster
    manifest: dict[str, Any]
    extra: dict[str, Any]
    path: Path

    @property
    def panel_spec(self) -> dict[str, Any]:
        return dict(self.manifest["panel_spec"])


def registry_name(model: Forecaster) -> str:
    """The name under which the model's class is registered (only those can be saved or loaded)."""
    from interest_core.forecasting.forecasters import REGISTRY

    key = (type(model).__module__, type(model).__name__)
    for name, entry in REGISTRY.items():
        if tuple(entry) == key:
            return name
    raise ArtifactError(f"{type(model).__name__} is not a registered forecaster",
                        "register it in interest_core.forecasting.forecasters.REGISTRY before saving it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str), encoding="utf-8")


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


def save_model(model: Forecaster, directory: str | Path, *, dataset_sha256: str, panel_spec: dict[str, Any],
               metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write the fitted model to ``directory`` atomically (replacing a model saved there before)."""
    model.check_fitted()
    name = registry_name(model)
    target = Path(directory).resolve()
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST).is_file())):
        raise ArtifactError(f"{str(target)!r} exists and is not a saved model",
                            "pick a new or empty folder (a saved model is only ever replaced by another)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the model from the app run by another account
    try:
        _write_json(tmp / STATE, {"format_version": FORMAT_VERSION, "model": name, "state": model.get_state(),
                                  "extra": extra or {}})
        for fname, writer in model.binary_files().items():
            if not FILE_NAME_RE.match(fname) or fname in (MANIFEST, STATE):
                raise ArtifactError(f"{type(model).__name__} asked to write a file named {fname!r}",
                                    "name binary files with letters, digits, '.', '_' or '-' only")
            writer(str(tmp / fname))
        files = {}
        for path in sorted(tmp.iterdir()):
            if not path.is_file():
                raise ArtifactError(f"saving wrote {path.name!r}, which is not a plain file",
                                    "binary_files writers must each write one file")
            _fsync(path)
            files[path.name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "model": {"name": name, "class": type(model).__name__, "params": model.get_params()},
            "files": files, "dataset_sha256": dataset_sha256, "panel_spec": panel_spec,
            "metrics": metrics or {}, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
        }
        _write_json(tmp / MANIFEST, manifest)
        _fsync(tmp / MANIFEST)
        _fsync(tmp)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename tmp to target; an existing target is moved aside first and deleted after the swap."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}-{datetime.now().timestamp():.0f}"
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put the previous model back
        raise
    _fsync(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- loading ------------------------------------------------------------------------------------

def _fail(fname: str, problem: str, fix: str = RESAVE) -> ArtifactError:
    return ArtifactError(f"{fname}: {problem}", fix)


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a saved model, schema-checked (files are not verified here: see verify)."""
    folder = Path(directory)
    if not folder.is_dir():
        # A save killed between its two renames leaves the previous model aside as .NAME.old-*.
        aside = sorted(folder.parent.glob(f".{folder.name}.old-*")) if folder.parent.is_dir() else []
        fix = (f"a save was interrupted: rename {str(aside[-1])!r} back to {str(folder)!r}" if aside else
               "train one with `python -m interest_core fit NAME --out DIR` or check the path")
        raise ArtifactError(f"no saved model at {str(folder)!r}", fix)
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        raise _fail(str(path), "missing (not a saved model folder)", "point at a folder written by save_model / fit")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise _fail(str(path), f"is {path.stat().st_size:,} bytes, too large for a manifest")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(path), f"is not valid JSON ({exc})") from None
    _check_schema(manifest, str(path))
    return manifest


def _check_schema(manifest: Any, where: str) -> None:
    from interest_core.forecasting.forecasters import REGISTRY

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail(where, f"is not an {FORMAT} manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise _fail(where, f"has format_version {version!r}; this code reads {FORMAT_VERSION}",
                    "upgrade interest_core to read it, or save the model again with this version")
    required = {"model": dict, "files": dict, "dataset_sha256": str, "panel_spec": dict, "metrics": dict,
                "created": str, "versions": dict}
    for key, kind in required.items():
        if not isinstance(manifest.get(key), kind):
            raise _fail(where, f"field {key!r} is missing or not a {kind.__name__}")
    model = manifest["model"]
    name, cls = model.get("name"), model.get("class")
    if name not in REGISTRY or REGISTRY[name][1] != cls:
        raise _fail(where, f"names model {name!r} / class {cls!r}, which is not a registered forecaster",
                    f"only {', '.join(REGISTRY)} can be loaded; save the model with this version of interest_core")
    if not isinstance(model.get("params"), dict):
        raise _fail(where, "field 'model.params' is missing or not an object")
    for fname, entry in manifest["files"].items():
        if not FILE_NAME_RE.match(fname) or fname == MANIFEST:
            raise _fail(where, f"lists a file named {fname!r}, which a saved model never has")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not isinstance(entry.get("bytes"), int):
            raise _fail(where, f"entry for {fname!r} lacks sha256/bytes")
    if STATE not in manifest["files"]:
        raise _fail(where, f"does not list {STATE}")


def verify(directory: str | Path) -> dict[str, Any]:
    """Schema, file set, sizes and sha256 of every file; returns the manifest."""
    folder = Path(directory)
    manifest = read_manifest(folder)
    listed = manifest["files"]
    present = {p.name for p in folder.iterdir()} - {MANIFEST}
    foreign = sorted(present - set(listed))
    if foreign:
        raise _fail(str(folder / foreign[0]), "is not listed in the manifest (a foreign file)",
                    "remove it from the model folder, or save the model again")
    for fname, entry in listed.items():
        path = folder / fname
        if not path.exists():
            raise _fail(str(path), "is missing")
        if path.is_symlink() or not path.is_file():
            raise _fail(str(path), "is not a plain file")
        size = path.stat().st_size
        if size != entry["bytes"]:
            what = "truncated" if size < entry["bytes"] else "longer than saved"
            raise _fail(str(path), f"is {what}: {size:,} bytes, the manifest says {entry['bytes']:,}")
        if _sha256(path) != entry["sha256"]:
            raise _fail(str(path), "does not match its sha256 in the manifest (modified, or from another model)")
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


def load_model(directory: str | Path) -> SavedModel:
    """Verify and load a saved model; any doubt about a file raises ArtifactError naming it."""
    from interest_core.errors import ModelError
    from interest_core.forecasting.forecasters import make_forecaster

    folder = Path(directory)
    manifest = verify(folder)
    state_path = folder / STATE
    try:
        stored = json.loads(state_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(state_path), f"is not valid JSON ({exc})") from None
    name = manifest["model"]["name"]
    if not isinstance(stored, dict) or stored.get("model") != name or not isinstance(stored.get("state"), dict):
        raise _fail(str(state_path), f"does not hold the state of a {name!r} model")
    try:
        model = make_forecaster(name, **manifest["model"]["params"])
    except ModelError as exc:
        raise _fail(str(folder / MANIFEST), f"has parameters this code rejects ({exc.problem})") from None
    binaries = {f: str(folder / f) for f in manifest["files"] if f != STATE}
    for path in binaries.values():
        _check_binary(Path(path))
    try:
        model.set_state(stored["state"])
    except (KeyError, ValueError, TypeError) as exc:
        raise _fail(str(state_path), f"has an incomplete or invalid state ({type(exc).__name__}: {exc})") from None
    model.load_binary_files(binaries)
    model.check_fitted()
    return SavedModel(model, manifest, dict(stored.get("extra") or {}), folder.resolve())
