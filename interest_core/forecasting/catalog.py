"""Where saved models, backtests and training jobs live, and what is saved there.

Layout under the models folder (``$INTEREST_MODELS_DIR``, else the repository's ``models/``,
which holds only artefacts written by code)::

    <dataset>-<target>-<model>/   a saved model (persist.save_model: manifest.json, state.json, ...)
    backtests/<dataset>-<target>-<freq>.json   the latest backtest (backtest.backtest_path)
    jobs/<job id>/                 a training job's request, inputs and status (jobs.launch)

``model_info`` reads a model's manifest and the small part of its state that says what it is
(dataset, target, horizon); it never loads the model itself (persist.load_model does that).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.errors import ArtifactError

MODELS_ENV = "INTEREST_MODELS_DIR"  # redirects every model, backtest and job folder (tests, deployments)
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
RESERVED = ("backtests", "jobs")  # folders of the models dir that are not saved models
KEPT_JOBS = 20
MODEL_COLUMNS: tuple[str, ...] = ("name", "dataset", "target", "model", "freq", "horizon", "last_period", "created",
                                  "metrics", "path", "manifest_sha256")


def default_models_dir() -> Path:
    """``$INTEREST_MODELS_DIR`` when set, else ``models/`` beside the package."""
    return Path(os.environ.get(MODELS_ENV) or DEFAULT_MODELS_DIR)


def model_folder(models_dir: str | Path, dataset: str, target: str, model: str) -> Path:
    """``<models_dir>/<dataset>-<target>-<model>``: one saved model per dataset, target and model name."""
    return Path(models_dir) / f"{dataset}-{target}-{model}"


def jobs_dir(models_dir: str | Path) -> Path:
    return Path(models_dir) / "jobs"


def manifest_sha(folder: str | Path) -> str:
    """sha256 of a model's manifest.json (it lists every file's hash, so it changes with any re-save)."""
    path = Path(folder) / "manifest.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise ArtifactError(f"no saved model at {str(folder)!r} (manifest.json is missing)",
                            "train the model again, or pick another one from the list") from None


def model_folders(models_dir: str | Path) -> list[Path]:
    """Folders under the models dir that hold a manifest, newest first (by the manifest's mtime)."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")  # .tmp / .old: mid-swap
             and p.name not in RESERVED and (p / "manifest.json").is_file()]
    return sorted(found, key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)


def model_info(folder: str | Path) -> dict[str, Any]:
    """One row of MODEL_COLUMNS for a saved model, from its manifest and the 'extra' of its state."""
    from interest_core.forecasting import persist

    path = Path(folder)
    manifest = persist.read_manifest(path)  # schema-checked; file hashes are checked when it is loaded
    try:
        extra = json.loads((path / persist.STATE).read_text(encoding="utf-8")).get("extra") or {}
    except (OSError, ValueError, AttributeError):
        extra = {}
    return {
        "name": path.name, "dataset": str(extra.get("dataset", "")), "target": str(extra.get("target", "")),
        "model": manifest.model.name, "freq": str(manifest.panel_spec.get("freq", "")),
        "horizon": int(extra.get("horizon") or 0), "last_period": str(extra.get("last_period", "")),
        "created": manifest.created, "metrics": dict(manifest.metrics), "path": str(path.parent.resolve() / path.name),
        "manifest_sha256": manifest_sha(path),
    }


def models_table(infos: list[dict[str, Any]]) -> pd.DataFrame:
    """The model list as a frame (MODEL_COLUMNS), newest first."""
    return pd.DataFrame(infos, columns=list(MODEL_COLUMNS))


def prune_jobs(models_dir: str | Path, keep: int = KEPT_JOBS, spare: set[str] | frozenset[str] = frozenset()) -> int:
    """Delete all but the ``keep`` newest job folders of a models dir; returns how many went."""
    return prune_job_folders(jobs_dir(models_dir), keep, spare)


def prune_job_folders(root: str | Path, keep: int = KEPT_JOBS,
                      spare: set[str] | frozenset[str] = frozenset()) -> int:
    """Delete all but the ``keep`` newest job folders under ``root`` (never those in ``spare``: running)."""
    root = Path(root)
    if not root.is_dir():
        return 0
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.name, reverse=True)
    gone = [old for old in folders[keep:] if old.name not in spare]
    for old in gone:
        shutil.rmtree(old, ignore_errors=True)
    return len(gone)
