"""Training jobs: tasks.train in a spawned worker (jobs.launch) and in-process, on small synthetic panels.

A job must write the backtest JSON where the Forecasts page reads it and a model that loads
(persist.load_model, hashes checked) and forecasts exactly as the same model fitted in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from interest_core.errors import ArtifactError, ModelError
from interest_core.forecasting import backtest, jobs, persist, series, tasks
from interest_core.forecasting.catalog import MODELS_ENV, default_models_dir, manifest_sha, model_folders, model_info
from interest_core.forecasting.forecasters import BASELINE_NAMES, make_forecaster
from interest_core.views.forecasts import train_payload
from tests.forecast_data import synthetic_panel

JOB_TIMEOUT = 120


def payload(models: Path, target: str = "user_total", model: str = "window_mean", folds: int = 2,
            top_k: int | None = None) -> dict[str, Any]:
    return train_payload(dataset="synth", dataset_sha256="0" * 64, target=target, freq="W", horizon=2, folds=folds,
                         model=model, models_dir=models, data_end=None, top_k=top_k)


def test_a_train_job_in_a_worker_writes_the_backtest_and_a_model_that_predicts_as_in_process(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=6, n_categories=4, n_periods=20)
    request = payload(tmp_path)
    job = jobs.launch(tmp_path / "jobs", "train", request, frames={"panel": panel})
    status = job.wait(timeout=JOB_TIMEOUT)
    assert status.state == "done", status.error
    assert job.process is not None and job.process.pid is not None  # ran in its own process

    saved = backtest.read_json(str(request["backtest_path"]))
    assert saved["meta"]["dataset"] == "synth" and len(saved["meta"]["cutoffs"]) == 2
    assert set(saved["leaderboard"]["model"]) == set(BASELINE_NAMES)
    assert status.result is not None and status.result["metrics"]["mae"] > 0

    loaded = persist.load_model(str(request["model_dir"]))
    train = series.training_frame(panel, "user_total", "W", end=panel["period"].max())
    local = make_forecaster("window_mean").fit(train, "W")
    pd.testing.assert_frame_equal(loaded.model.predict(2, level=[80, 95]), local.predict(2, level=[80, 95]))

    info = model_info(str(request["model_dir"]))
    assert (info["dataset"], info["target"], info["model"], info["freq"], info["horizon"]) == \
        ("synth", "user_total", "window_mean", "W", 2)
    assert info["manifest_sha256"] == manifest_sha(str(request["model_dir"]))
    assert model_folders(tmp_path) == [Path(str(request["model_dir"]))]  # backtests/ and jobs/ are not models


def test_a_failing_job_reports_the_named_error(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=3, n_categories=2, n_periods=8)
    job = jobs.launch(tmp_path / "jobs", "train", payload(tmp_path, folds=8), frames={"panel": panel})
    status = job.wait(timeout=JOB_TIMEOUT)
    assert status.state == "failed"
    assert status.error is not None and "cannot hold 8 folds" in status.error
    assert not model_folders(tmp_path)


def test_category_demand_is_grouped_into_the_top_k_per_fold_and_for_the_saved_model(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=6, n_categories=5, n_periods=16)
    request = payload(tmp_path, target="category_demand", model="last_value", top_k=2)
    tasks.train(request, {"panel": panel}, lambda fraction, message: None)  # in-process: same code as the worker
    loaded = persist.load_model(str(request["model_dir"]))
    ids = set(loaded.model.predict(1)["unique_id"].astype(str))
    assert len(ids) == 3 and "other" in ids  # the top 2 categories and everything else
    grouping = loaded.manifest.panel_spec["grouping"]
    assert (grouping["method"], grouping["k"]) == ("topk", 2)
    assert backtest.read_json(str(request["backtest_path"]))["meta"]["top_k"] == 2


def test_an_engagement_job_saves_the_scoring_profile(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=5, n_categories=3, n_periods=12)
    request = payload(tmp_path, target="engagement", model="recency_decay")
    tasks.train(request, {"panel": panel}, lambda fraction, message: None)
    profile = persist.load_model(str(request["model_dir"])).extra["profile"]
    assert profile["users"] == sorted(panel["user_id"].astype(str).unique())
    with pytest.raises(ModelError, match="ARIMA fits one model per series"):
        payload(tmp_path, target="engagement", model="arima")


def test_models_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert default_models_dir() == tmp_path
    monkeypatch.delenv(MODELS_ENV)
    assert default_models_dir().name == "models"
    with pytest.raises(ArtifactError, match="no saved model"):
        manifest_sha(tmp_path / "missing")
