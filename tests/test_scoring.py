"""Scoring a file against a saved model, on the real Taobao sample (daily): identical to the in-memory model."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interest_core.config import PanelSpec
from interest_core.errors import ModelError
from interest_core.forecasting import scoring, series
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.persist import load_model, save_model

SPEC = PanelSpec(freq="D")
H = 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, taobao_log: Path) -> tuple[Forecaster, dict, str, pd.DataFrame]:
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    with Store(tmp_path_factory.mktemp("tb") / "tb.duckdb") as store:
        store.ingest(taobao_log, name="tb")
        info = store.describe("tb")
        panel = build_panel(events_source(store, "tb"), SPEC)
    cutoff = series.last_complete_period(panel["period"].max(), pd.Timestamp(info.end), "D")
    frame = series.training_frame(panel, "engagement", "D", end=cutoff)
    model = make_forecaster("lstm", window=4, units=8, epochs=2, batch_size=1024, horizon_train=H).fit(frame, "D")
    return model, scoring.training_profile(panel, SPEC), info.sha256, frame


@pytest.fixture(scope="module")
def model_dir(trained: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, profile, sha, _ = trained
    return save_model(model, tmp_path_factory.mktemp("models") / "tb", dataset_sha256=sha,
                      panel_spec=SPEC.to_dict(), metrics={}, extra={"profile": profile})


@pytest.fixture(scope="module")
def shifted_file(tmp_path_factory: pytest.TempPathFactory, taobao_log: Path) -> tuple[Path, int, int, int]:
    """The sample with 5 new category ids (on 300 rows) and 3 users renamed to ids training never saw."""
    raw = pd.read_csv(taobao_log, dtype=str)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(raw), 300, replace=False)
    raw.loc[rows, "category_id"] = [f"99999990{i % 5}" for i in range(300)]
    old_users = sorted(raw["user_id"].unique())[:3]
    raw["user_id"] = raw["user_id"].replace({u: f"new{u}" for u in old_users})
    path = tmp_path_factory.mktemp("shifted") / "shifted.csv.gz"
    with gzip.open(path, "wt") as fh:
        raw.to_csv(fh, index=False)
    return path, 5, 300, 3


@pytest.mark.slow
def test_saved_model_scores_exactly_like_the_in_memory_model(trained: tuple, model_dir: Path,
                                                            taobao_log: Path) -> None:
    model, profile, _, _ = trained
    from_disk = scoring.score(model_dir, taobao_log, h=H, k=5)
    in_memory = scoring.score(scoring.in_memory(model, SPEC, profile), taobao_log, h=H, k=5)
    pd.testing.assert_frame_equal(from_disk.scores, in_memory.scores)
    pd.testing.assert_frame_equal(from_disk.top_k, in_memory.top_k)
    # Scoring the training file reproduces predict(): same history, same windows, same weights.
    pd.testing.assert_frame_equal(from_disk.forecasts, model.predict(H))
    pd.testing.assert_frame_equal(load_model(model_dir).model.predict(H), model.predict(H))
    assert from_disk.counts["users_cold_start"] == 0 and from_disk.counts["categories_unseen"] == 0
    assert from_disk.counts["users"] == 814 and from_disk.counts["events"] == 84_287
    assert from_disk.counts["pairs"] == len(from_disk.scores) == model.predict(1)["unique_id"].nunique()
    drift = from_disk.drift
    assert tuple(drift.columns) == scoring.DRIFT_COLUMNS
    assert set(drift["aspect"]) == {"behavior_mix", "category_mix", "activity"}
    assert (drift["flag"].dropna() == "stable").all() and drift["difference"].abs().max() < 1e-9


@pytest.mark.slow
def test_top_k_is_sorted_and_bounded(model_dir: Path, taobao_log: Path) -> None:
    result = scoring.score(model_dir, taobao_log, h=1, k=3)
    top = result.top_k
    assert list(top.columns) == ["user_id", "rank", "category", "p_engage", "yhat", "cold_start"]
    assert top.groupby("user_id")["rank"].max().le(3).all()
    assert top.groupby("user_id")["p_engage"].apply(lambda p: p.is_monotonic_decreasing).all()
    best = result.scores.groupby("user_id")["p_engage"].max()
    assert np.allclose(top[top["rank"] == 1].set_index("user_id")["p_engage"], best.loc[top[top["rank"] == 1]
                                                                                          ["user_id"]])
    with pytest.raises(ModelError, match="refit with horizon_train=3"):
        scoring.score(model_dir, taobao_log, h=3)


@pytest.mark.slow
def test_unseen_categories_and_cold_start_users(model_dir: Path, shifted_file: tuple) -> None:
    path, n_new_cats, n_rows, n_new_users = shifted_file
    result = scoring.score(model_dir, path, h=H, k=5)
    counts = result.counts
    assert counts["categories_unseen"] == n_new_cats
    assert counts["events_unseen_categories"] == n_rows
    assert counts["users_cold_start"] == n_new_users
    scores = result.scores
    cold = scores[scores["cold_start"]]
    assert set(cold["user_id"]) == {u for u in scores["user_id"] if u.startswith("new")}
    assert "other" in set(scores["category"]) and not scores["category"].str.startswith("99999990").any()
    assert result.top_k.loc[result.top_k["user_id"].str.startswith("new"), "cold_start"].all()
    assert scores["p_engage"].between(0, 1).all()
    drift = result.drift.set_index("item")
    assert drift.loc["share of events in unseen categories", "scored"] == pytest.approx(n_rows / counts["events"])


def test_profile_is_built_from_the_panel_alone() -> None:
    panel = pd.DataFrame({
        "user_id": ["a", "a", "b"], "category": ["x", "y", "x"],
        "period": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"]),
        "interest": [3.0, 1.0, 5.0], "n_view": [3, 1, 0], "n_fav": [0, 0, 0], "n_cart": [0, 0, 0],
        "n_buy": [0, 0, 1], "n_rate": [0, 0, 0], "share": [0.75, 0.25, 1.0],
    })
    profile = scoring.training_profile(panel, SPEC)
    assert profile["users"] == ["a", "b"] and profile["category_prior"] == {"x": 1.0, "y": 0.5}
    assert profile["behavior_mix"]["view"] == pytest.approx(0.8)
    assert profile["behavior_mix"]["buy"] == pytest.approx(0.2)
    assert profile["category_mix"] == pytest.approx({"x": 0.8, "y": 0.2, "__rest__": 0.0})
    assert profile["activity"]["events_per_user_mean"] == pytest.approx(2.5)


@pytest.mark.slow
def test_cli_fit_then_score(tmp_path: Path, taobao_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from interest_core.cli.main import main

    db, out = str(tmp_path / "s.duckdb"), tmp_path / "models" / "tb-lstm"
    assert main(["ingest", str(taobao_log), "--name", "tb", "--db", db, "--json"]) == 0
    capsys.readouterr()
    assert main(["fit", "tb", "--model", "lstm", "--out", str(out), "--freq", "D", "--horizon", "2", "--folds", "1",
                 "--db", db, "--json", "--param", "window=4", "--param", "units=8", "--param", "epochs=2"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert fitted["params"]["horizon_train"] == 2  # --horizon trains the LSTM for it
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))  # the device TensorFlow trained on is the one reported
    assert fitted["device"].startswith("GPU:0") if gpu else fitted["device"] == "CPU", fitted["device"]
    assert {"auc", "hit_rate@5"} <= set(fitted["metrics"]) and Path(fitted["backtest"]).is_file()
    manifest = load_model(out).manifest
    assert manifest.metrics["auc"] == pytest.approx(fitted["metrics"]["auc"])
    scores_csv = tmp_path / "scores.csv"
    assert main(["score", str(out), str(taobao_log), "--out", str(scores_csv), "--k", "3", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["counts"]["users"] == 814 and len(scored["top_k"]) == 20
    table = pd.read_csv(scores_csv, dtype={"user_id": str, "category": str})
    assert list(table.columns) == ["user_id", "category", "p_engage", "yhat", "cold_start"]
    assert len(table) == scored["counts"]["pairs"]
    assert main(["score", str(tmp_path / "missing"), str(taobao_log), "--out", str(scores_csv)]) == 2
    assert "ArtifactError" in capsys.readouterr().err
