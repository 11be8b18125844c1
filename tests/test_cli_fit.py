"""The CLI's ``fit`` builds the same TrainRequest as the Forecasts page: same grouping, same files."""

from __future__ import annotations

import json
from pathlib import Path

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
