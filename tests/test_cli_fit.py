"""The CLI's ``fit`` builds the same TrainRequest as the Forecasts page: same grouping, same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interest_core.cli.main import main
from interest_core.forecasting import persist
from interest_core.forecasting.saved_backtest import read_saved_backtest


def test_cli_fit_groups_category_demand_like_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, out = str(tmp_path / "s.duckdb"), tmp_path / "models" / "syn-demand"
    assert main(["synth", "--users", "40", "--days", "100", "--out", str(tmp_path / "syn"), "--json"]) == 0
    assert main(["ingest", str(tmp_path / "syn" / "events.parquet"), "--name", "syn", "--db", db, "--json"]) == 0
    capsys.readouterr()
    assert main(["fit", "syn", "--model", "window_mean", "--target", "category_demand", "--out", str(out),
                 "--horizon", "2", "--folds", "1", "--compare", "last_value", "--db", db, "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    saved = persist.load_model(out)
    grouping = saved.manifest.panel_spec["grouping"]
    assert (grouping["method"], grouping["k"]) == ("topk", 20)  # as the page: top 20 + other (was raw before)
    board = read_saved_backtest(fitted["backtest"])
    assert board.meta.top_k == 20 and set(board.leaderboard["model"]) == {"last_value", "window_mean"}
    assert Path(fitted["backtest"]).parent == out.parent / "backtests"
    assert main(["fit", "syn", "--model", "arima", "--target", "engagement", "--out", str(out), "--db", db]) == 2
    assert "ARIMA fits one model per series" in capsys.readouterr().err


def test_cli_backtest_and_fit_read_the_user_sample_of_a_large_log(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Past INTEREST_MODEL_MAX_ROWS stored panel rows, backtest and fit of a target of users read the page models'
    user sample from the stored panel (a frame of the whole 100 M-event panel would not fit) and say so; small
    logs and targets of totals read the whole panel as before."""
    from interest_core import derived
    from interest_core.forecasting.page_frames import MAX_ROWS_ENV, user_sample
    from interest_core.store import Store

    db = str(tmp_path / "s.duckdb")
    assert main(["synth", "--users", "60", "--days", "120", "--out", str(tmp_path / "syn"), "--json"]) == 0
    assert main(["ingest", str(tmp_path / "syn" / "events.parquet"), "--name", "syn", "--db", db, "--json"]) == 0
    with Store(Path(db)) as store:
        derived.prepare(store, "syn", freqs=["W"], steps=())
    backtest = ["backtest", "syn", "--freq", "W", "--horizon", "2", "--folds", "1", "--models", "recency_decay",
                "--db", db, "--json", "--out", str(tmp_path / "bt.json")]
    capsys.readouterr()
    assert main(backtest) == 0
    assert json.loads(capsys.readouterr().out)["sample"] is None  # under the cap: every user
    demand = ["backtest", "syn", "--target", "category_demand", "--freq", "W", "--horizon", "2", "--folds", "2",
              "--top-k", "3", "--models", "last_value,window_mean", "--db", db, "--json", "--out",
              str(tmp_path / "bt2.json")]
    assert main(demand) == 0
    whole = json.loads(capsys.readouterr().out)["leaderboard"]
    with Store(Path(db), read_only=True) as store:
        rows = next(t.rows for t in derived.tables(store, "syn") if t.kind == "panel" and t.freq == "W")
    monkeypatch.setenv(MAX_ROWS_ENV, str(rows // 3))
    with Store(Path(db), read_only=True) as store:
        sample = user_sample(store, "syn", "W")
    assert sample is not None and 0 < sample.users < sample.of_users
    assert main(backtest) == 0
    sampled = json.loads(capsys.readouterr().out)
    assert sampled["sample"] == sample.describe() and sampled["leaderboard"]
    out = tmp_path / "models" / "syn-sampled"
    assert main(["fit", "syn", "--model", "recency_decay", "--out", str(out), "--freq", "W", "--horizon", "2",
                 "--folds", "1", "--compare", "last_value", "--db", db, "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert fitted["sample"] == sample.describe() and persist.load_model(out).manifest.model.name == "recency_decay"
    # demand over the cap: the stored panel's totals per category and period, summed in DuckDB; the same scores
    from interest_core.forecasting import page_frames

    read = page_frames.category_totals_panel
    calls: list[str] = []

    def counted_read(*args: Any, **kwargs: Any) -> Any:
        calls.append("totals")
        return read(*args, **kwargs)

    monkeypatch.setattr(page_frames, "category_totals_panel", counted_read)
    assert main(demand) == 0
    totals = json.loads(capsys.readouterr().out)
    assert calls == ["totals"] and totals["sample"] is None  # totals: every user's events
    assert totals["leaderboard"].keys() == whole.keys()
    for model, row in whole.items():
        assert totals["leaderboard"][model] == pytest.approx(row, rel=1e-9), model
