"""Tasks a worker process runs (see jobs.py): each takes a JSON payload, frames and a progress callback.

``train``: rolling-origin backtest of the chosen models on one target, the result written where
the Forecasts page reads "the latest backtest", then the chosen model fitted on all complete
periods and saved with its manifest (persist.save_model). The CLI ``fit`` command and the
Forecasts page both build a ``TrainRequest`` with one constructor and go through here, so a
model is trained the same way everywhere. ``page_model``: one model behind an analytics page
(page_models.py), saved where every session reads it. ``probe``: holds a worker a while (tests, health checks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from interest_core.forecasting.forecasters.base import ProgressCallback
from interest_core.forecasting.request import TrainRequest

Task = Callable[[Mapping[str, Any], dict[str, pd.DataFrame], ProgressCallback], dict[str, Any]]


def _scaled(progress: ProgressCallback, lo: float, hi: float) -> ProgressCallback:
    return lambda fraction, message: progress(lo + (hi - lo) * fraction, message)


def train(request: TrainRequest | Mapping[str, Any], frames: dict[str, pd.DataFrame],
          progress: ProgressCallback) -> dict[str, Any]:
    """Backtest ``request.models`` and save ``request.model`` fitted on all complete periods.

    ``request``: a TrainRequest (or its ``to_dict`` form, as a worker reads it). With ``top_k``,
    categories are grouped into the top K + other, learned before each fold's end (as the CLI
    backtest does) and, for the saved model, from all complete periods.
    frames: ``panel`` (the interest panel, long format, raw categories).
    """
    from interest_core.forecasting import backtest, persist, series
    from interest_core.forecasting.forecasters import make_forecaster

    req = request if isinstance(request, TrainRequest) else TrainRequest.from_dict(request)
    panel = frames["panel"]
    target, freq, horizon = req.target, req.freq, req.horizon
    data_end = pd.Timestamp(req.data_end) if req.data_end else None
    params = dict(req.params)
    candidates = [make_forecaster(name, **(params if name == req.model else {})) for name in req.models]
    top_k = int(req.top_k or 0)
    map_fn = backtest.topk_map_fn(panel, top_k) if top_k else None
    result = backtest.run(panel, target, candidates, freq, horizon, req.folds, step=req.step, data_end=data_end,
                          category_map_fn=map_fn, progress=_scaled(progress, 0.0, 0.7))
    meta = {"dataset": req.dataset, "folds": req.folds, "step": req.step, "models": list(req.models),
            "top_k": top_k}
    board_path = backtest.write_json(backtest.result_to_json(result, meta), req.backtest_path)

    progress(0.7, f"fitting {req.model} on all complete periods")
    last = pd.Timestamp(panel["period"].max())
    if data_end is not None:
        last = series.last_complete_period(last, data_end, freq)
    fit_panel = panel[panel["period"] <= last]
    category_map = None
    if map_fn is not None:  # the saved model's groups: learned from every complete period
        from interest_core.periods import PERIOD_OFFSETS

        category_map = map_fn(last + PERIOD_OFFSETS[freq])
        fit_panel = backtest.regroup(fit_panel, category_map)
    train_frame = series.training_frame(fit_panel, target, freq, end=last)  # type: ignore[arg-type]
    model = make_forecaster(req.model, **params).fit(train_frame, freq, progress=_scaled(progress, 0.7, 0.95))
    board = result.leaderboard
    own = board[(board["model"] == model.name) & (board["segment"] == "all")]
    metrics = {str(r["metric"]): float(r["value"]) for r in own.to_dict("records")}
    progress(0.97, "saving the model")
    extra: dict[str, Any] = {"dataset": req.dataset, "target": target, "horizon": horizon,
                             "last_period": str(last.date())}
    if target == "engagement":  # what scoring needs: known users/categories, priors, drift baseline
        from interest_core.forecasting.scoring import training_profile

        extra["profile"] = training_profile(fit_panel, req.panel_spec, category_map)
    persist.save_model(model, req.model_dir, dataset_sha256=req.dataset_sha256,
                       panel_spec=req.panel_spec.to_dict(), metrics=metrics, extra=extra)
    return {"model_dir": req.model_dir, "backtest_path": str(board_path), "metrics": metrics}


def page_model(payload: Mapping[str, Any], frames: dict[str, pd.DataFrame],
               progress: ProgressCallback) -> dict[str, Any]:
    """Fit one model behind a page (page_models.PageModel) on ``frames['panel']`` and save its result;
    a failure is saved too, so pages show it instead of fitting again."""
    from interest_core.forecasting import page_models

    spec = payload["model"]
    model = page_models.PageModel(str(spec["dataset"]), str(spec["fingerprint"]), str(spec["kind"]),
                                  tuple((str(k), v) for k, v in spec["params"]))
    page_models.fit(model, payload["root"], frames["panel"], progress)
    return {"folder": str(model.folder(payload["root"]))}


def probe(payload: Mapping[str, Any], frames: dict[str, pd.DataFrame], progress: ProgressCallback) -> dict[str, Any]:
    """Hold a worker for ``payload['seconds']`` (capped at 60), reporting progress: checks the job machinery."""
    seconds = min(float(payload.get("seconds", 0.0)), 60.0)
    steps = max(1, int(seconds / 0.1))
    for i in range(steps):
        time.sleep(seconds / steps)
        progress((i + 1) / steps, f"probe {i + 1}/{steps}")
    return {"rows": {name: len(frame) for name, frame in frames.items()}}


TASKS: dict[str, Task] = {"train": train, "page_model": page_model, "probe": probe}
