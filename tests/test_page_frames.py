"""Page models on a large log (page_frames): a seeded user sample for the models of users, the panel summed in
DuckDB for the models of totals. Forced on a small log by lowering the row cap, so every path runs here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from interest_core import derived, panel
from interest_core.errors import ModelError
from interest_core.forecasting import page_frames
from interest_core.forecasting import page_models as pm
from interest_core.forecasting.page_defaults import (
    ModelBasis,
    default_choices,
    interest_panel,
    last_complete,
    prepare_page_models,
    span_defaults,
)
from interest_core.store import Store
from interest_core.views.ops import segment_demand, segment_names, segment_totals
from tests.builders import write_taobao_log


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """'log': 60 k Taobao-format events, 600 users, 60 categories over 30 weeks, its weekly tables built."""
    from interest_core.ingest import pipeline

    folder = tmp_path_factory.mktemp("page_frames")
    csv = write_taobao_log(folder / "log.csv", 60_000, users=600, categories=60, days=210)
    with Store(folder / "interest.duckdb") as opened:
        pipeline.ingest(opened, csv, name="log", fmt="taobao")
        derived.prepare(opened, "log", freqs=["W"], steps=())
        yield opened


def _rows(store: Store) -> int:
    return next(t.rows for t in derived.tables(store, "log") if t.freq == "W" and t.kind == "panel")


def test_the_sample_is_seeded_sized_to_the_cap_and_said(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(store)
    assert page_frames.user_sample(store, "log", "W", max_rows=rows) is None  # fits whole: read as before
    sample = page_frames.user_sample(store, "log", "W", max_rows=rows // 4)
    assert sample is not None and sample.of_users == 600 and sample.panel_rows == rows
    assert 0.15 * 600 < sample.users < 0.35 * 600  # a quarter of the rows: about a quarter of the users
    assert page_frames.user_sample(store, "log", "W", max_rows=rows // 4) == sample  # the same users every time
    frame = page_frames.sampled_panel(store, "log", "W", sample)
    assert frame["user_id"].nunique() == sample.users
    assert len(frame) < rows // 2
    whole = interest_panel(store, "log", "W")
    kept = whole[whole["user_id"].isin(frame["user_id"].unique())]
    keys = ["user_id", "category", "period"]
    pd.testing.assert_frame_equal(frame.sort_values(keys).reset_index(drop=True)[list(kept.columns)],
                                  kept.sort_values(keys).reset_index(drop=True))  # the sample's rows, all of them
    assert f"{sample.users:,} users of 600" in sample.describe() and f"{rows:,} rows" in sample.describe()
    monkeypatch.setenv(page_frames.MAX_ROWS_ENV, str(rows // 4))
    assert page_frames.user_sample(store, "log", "W") == sample
    monkeypatch.setenv(page_frames.MAX_ROWS_ENV, "lots")
    with pytest.raises(ModelError, match="INTEREST_MODEL_MAX_ROWS"):
        page_frames.user_sample(store, "log", "W")


@pytest.mark.parametrize("grouped", [False, True])
def test_totals_give_the_demand_and_the_series_of_the_whole_panel(store: Store, grouped: bool) -> None:
    from interest_core.analytics.demand import demand_forecast
    from interest_core.views.forecasts import series_view

    source = panel.events_source(store, "log")
    last = last_complete(source, "W")
    end = pd.Timestamp(panel.kpis(source)["end"])
    choice = default_choices(60)[1] if grouped else None
    whole = interest_panel(store, "log", "W", choice)
    totals = interest_panel(store, "log", "W", choice, totals_until=last)
    assert list(totals.columns) == ["category", "period", "interest", "users"]
    assert len(totals) < len(whole) / 10
    expected = demand_forecast(whole, "W", top_k=8, horizon=2, models=("last_value", "window_mean"), last_period=last)
    got = demand_forecast(totals, "W", top_k=8, horizon=2, models=("last_value", "window_mean"), last_period=last)
    assert got.categories == expected.categories and got.hidden == expected.hidden
    assert got.best_model == expected.best_model
    for name in ("history", "forecast", "leaderboard"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=False, rtol=1e-9)
    if not grouped:
        a = series_view(whole, "aggregate", None, "W", models=("last_value",), horizon=2, folds=3, data_end=end)
        b = series_view(totals, "aggregate", None, "W", models=("last_value",), horizon=2, folds=3, data_end=end)
        pd.testing.assert_frame_equal(b.history, a.history, check_exact=False, rtol=1e-9)
        pd.testing.assert_frame_equal(b.forecasts, a.forecasts, check_exact=False, rtol=1e-9)


def test_prepare_on_a_large_log_fits_users_on_the_sample_and_totals_exactly(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(store)
    monkeypatch.setenv(page_frames.MAX_ROWS_ENV, str(rows // 3))
    sample = page_frames.user_sample(store, "log", "W")
    assert sample is not None
    done = prepare_page_models(store, "log", root=tmp_path / "large", freqs=["W"])
    assert {r["kind"] for r in done} == {"churn_risk", "churn_backtest", "segmentation", "learned_promotion",
                                         "series_view", "demand", "segment_demand"}
    assert all(r["state"] == "ready" for r in done), [r["error"] for r in done]
    # the app names the models as prepare saved them (the sample part of the name of models of users)
    source = panel.events_source(store, "log")
    basis = ModelBasis("log", store.fingerprint("log"), "W", last_complete(source, "W"), sample)
    horizon = span_defaults(store, "log", "W", basis.last_period).churn_horizon
    risk = pm.load_result(basis.churn("churn_risk", horizon), tmp_path / "large")
    assert risk is not None and len(risk) > 0
    sampled_users = set(page_frames.sampled_panel(store, "log", "W", sample)["user_id"])
    assert set(risk["user_id"].astype(str)) <= sampled_users
    segments = default_choices(60)[0]
    seg = pm.load_result(basis.segmentation(grouping=segments), tmp_path / "large")
    assert seg is not None and set(seg.features.index.astype(str)) <= sampled_users
    # the Demand page's forecast per segment, named as the page names it: by the segmentation and its segments
    seg_model = basis.segmentation(grouping=segments)
    names = list(segment_names(seg.descriptions).values())
    demand_horizon = span_defaults(store, "log", "W", basis.last_period).demand_horizon
    by_segment = pm.load_result(basis.segment_demand(seg_model, names, demand_horizon), tmp_path / "large")
    assert by_segment is not None and set(by_segment.categories) == set(names)
    assert len(by_segment.forecast) == len(names) * demand_horizon
    # without the sample, the same log names other models of users and the same models of totals
    monkeypatch.delenv(page_frames.MAX_ROWS_ENV)
    whole = prepare_page_models(store, "log", root=tmp_path / "whole", freqs=["W"])
    assert all(r["state"] == "ready" for r in whole), whole
    plain = ModelBasis("log", store.fingerprint("log"), "W", basis.last_period)
    assert plain.churn("churn_risk", horizon).digest != basis.churn("churn_risk", horizon).digest
    assert plain.demand(grouping=default_choices(60)[1]) == basis.demand(grouping=default_choices(60)[1])
    a = pm.load_result(plain.demand(grouping=default_choices(60)[1]), tmp_path / "whole")
    b = pm.load_result(basis.demand(grouping=default_choices(60)[1]), tmp_path / "large")
    assert a is not None and b is not None
    assert a.categories == b.categories and a.best_model == b.best_model
    pd.testing.assert_frame_equal(b.forecast, a.forecast, check_exact=False, rtol=1e-9)


def test_segment_totals_in_duckdb_equal_the_panel_sums(store: Store) -> None:
    """The stored panel summed per segment in DuckDB (page_frames.segment_totals_panel) is views.ops.segment_totals
    of the whole panel, and a forecast per segment reads it as it reads the panel's rows."""
    source = panel.events_source(store, "log")
    last = last_complete(source, "W")
    whole = interest_panel(store, "log", "W")
    whole = whole[whole["period"] <= last]
    users = sorted(whole["user_id"].astype(str).unique())
    members = pd.DataFrame({"user_id": users[:400], "segment": [("light", "heavy", "new")[i % 3] for i in range(400)]})
    expected = segment_totals(whole, members)
    got = page_frames.segment_totals_panel(store, "log", "W", members, last)
    assert got is not None and set(got["category"]) == {"light", "heavy", "new"}
    assert (got.groupby("category")["users"].first() > 100).all()  # about 133 each: every member with events
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
    assert got["interest"].sum() == pytest.approx(whole[whole["user_id"].isin(users[:400])]["interest"].sum())
    forecast = segment_demand(got, ["new", "light", "heavy"], "W", 2, last)
    assert set(forecast.categories) == {"new", "light", "heavy"} and len(forecast.forecast) == 6
