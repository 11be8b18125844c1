"""Saved models, saved backtests, training jobs and scoring: the Forecasts and Scoring pages.

Saved models load once per folder and manifest sha (``cache_resource``: shared, never refitted on
a rerun); a re-save changes the sha and so the key. Saved backtests are keyed on their file's
(mtime, size): written by atomic rename, a new result is a new key. Training runs in spawned
worker processes whose handles sit in one registry per process and models folder, so any rerun or
browser tab sees them.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import streamlit as st

from interest_core.forecasting.jobs import JobEntry
from ui.queries import analytics_panel, data_end, describe
from ui.store import DatasetKey

if TYPE_CHECKING:  # the forecasting views pull in scikit-learn: imported when a page asks for them
    from interest_core.forecasting.saved_backtest import SavedBacktest
    from interest_core.views.forecasts import SeriesView



def models_dir() -> Path:
    """Where models, backtests and jobs live ($INTEREST_MODELS_DIR or models/)."""
    from interest_core.forecasting.catalog import default_models_dir

    return default_models_dir().resolve()


@st.cache_data(show_spinner=False, max_entries=256)
def _model_info(folder: str, sha: str) -> dict[str, Any]:
    from interest_core.forecasting.catalog import model_info

    return model_info(folder)


def saved_models(dataset: str | None = None) -> pd.DataFrame:
    """Saved models, newest first (the list is read each run so a new model shows at once; rows are cached)."""
    from interest_core.errors import ArtifactError
    from interest_core.forecasting.catalog import manifest_sha, model_folders, models_table

    rows = []
    for folder in model_folders(models_dir()):
        try:
            rows.append(_model_info(str(folder), manifest_sha(folder)))
        except ArtifactError:
            continue  # being replaced right now, or not a model this code can read: not offered
    table = models_table(rows)
    return table if dataset is None else table[table["dataset"] == dataset].reset_index(drop=True)


@st.cache_resource(show_spinner="Loading the saved model...", max_entries=16)
def _saved_model(folder: str, sha: str) -> Any:
    from interest_core.forecasting import persist

    return persist.load_model(folder)  # verifies every file's hash before parsing anything


@st.cache_resource(show_spinner="Forecasting with the saved model...", max_entries=16)
def _saved_predictions(folder: str, sha: str, h: int) -> pd.DataFrame:
    return _saved_model(folder, sha).model.predict(h, level=(80, 95))


def saved_future(folder: str, h: int, unique_id: str) -> pd.DataFrame:
    """A saved model's forecast of one series for its next h periods (empty if it has no such series)."""
    from interest_core.forecasting.catalog import manifest_sha
    from interest_core.views.forecasts import future_of

    return future_of(_saved_predictions(folder, manifest_sha(folder), h), unique_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _backtest_file(path: str, stamp: tuple[int, int]) -> SavedBacktest:
    from interest_core.forecasting.saved_backtest import read_saved_backtest

    return read_saved_backtest(path)


def _backtest_stamp(name: str, target: str, freq: str) -> tuple[Path, tuple[int, int] | None]:
    from interest_core.forecasting.backtest import backtest_path

    path = backtest_path(models_dir(), name, target, freq)
    if not path.is_file():
        return path, None
    info = path.stat()
    return path, (info.st_mtime_ns, info.st_size)


def latest_backtest(name: str, target: str, freq: str) -> SavedBacktest | None:
    """The latest saved backtest of a dataset, target and frequency, or None."""
    path, stamp = _backtest_stamp(name, target, freq)
    return None if stamp is None else _backtest_file(str(path), stamp)


@st.cache_data(show_spinner=False, max_entries=64)
def category_choices(ds: DatasetKey, freq: str) -> list[str]:
    """Categories (the top 20 + other, as the demand backtests group them), most engaged first."""
    from interest_core.views.forecasts import series_top_k

    frame = analytics_panel(ds, freq, series_top_k("category"))
    return frame.groupby("category")["interest"].sum().sort_values(ascending=False).index.astype(str).tolist()


@st.cache_data(show_spinner=False, max_entries=64)
def _saved_series_view(ds: DatasetKey, freq: str, kind: str, key: str | None, saved_stamp: tuple[int, int]
                       ) -> SeriesView | None:
    """The saved backtest's forecasts of one series (a file read), or None when it does not hold the series."""
    from interest_core.views import forecasts as fv

    saved = latest_backtest(ds.name, fv.KIND_TARGET[kind], freq)
    if saved is None or fv.backtest_forecasts(saved, fv.series_id(kind, key)) is None:  # type: ignore[arg-type]
        return None
    return fv.series_view(analytics_panel(ds, freq, fv.series_top_k(kind)), kind, key, freq,  # type: ignore[arg-type]
                          models=(), horizon=1, folds=1, data_end=data_end(ds), saved=saved)


def series_view(ds: DatasetKey, freq: str, kind: str, key: str | None, models: tuple[str, ...],
                params: dict[str, dict[str, Any]], horizon: int, folds: int, use_saved_backtest: bool = True
                ) -> SeriesView:
    """One series' history and backtest forecasts: the saved backtest's when it has the series, else a fresh
    backtest, run by the background worker and saved (ui.fits; ModelFitting while it runs)."""
    from interest_core.views.forecasts import KIND_TARGET, series_top_k
    from ui import fits

    # The saved backtest's (mtime, size) is part of the key: a re-train's new result shows at once.
    stamp = _backtest_stamp(ds.name, KIND_TARGET[kind], freq)[1] if use_saved_backtest else None
    if stamp is not None and (found := _saved_series_view(ds, freq, kind, key, stamp)) is not None:
        return found
    spec = fits.basis(ds, freq).series(kind, key, models, params, horizon, folds, data_end(ds))
    return cast("SeriesView", fits.fitted(spec, lambda: fits.model_frame(ds, freq, spec, series_top_k(kind))))  # type: ignore[arg-type]


# -- training jobs --------------------------------------------------------------------------------

class JobRegistry:
    """Training jobs launched by this server process (newest first), shared by every session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[JobEntry] = []

    def add(self, entry: JobEntry) -> None:
        with self._lock:
            if all(e.job.id != entry.job.id for e in self._entries):  # a second start returns the running job
                self._entries.insert(0, entry)

    def entries(self, dataset: str | None = None) -> list[JobEntry]:
        with self._lock:
            return [e for e in self._entries if dataset is None or e.dataset == dataset]


@st.cache_resource(show_spinner=False)
def _job_registry(models_root: str) -> JobRegistry:
    return JobRegistry()


def jobs(name: str | None = None) -> list[JobEntry]:
    """Training jobs (jobs.JobEntry: job, dataset, target, model, freq, ...) of a dataset, newest first."""
    return _job_registry(str(models_dir())).entries(name)


def launch_training(ds: DatasetKey, target: str, model: str, freq: str, horizon: int, folds: int) -> JobEntry:
    """Start tasks.train in a spawned worker (one per model folder, capped): backtest, then fit and save ``model``."""
    from interest_core.forecasting import jobs as job_runner
    from interest_core.forecasting.catalog import jobs_dir
    from interest_core.views.forecasts import train_payload

    request = train_payload(dataset=ds.name, dataset_sha256=describe(ds).sha256, target=target, freq=freq,
                            horizon=horizon, folds=folds, model=model, models_dir=models_dir(),
                            data_end=data_end(ds))
    frame = analytics_panel(ds, freq)  # raw categories: the task groups them as its request's panel spec says
    job = job_runner.runner(jobs_dir(models_dir())).start("train", request.to_dict(), frames={"panel": frame},
                                                          key=request.model_dir)
    entry = job_runner.JobEntry(job, ds.name, target, model, freq, horizon, folds, time.time(), request.model_dir)
    _job_registry(str(models_dir())).add(entry)
    return entry


# -- scoring --------------------------------------------------------------------------------------

@st.cache_data(show_spinner="Scoring the file against the model...", max_entries=16)
def _score(sha: str, path: str, folder: str, model_sha: str, h: int, k: int, mapping_json: str | None,
           duplicates: str = "auto") -> Any:
    from interest_core.config import IngestOptions
    from interest_core.forecasting import scoring
    from interest_core.ingest.formats import ColumnMapping

    mapping = ColumnMapping.from_dict(json.loads(mapping_json)) if mapping_json else None
    return scoring.score(_saved_model(folder, model_sha), path, h=h, k=k, fmt="generic" if mapping else "auto",
                         mapping=mapping, options=IngestOptions(duplicates=duplicates))  # type: ignore[arg-type]


def score_upload(sha: str, path: Path, folder: str, h: int, k: int, mapping: Any = None,
                 duplicates: str = "auto") -> Any:
    """scoring.ScoringResult of an uploaded file (keyed on its sha256) against a saved model (its manifest sha);
    ``duplicates`` is the ingest's duplicates policy (auto, drop, keep)."""
    from interest_core.forecasting.catalog import manifest_sha

    mapping_json = json.dumps(mapping.to_dict(), sort_keys=True) if mapping is not None else None
    return _score(sha, str(path), folder, manifest_sha(folder), h, k, mapping_json, duplicates)
