"""Training jobs: tasks.train in a spawned worker (jobs.launch) and in-process, on small synthetic panels.

A job must write the backtest JSON where the Forecasts page reads it and a model that loads
(persist.load_model, hashes checked) and forecasts exactly as the same model fitted in this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from interest_core.errors import ArtifactError, JobError, JobLimitError, ModelError
from interest_core.forecasting import backtest, jobs, persist, series, tasks
from interest_core.forecasting.catalog import MODELS_ENV, default_models_dir, manifest_sha, model_folders, model_info
from interest_core.forecasting.forecasters import BASELINE_NAMES, make_forecaster
from interest_core.forecasting.request import TrainRequest
from interest_core.forecasting.saved_backtest import read_saved_backtest
from interest_core.views.forecasts import train_payload
from tests.forecast_data import synthetic_panel

JOB_TIMEOUT = 120


def payload(models: Path, target: str = "user_total", model: str = "window_mean", folds: int = 2,
            top_k: int | None = None) -> TrainRequest:
    return train_payload(dataset="synth", dataset_sha256="0" * 64, target=target, freq="W", horizon=2, folds=folds,
                         model=model, models_dir=models, data_end=None, top_k=top_k)


def test_a_train_job_in_a_worker_writes_the_backtest_and_a_model_that_predicts_as_in_process(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=6, n_categories=4, n_periods=20)
    request = payload(tmp_path)
    job = jobs.launch(tmp_path / "jobs", "train", request.to_dict(), frames={"panel": panel})
    status = job.wait(timeout=JOB_TIMEOUT)
    assert status.state == "done", status.error
    assert job.process is not None and job.process.pid is not None  # ran in its own process

    saved = backtest.read_json(request.backtest_path)
    assert saved["meta"]["dataset"] == "synth" and len(saved["meta"]["cutoffs"]) == 2
    assert set(saved["leaderboard"]["model"]) == set(BASELINE_NAMES)
    typed = read_saved_backtest(request.backtest_path)  # what the page reads: validated, typed
    assert (typed.meta.dataset, typed.meta.target, typed.meta.horizon, len(typed.meta.cutoffs)) == \
        ("synth", "user_total", 2, 2)
    assert set(typed.leaderboard["model"]) == set(BASELINE_NAMES) and typed.meta.other["folds"] == 2
    assert status.result is not None and status.result["metrics"]["mae"] > 0

    loaded = persist.load_model(request.model_dir)
    train = series.training_frame(panel, "user_total", "W", end=panel["period"].max())
    local = make_forecaster("window_mean").fit(train, "W")
    pd.testing.assert_frame_equal(loaded.model.predict(2, level=[80, 95]), local.predict(2, level=[80, 95]))

    info = model_info(request.model_dir)
    assert (info["dataset"], info["target"], info["model"], info["freq"], info["horizon"]) == \
        ("synth", "user_total", "window_mean", "W", 2)
    assert info["manifest_sha256"] == manifest_sha(request.model_dir)
    assert model_folders(tmp_path) == [Path(request.model_dir)]  # backtests/ and jobs/ are not models


def test_a_failing_job_reports_the_named_error(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=3, n_categories=2, n_periods=8)
    job = jobs.launch(tmp_path / "jobs", "train", payload(tmp_path, folds=8).to_dict(), frames={"panel": panel})
    status = job.wait(timeout=JOB_TIMEOUT)
    assert status.state == "failed"
    assert status.error is not None and "cannot hold 8 folds" in status.error
    assert not model_folders(tmp_path)


def test_category_demand_is_grouped_into_the_top_k_per_fold_and_for_the_saved_model(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=6, n_categories=5, n_periods=16)
    request = payload(tmp_path, target="category_demand", model="last_value", top_k=2)
    tasks.train(request, {"panel": panel}, lambda fraction, message: None)  # in-process: same code as the worker
    loaded = persist.load_model(request.model_dir)
    ids = set(loaded.model.predict(1)["unique_id"].astype(str))
    assert len(ids) == 3 and "other" in ids  # the top 2 categories and everything else
    grouping = loaded.manifest.panel_spec["grouping"]
    assert (grouping["method"], grouping["k"]) == ("topk", 2)
    assert backtest.read_json(request.backtest_path)["meta"]["top_k"] == 2


def test_an_engagement_job_saves_the_scoring_profile(tmp_path: Path) -> None:
    panel = synthetic_panel(n_users=5, n_categories=3, n_periods=12)
    request = payload(tmp_path, target="engagement", model="recency_decay")
    tasks.train(request, {"panel": panel}, lambda fraction, message: None)
    profile = persist.load_model(request.model_dir).extra["profile"]
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


# -- the runner: one job per model folder, a cap, cancellation, reaping, pruning -------------------

def _probe(runner: jobs.JobRunner, key: str, seconds: float = 20.0, panel: pd.DataFrame | None = None) -> jobs.Job:
    return runner.start("probe", {"seconds": seconds}, frames={"panel": panel} if panel is not None else None,
                        key=key)


def _zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_two_starts_for_one_folder_give_one_worker_and_the_cap_holds(tmp_path: Path) -> None:
    import threading

    runner = jobs.JobRunner(tmp_path / "jobs", max_workers=2)
    started: list[jobs.Job] = []
    threads = [threading.Thread(target=lambda: started.append(_probe(runner, "models/a"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(started) == 2 and started[0] is started[1]  # the second start returned the running job
    assert len([p for p in (tmp_path / "jobs").iterdir() if not p.name.startswith(".")]) == 1
    second = _probe(runner, "models/b")
    with pytest.raises(JobLimitError, match="2 training jobs are running"):
        _probe(runner, "models/c")
    other_process = jobs.JobRunner(tmp_path / "jobs", max_workers=2)  # e.g. a second server on the same folder
    with pytest.raises(JobError, match="already training models/a"):
        _probe(other_process, "models/a")
    for job in (started[0], second):
        job.cancel()
        assert job.status().state == "cancelled" and not job.process.is_alive()
    _probe(runner, "models/c").cancel()  # room again once the others ended


@pytest.mark.slow
def test_finished_workers_are_reaped_inputs_dropped_and_folders_pruned(tmp_path: Path) -> None:
    runner = jobs.JobRunner(tmp_path / "jobs", max_workers=2, kept=2)
    panel = synthetic_panel(n_users=3, n_categories=2, n_periods=6)
    pids = []
    for i in range(3):
        job = _probe(runner, f"models/{i}", seconds=0.2, panel=panel)
        status = job.wait(timeout=JOB_TIMEOUT)
        assert status.state == "done" and status.result == {"rows": {"panel": len(panel)}}
        pids.append(job.process.pid)
        assert not list(job.folder.glob("*.parquet"))  # no user-level panel kept once the job ended
    runner.reap()
    assert not any(_zombie(pid) for pid in pids)
    assert len([p for p in (tmp_path / "jobs").iterdir() if not p.name.startswith(".")]) == 2  # pruned to `kept`


def test_a_malformed_request_or_status_is_a_named_error(tmp_path: Path) -> None:
    from interest_core.errors import MalformedFileError

    folder = tmp_path / "j"
    folder.mkdir()
    (folder / "request.json").write_text(json.dumps({"task": "train", "payload": [], "frames": ["../x"]}))
    with pytest.raises(MalformedFileError, match="is not a job request"):
        jobs.read_request(folder)
    (folder / "status.json").write_text(json.dumps({"state": "exploded"}))
    with pytest.raises(MalformedFileError, match="is not a job status"):
        jobs.Job(folder).status()
    with pytest.raises(MalformedFileError, match="wrong type"):
        TrainRequest.from_dict({**payload(tmp_path).to_dict(), "horizon": "2"})
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"meta": {"target": "user_total"}, "leaderboard": []}))
    with pytest.raises(MalformedFileError, match="meta field"):
        read_saved_backtest(board)
    board.write_text("{half")
    with pytest.raises(MalformedFileError, match="is not valid JSON"):
        read_saved_backtest(board)


def test_the_cli_and_the_page_build_the_same_request(tmp_path: Path) -> None:
    page = payload(tmp_path, target="category_demand", model="window_mean")
    assert TrainRequest.from_dict(json.loads(json.dumps(page.to_dict()))) == page  # JSON round trip
    cli = TrainRequest.build(dataset="synth", dataset_sha256="0" * 64, target="category_demand", freq="W",
                             horizon=2, folds=2, model="window_mean", model_dir=page.model_dir, data_end=None)
    assert cli == page  # same grouping (top 20 + other), models, paths
    assert (cli.top_k, cli.panel_spec.grouping.k) == (20, 20)
