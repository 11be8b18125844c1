"""Scoring says when a model does not fit the file, explains rejected rows, and registers its Parquet output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interest_core.cli.main import main as cli
from interest_core.config import IngestOptions, PanelSpec
from interest_core.errors import DatasetNotFoundError
from interest_core.forecasting import scoring, scoring_catalog, series
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.persist import save_model
from interest_core.ingest import pipeline
from interest_core.panel import build_panel, events_source
from interest_core.store import Store
from interest_core.views import scoring as sv

SPEC = PanelSpec(freq="W")
START = pd.Timestamp("2017-10-02")  # a Monday


def taobao_file(path: Path, users: range, categories: range, *, seed: int, repeats: int = 0) -> Path:
    """Six weeks of Taobao-layout events; ``repeats`` rows written twice (exact duplicates)."""
    rng = np.random.default_rng(seed)
    n = 30 * len(users)
    seconds = rng.integers(0, 6 * 7 * 86400, n)
    frame = pd.DataFrame({
        "user_id": rng.choice(list(users), n), "item_id": rng.integers(1, 500, n),
        "category_id": rng.choice(list(categories), n), "behavior_type": rng.choice(["pv", "pv", "cart", "buy"], n),
        "timestamp": (START.value // 10**9) + seconds,
    }).drop_duplicates()
    frame = pd.concat([frame, frame.head(repeats)], ignore_index=True)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fit")
    train = taobao_file(root / "train.csv", range(1, 61), range(100, 108), seed=0)
    with Store(root / "train.duckdb") as store:
        pipeline.ingest(store, train, name="train")
        panel = build_panel(events_source(store, "train"), SPEC)
        end = pd.Timestamp(store.describe("train").end)
    cutoff = series.last_complete_period(panel["period"].max(), end, "W")
    model = make_forecaster("recency_decay").fit(series.training_frame(panel, "engagement", "W", end=cutoff), "W")
    return save_model(model, root / "rd", dataset_sha256="0" * 64, panel_spec=SPEC.to_dict(), metrics={},
                      extra={"profile": scoring.training_profile(panel, SPEC), "horizon": 2})


def test_a_file_like_the_training_data_scores_without_warnings(model_dir: Path, tmp_path: Path) -> None:
    path = taobao_file(tmp_path / "same.csv", range(1, 41), range(100, 108), seed=1, repeats=25)
    result = scoring.score(model_dir, path)
    assert result.warnings == () and result.shares == {"users_new": 0.0, "events_unseen_categories": 0.0}
    assert result.report is not None and result.report.rejected == {"duplicate": 25}
    assert result.counts["rows_rejected"] == 25
    assert sv.rejected_in_words(result.report) == [
        "25 duplicates: same user, item, category, behaviour and time as another row"]
    kept = scoring.score(model_dir, path, options=IngestOptions(duplicates="keep"))
    assert kept.report is not None and kept.report.rejected == {} and kept.counts["events"] == \
        result.counts["events"] + 25


def test_a_file_of_other_users_and_categories_warns(model_dir: Path, tmp_path: Path) -> None:
    path = taobao_file(tmp_path / "other.csv", range(1001, 1031), range(900, 905), seed=2)
    mixed = taobao_file(tmp_path / "mixed.csv", range(1, 31), range(100, 108), seed=3)
    both = pd.concat([pd.read_csv(path), pd.read_csv(mixed).head(100)])
    both.to_csv(tmp_path / "both.csv", index=False)
    result = scoring.score(model_dir, tmp_path / "both.csv")
    users, events = result.counts["users"], result.counts["events"]
    assert result.shares["users_new"] == pytest.approx(result.counts["users_cold_start"] / users) and \
        result.shares["users_new"] > 0.5
    assert result.shares["events_unseen_categories"] == pytest.approx(result.counts["events_unseen_categories"]
                                                                       / events)
    assert len(result.warnings) == 3
    assert result.warnings[0].startswith(f"{result.counts['users_cold_start']:,} of {users:,} users (")
    assert "5 categories the model never saw" in result.warnings[1]
    assert "train one on data like this file" in result.warnings[2]


def test_the_cli_reports_warnings_and_registers_parquet_scores(model_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = taobao_file(tmp_path / "other.csv", range(1001, 1031), range(900, 905), seed=2, repeats=7)
    out, db = tmp_path / "out" / "scores.parquet", str(tmp_path / "store.duckdb")
    assert cli(["score", str(model_dir), str(path), "--out", str(out), "--register", "other-file", "--db", db,
                "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["warnings"]) == 3 and printed["shares"] == {"users_new": 1.0, "events_unseen_categories": 1.0}
    assert printed["rejected"] == {"duplicate": 7}
    assert printed["registered"]["view"] == "sc_other-file"
    with Store(db) as store:
        registered = scoring_catalog.read_scores(store, "other-file")
        pd.testing.assert_frame_equal(registered, pd.read_parquet(out), check_dtype=False)
        listed = scoring_catalog.scored_files(store)
        assert [s.name for s in listed] == ["other-file"] and listed[0].model == "recency_decay"
        assert listed[0].warnings == tuple(printed["warnings"]) and listed[0].counts == printed["counts"]
        assert store.names() == []  # scores are not an events dataset
        n = store.query(f"SELECT count(*) AS n FROM {scoring_catalog.scores_relation(store, 'other-file')} "
                        "WHERE cold_start")["n"].iloc[0]
        assert n == len(registered)
    # Registering under the same name again replaces the entry; an unknown name is a named error.
    assert cli(["score", str(model_dir), str(path), "--out", str(out), "--register", "other-file", "--db", db,
                "--duplicates", "keep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rejected"] == {}
    with Store(db) as store:
        assert len(scoring_catalog.scored_files(store)) == 1
        with pytest.raises(DatasetNotFoundError, match="--register NAME"):
            scoring_catalog.read_scores(store, "nope")
    assert cli(["score", str(model_dir), str(path), "--out", str(tmp_path / "s.csv"), "--register", "x",
                "--db", db]) == 2
    assert "--out NAME.parquet" in capsys.readouterr().err


def test_the_drift_table_reads_as_words() -> None:
    drift = pd.DataFrame([
        {"aspect": "behavior_mix", "item": "view", "training": 0.9012345, "scored": 0.7512, "psi": None, "flag": None},
        {"aspect": "behavior_mix", "item": "PSI", "training": None, "scored": None, "psi": 0.31234, "flag": "shift"},
        {"aspect": "activity", "item": "events_per_user_mean", "training": 12.3456, "scored": 15.0, "psi": None,
         "flag": None},
        {"aspect": "activity", "item": "users", "training": 400.0, "scored": 200.0, "psi": None, "flag": None},
    ], columns=list(scoring.DRIFT_COLUMNS))
    drift["difference"] = drift["scored"] - drift["training"]
    shown = sv.drift_in_words(drift)
    assert list(shown.columns) == list(sv.DRIFT_TABLE_COLUMNS)
    assert shown.iloc[0].tolist() == ["Behaviour mix", "views", "90%", "75%", "-15 points", "", ""]
    assert shown.iloc[1].tolist() == ["Behaviour mix", "behaviour mix overall", "", "", "", "0.31", "shift"]
    assert shown.iloc[2].tolist() == ["Activity", "events per user (mean)", "12.3", "15", "+2.7", "", ""]
    assert shown.iloc[3].tolist() == ["Activity", "users", "400", "200", "-200", "", ""]
