"""Batch scoring on Spark gives the scores DuckDB gives, from the same saved (hash-checked) model folder."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from interest_core.cli.main import main as cli
from interest_core.config import PanelSpec
from interest_core.engines import spark_scoring
from interest_core.errors import ArtifactError
from interest_core.forecasting import scoring, series
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.persist import load_model, save_model
from interest_core.ingest import pipeline
from interest_core.panel import build_panel, events_source
from interest_core.store import Store
from tests.spark_support import MASTER, TMALL, real_log, start_spark

SPEC = PanelSpec(freq="W")


@pytest.fixture(scope="module")
def spark() -> Any:
    return start_spark()


@pytest.fixture(scope="module")
def tmall_parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Training users (half the log), a file to score (200 users, a third of them unseen) and a tiny one."""
    raw = pd.read_csv(real_log(TMALL), dtype=str)
    users = sorted(raw["user_id"].unique())
    root = tmp_path_factory.mktemp("tmall-parts")
    paths = []
    for name, chosen in (("train", users[: len(users) // 2]), ("score", users[300:500]), ("tiny", users[:3])):
        path = root / f"{name}.csv.gz"
        with gzip.open(path, "wt") as fh:
            raw[raw["user_id"].isin(chosen)].to_csv(fh, index=False)
        paths.append(path)
    return paths[0], paths[1], paths[2]


def saved(model_name: str, train: Path, directory: Path, **params: Any) -> Path:
    with Store(directory.parent / f"{model_name}.duckdb") as store:
        pipeline.ingest(store, train, name="train")
        panel = build_panel(events_source(store, "train"), SPEC)
        end = pd.Timestamp(store.describe("train")["end"])
    cutoff = series.last_complete_period(panel["period"].max(), end, "W")
    model = make_forecaster(model_name, **params).fit(series.training_frame(panel, "engagement", "W", end=cutoff), "W")
    return save_model(model, directory, dataset_sha256="0" * 64, panel_spec=SPEC.to_dict(), metrics={},
                      extra={"profile": scoring.training_profile(panel, SPEC), "horizon": 3})


def check_same(duck: scoring.ScoringResult, spark: scoring.ScoringResult, rtol: float = 1e-12) -> None:
    assert len(duck.scores) == len(spark.scores) > 0
    pd.testing.assert_frame_equal(duck.scores, spark.scores, check_dtype=False, check_exact=False, rtol=rtol)
    pd.testing.assert_frame_equal(duck.top_k, spark.top_k, check_dtype=False, check_exact=False, rtol=rtol)
    assert duck.counts == spark.counts
    assert duck.shares == spark.shares and duck.warnings == spark.warnings and duck.report == spark.report
    pd.testing.assert_frame_equal(duck.drift, spark.drift, check_dtype=False, rtol=1e-9)


def test_a_saved_model_scores_the_same_on_spark(spark: Any, tmall_parts: tuple[Path, Path, Path],
                                                tmp_path: Path) -> None:
    train, to_score, _ = tmall_parts
    model_dir = saved("recency_decay", train, tmp_path / "rd")
    assert spark_scoring.grouping_for(load_model(model_dir)) == "users"  # calibration handed to each group
    duck = scoring.score(model_dir, to_score)
    on_spark = spark_scoring.score(model_dir, to_score, master=MASTER)
    check_same(duck, on_spark)
    assert on_spark.counts["users_cold_start"] > 0 and on_spark.counts["categories_unseen"] > 0
    assert on_spark.counts["horizon"] == 3


def test_arima_scores_per_series_on_spark_and_the_cli_writes_parquet(
        spark: Any, tmall_parts: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, tiny = tmall_parts
    model_dir = saved("arima", tiny, tmp_path / "arima")
    assert spark_scoring.grouping_for(load_model(model_dir)) == "series"
    duck = scoring.score(model_dir, tiny, h=2)  # ARIMA fits each series: scored on DuckDB once, compared twice
    check_same(duck, spark_scoring.score(model_dir, tiny, h=2, master=MASTER))
    out = tmp_path / "scores.parquet"
    assert cli(["score", str(model_dir), str(tiny), "--out", str(out), "--h", "2", "--engine", "spark",
                "--spark-master", MASTER]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), duck.scores, check_dtype=False)


def test_a_tampered_model_folder_is_refused_before_spark_runs(tmall_parts: tuple[Path, Path, Path],
                                                              tmp_path: Path) -> None:
    train, to_score, _ = tmall_parts
    model_dir = saved("window_mean", train, tmp_path / "wm")
    state = model_dir / "state.json"
    state.write_text(state.read_text().replace("window", "windoww", 1))
    with pytest.raises(ArtifactError):
        spark_scoring.score(model_dir, to_score, master=MASTER)


@pytest.mark.slow
def test_an_lstm_scores_the_same_on_spark(spark: Any, tmall_parts: tuple[Path, Path, Path],
                                                          tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    train, to_score, _ = tmall_parts
    model_dir = saved("lstm", train, tmp_path / "lstm", window=4, units=8, epochs=1, batch_size=1024,
                      horizon_train=2)
    # Groups of whole users; the category channels come from a Spark aggregate over the whole file.
    assert spark_scoring.grouping_for(load_model(model_dir)) == "users"
    # float32 network: TensorFlow in a Spark worker sums in another thread layout (last-bit differences).
    check_same(scoring.score(model_dir, to_score), spark_scoring.score(model_dir, to_score, master=MASTER),
               rtol=1e-5)
