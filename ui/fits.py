"""Models behind the analytics pages: fitted by the background worker, saved, read back by every session.

``fitted(model, panel)`` returns a saved result at once. Without one it starts the fit in a spawned
worker (forecasting/jobs.py, one job per model, a cap on how many run) and waits for it a few seconds
of this run's budget (``$INTEREST_FIT_WAIT_S``, shared by every model of the run); a fit that takes
longer raises ``ModelFitting``, which ``section()`` draws as a progress bar that reruns the page when
the fit ends. A failed fit is remembered on disk and raised as ``FitFailedError`` every run (no refit)
until a person presses Retry.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from interest_core.errors import FitFailedError, InterestCoreError, JobError
from interest_core.forecasting.page_defaults import ModelBasis
from interest_core.forecasting.page_frames import UserSample
from interest_core.forecasting.page_models import PageModel
from ui.store import DatasetKey

WAIT_ENV = "INTEREST_FIT_WAIT_S"
DEFAULT_WAIT_S = 6.0  # of a page's 10 s cold budget; longer fits show progress instead
POLL_S = 1.0
WAITING = "waiting for a free worker"
_local = threading.local()  # this run's wait budget (a server runs sessions in threads)


class ModelFitting(InterestCoreError):
    """The model is being fitted in the background (not a failure: ``section()`` shows its progress)."""

    def __init__(self, model: PageModel, fraction: float, message: str,
                 panel: Callable[[], pd.DataFrame]) -> None:
        super().__init__(f"the {model.title} is being fitted in the background ({fraction:.0%}: {message})",
                         "this part of the page appears when it is ready")
        self.model, self.fraction, self.message, self.panel = model, fraction, message, panel


def models_root() -> Path:
    """The app store's page models (beside its database file)."""
    from interest_core.forecasting.page_models import page_models_root
    from ui.store import db_path

    return page_models_root(db_path())


def basis(ds: DatasetKey, freq: str) -> ModelBasis:
    """The models' basis of a dataset view: its version (with any date window) and last complete period."""
    from ui.queries import last_complete_period

    extra = [f"{f.name}={getattr(ds, f.name)}" for f in fields(ds)
             if f.name not in ("db", "name", "fingerprint") and getattr(ds, f.name) is not None]
    version = "|".join([ds.fingerprint, *extra])
    return ModelBasis(ds.name, version, freq, last_complete_period(ds, freq), model_sample(ds, freq))


@st.cache_data(show_spinner=False, max_entries=64, ttl=60)
def model_sample(ds: DatasetKey, freq: str, share: int = 1) -> UserSample | None:
    """The users the models of users read on a large log (page_frames.user_sample); None on a small log, a date
    range, or before ``prepare`` stored the panel (looked up again after a minute: prepare may finish meanwhile).
    ``share``: 1/share of the models' row cap (a sub-sample: the same hash, a lower threshold)."""
    from interest_core.forecasting.page_frames import max_model_rows, user_sample
    from ui.queries import whole_dataset

    return user_sample(ds.store(), ds.name, freq, max_model_rows() // share) if whole_dataset(ds) else None


def model_frame(ds: DatasetKey, freq: str, model: PageModel, grouping: Any = None) -> pd.DataFrame:
    """The frame ``model`` is fitted on: the analytics panel (``grouping`` as ui.queries.analytics_panel takes
    it); on a large log only what the model needs (page_frames): the sample's rows for models of users, one
    user's rows for a user's series, else the panel summed per category and period."""
    from interest_core.forecasting import page_frames
    from ui.grouping import choice_of, panel_map
    from ui.queries import analytics_panel

    on = basis(ds, freq)
    if on.sample is None:
        frame = analytics_panel(ds, freq, grouping)
        return frame[frame["period"] <= on.last_period] if model.kind == "learned_promotion" else frame
    if model.kind == "series_view" and model.args.get("series") == "user":
        return page_frames.user_rows_panel(ds.store(), ds.name, freq, str(model.args.get("key")))
    choice = choice_of(grouping)
    groups = panel_map(ds, choice)
    if model.kind in page_frames.SAMPLED_KINDS:
        frame = page_frames.sampled_panel(ds.store(), ds.name, freq, on.sample, groups)
        if model.kind == "learned_promotion":  # learns from complete periods only
            frame = frame[frame["period"] <= on.last_period]
    else:
        frame = page_frames.category_totals_panel(ds.store(), ds.name, freq, groups, on.last_period)
    return choice.filter(frame)


def sample_note(ds: DatasetKey, freq: str, what: str = "Models of users on this page learn from and score",
                share: int = 1) -> str | None:
    """What a page of models of users says on a large log (``what`` then the sample), None on a small one."""
    sample = model_sample(ds, freq, share)
    return None if sample is None else f"{what} {sample.describe()}."


@st.cache_data(show_spinner=False, max_entries=64)
def _load(folder: str, stamp: int, model: PageModel) -> Any:
    from interest_core.forecasting.page_models import load_result

    return load_result(model, Path(folder).parents[1])


def _runner() -> Any:
    from interest_core.forecasting import jobs
    from interest_core.forecasting.page_models import jobs_root

    return jobs.runner(jobs_root(models_root()))


def _wait_budget() -> float:
    """Seconds this run may still wait for fits (a new run gets a new budget)."""
    from ui import frame

    try:
        run: object = frame.current()
    except RuntimeError:  # outside a page run (a test calling ui code): one budget per call
        run = object()
    if getattr(_local, "run", None) is not run:
        _local.run, _local.deadline = run, time.monotonic() + float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S))
    return max(0.0, float(_local.deadline) - time.monotonic())


def _saved(model: PageModel, root: Path) -> tuple[bool, Any]:
    from interest_core.forecasting.page_models import result_stamp

    stamp = result_stamp(model, root)
    return (False, None) if stamp is None else (True, _load(str(model.folder(root)), stamp, model))


def fitted(model: PageModel, panel: Callable[[], pd.DataFrame], wait: float | None = None) -> Any:
    """The model's saved result; starts (or joins) its background fit when there is none.

    ``panel``: builds the frame the fit needs (called only when a fit starts). ``wait``: seconds to wait
    for the fit (None: what is left of this run's budget). Raises the remembered FitFailedError, or
    ModelFitting while the fit runs."""
    from interest_core.forecasting.page_models import failure

    root = models_root()
    found, value = _saved(model, root)
    if found:
        return value
    failed = failure(model, root)
    if failed is not None:
        raise failed
    key = str(model.folder(root))
    job = _runner().job_for(key)
    if job is None:
        try:
            job = _runner().start("page_model", {"model": _spec(model), "root": str(root)},
                                  frames={"panel": panel()}, key=key)
        except JobError:  # the cap is reached, or another process fits it: look again on the next poll
            raise ModelFitting(model, 0.0, WAITING, panel) from None
    elif wait is None:
        wait = 0.0  # started by an earlier run: this one shows its progress at once
    status = job.wait(timeout=_wait_budget() if wait is None else wait, poll=0.05)
    found, value = _saved(model, root)
    if found:
        return value
    if status.finished:
        raise failure(model, root) or FitFailedError(f"the {model.title} could not be fitted ({status.error})",
                                                     "press Retry")
    raise ModelFitting(model, status.fraction, status.message, panel)


def _spec(model: PageModel) -> dict[str, Any]:
    return {"dataset": model.dataset, "fingerprint": model.fingerprint, "kind": model.kind,
            "params": [list(p) for p in model.params]}


def _show_fitting(wait: ModelFitting) -> None:
    model = wait.model

    @st.fragment(run_every=POLL_S)
    def _poll() -> None:
        try:
            fitted(model, wait.panel, wait=0.0)  # joins the running fit, or starts it once a worker is free
        except ModelFitting as still:
            st.progress(min(max(still.fraction, 0.0), 1.0),
                        text=f"Fitting the {model.title} in the background: {still.message} ({still.fraction:.0%}). "
                             "This part of the page appears when it is ready; the rest of the app stays usable.")
            return
        except FitFailedError:
            pass
        st.rerun()  # the whole page: it now reads the saved result (or shows the remembered failure)

    _poll()


@contextmanager
def section() -> Iterator[None]:
    """Run a part of a page that needs a model: while it fits, a progress bar; a failed fit, its named error
    and a Retry button. The rest of the page goes on either way."""
    from ui.widgets import show_error

    try:
        yield
    except ModelFitting as wait:
        _show_fitting(wait)
    except FitFailedError as exc:
        show_error(exc)
        if exc.record:
            st.button("Retry", key=f"retry_{Path(exc.record).name}", icon=":material/refresh:",
                      on_click=_forget, args=(exc.record,))


def _forget(record: str) -> None:
    Path(record).unlink(missing_ok=True)


def prepare_after_upload(name: str) -> bool:
    """Start building a dataset's derived tables and page summaries in the worker pool (the work of the CLI's
    ``prepare`` without the page models, which pages fit when first opened): after an upload, or when the
    summaries are of an older version (``refresh_stale``). False when the pool is full or another session
    already prepares it: pages read the events until the tables exist."""
    from interest_core.errors import JobError
    from ui.store import db_path

    try:
        _runner().start("prepare", {"db": db_path(), "dataset": name}, key=f"prepare:{db_path()}:{name}")
    except JobError:
        return False
    return True


@st.cache_data(show_spinner=False, ttl=60, max_entries=64)
def _stale(ds: DatasetKey) -> bool:
    from interest_core.derived_results import stale

    return stale(ds.store(), ds.name)


def refresh_stale(ds: DatasetKey) -> bool:
    """After an upgrade that changed what ``prepare`` summarises, its stored summaries are not served and pages
    compute them from the events (slow on a large log): start ``prepare`` again in the background, as after an
    upload. True when it started (looked up again after a minute)."""
    if not _stale(ds.whole()):
        return False
    started = prepare_after_upload(ds.name)
    if started:
        _stale.clear()
    return started
