"""Tasks a worker process runs (see jobs.py): each takes a JSON payload, frames and a progress callback.

``train``: rolling-origin backtest of the chosen models on one target, the result written where
the Forecasts page reads "the latest backtest", then the chosen model fitted on all complete
periods and saved with its manifest (persist.save_model). The CLI ``fit`` command and the
Forecasts page both go through here, so a model is trained the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.forecasting.forecasters.base import ProgressCallback

Task = Callable[[dict[str, Any], dict[str, pd.DataFrame], ProgressCallback], dict[str, Any]]


def _scaled(progress: ProgressCallback, lo: float, hi: float) -> ProgressCallback:
    return lambda fraction, message: progress(lo + (hi - lo) * fraction, message)


def train(payload: dict[str, Any], frames: dict[str, pd.DataFrame], progress: ProgressCallback) -> dict[str, Any]:
    """Backtest ``payload['models']`` and save ``payload['model']`` fitted on all complete periods.

    payload: dataset, dataset_sha256, target, freq, horizon, folds, step, models (names), model (name),
    params (for the saved model), model_dir, backtest_path, panel_spec (dict), data_end (iso), and optionally
    top_k: group categories into the top K + other, learned before each fold's end (as the CLI backtest does)
    and, for the saved model, from all complete periods.
    frames: ``panel`` (the interest panel, long format, raw categories).
    """
    from interest_core.forecasting import backtest, persist, series
    from interest_core.forecasting.forecasters import make_forecaster

    panel = frames["panel"]
    target, freq, horizon = payload["target"], payload["freq"], int(payload["horizon"])
    data_end = pd.Timestamp(payload["data_end"]) if payload.get("data_end") else None
    params = payload.get("params") or {}
    candidates = [make_forecaster(name, **(params if name == payload["model"] else {}))
                  for name in payload["models"]]
    top_k = int(payload.get("top_k") or 0)
    map_fn = backtest.topk_map_fn(panel, top_k) if top_k else None
    result = backtest.run(panel, target, candidates, freq, horizon, int(payload["folds"]),
                          step=int(payload.get("step", 1)), data_end=data_end, category_map_fn=map_fn,
                          progress=_scaled(progress, 0.0, 0.7))
    meta = {"dataset": payload["dataset"], "folds": payload["folds"], "step": payload.get("step", 1),
            "models": payload["models"], "top_k": top_k}
    board_path = backtest.write_json(backtest.result_to_json(result, meta), payload["backtest_path"])

    progress(0.7, f"fitting {payload['model']} on all complete periods")
    last = pd.Timestamp(panel["period"].max())
    if data_end is not None:
        last = series.last_complete_period(last, data_end, freq)
    fit_panel = panel[panel["period"] <= last]
    category_map = None
    if map_fn is not None:  # the saved model's groups: learned from every complete period
        from interest_core.periods import PERIOD_OFFSETS

        category_map = map_fn(last + PERIOD_OFFSETS[freq])
        fit_panel = backtest.regroup(fit_panel, category_map)
    train_frame = series.training_frame(fit_panel, target, freq, end=last)
    model = make_forecaster(payload["model"], **params).fit(train_frame, freq, progress=_scaled(progress, 0.7, 0.95))
    board = result.leaderboard
    own = board[(board["model"] == model.name) & (board["segment"] == "all")]
    metrics = {str(r["metric"]): float(r["value"]) for r in own.to_dict("records")}
    progress(0.97, "saving the model")
    extra: dict[str, Any] = {"dataset": payload["dataset"], "target": target, "horizon": horizon,
                             "last_period": str(last.date())}
    if target == "engagement":  # what scoring needs: known users/categories, priors, drift baseline
        from interest_core.config import PanelSpec
        from interest_core.forecasting.scoring import training_profile

        extra["profile"] = training_profile(fit_panel, PanelSpec.from_dict(payload["panel_spec"]), category_map)
    persist.save_model(model, payload["model_dir"], dataset_sha256=payload["dataset_sha256"],
                       panel_spec=payload["panel_spec"], metrics=metrics, extra=extra)
    return {"model_dir": str(Path(payload["model_dir"])), "backtest_path": str(board_path), "metrics": metrics}


TASKS: dict[str, Task] = {"train": train}
