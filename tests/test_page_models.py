"""Models behind pages: saved results round-trip, a failed fit is remembered, the background worker fits
once and every later call reads the saved result, ``prepare`` fits the pages' defaults, the stored panel
reads like the built one, and the User page's recommender computes only the asked users' neighbours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interest_core.errors import FitFailedError
from interest_core.forecasting import page_models as pm
from interest_core.forecasting.page_defaults import ModelBasis, prepare_page_models
from interest_core.store import Store
from interest_core.views.ops import ChurnBacktest
from interest_core.views.segments import Segmentation
from tests.builders import churny_panel, week, write_taobao_log


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store holding 'log': 30 k Taobao-format events, 400 users, 40 categories over 10 weeks."""
    from interest_core.ingest import pipeline

    folder = tmp_path_factory.mktemp("page_models")
    csv = write_taobao_log(folder / "log.csv", 30_000, users=400, categories=40, days=70)
    store = Store(folder / "interest.duckdb")
    pipeline.ingest(store, csv, name="log", fmt="taobao")
    yield store


def _basis() -> ModelBasis:
    return ModelBasis("demo", "fp", "W", week(19))


def test_results_round_trip(tmp_path: Path) -> None:
    """Frames, series, int-keyed maps, timestamps and the result dataclasses come back as they were saved."""
    users = pd.Index(["u1", "u2", "u3"], name="user_id")
    seg = Segmentation(
        features=pd.DataFrame({"recency": [0.0, 1.0, 2.0]}, index=users),
        labels=pd.Series([0, 1, 1], index=users, name="segment"),
        descriptions=pd.DataFrame({"segment": [0, 1], "description": ["a", "b"]}),
        projection=pd.DataFrame({"x": [0.1, 0.2, 0.3], "segment": [0, 1, 1]}),
        silhouette={2: 0.25, 3: 0.5},
        sizes=pd.DataFrame({"period": [week(1)], "segment": [0], "users": [3]}))
    model = _basis().segmentation()
    pm.save_result(model, tmp_path, seg)
    back = pm.load_result(model, tmp_path)
    assert isinstance(back, Segmentation)
    pd.testing.assert_frame_equal(back.features, seg.features)
    pd.testing.assert_series_equal(back.labels, seg.labels)
    pd.testing.assert_frame_equal(back.sizes, seg.sizes)
    assert back.silhouette == {2: 0.25, 3: 0.5}
    bt = ChurnBacktest(summary={"roc_auc": 0.7}, brier_base_rate=0.2, reliability=pd.DataFrame({"p": [0.5]}),
                       per_cutoff=pd.DataFrame({"cutoff": [week(3)]}))
    other = _basis().churn("churn_backtest", 2)
    pm.save_result(other, tmp_path, bt)
    again = pm.load_result(other, tmp_path)
    assert isinstance(again, ChurnBacktest) and again.summary == {"roc_auc": 0.7} and again.brier_base_rate == 0.2
    pd.testing.assert_frame_equal(again.per_cutoff, bt.per_cutoff)
    assert pm.load_result(_basis().churn("churn_risk", 2), tmp_path) is None  # never saved
    odd = pd.DataFrame([[1, 2, 3]], columns=["a", "a", 7])  # repeated and non-text names (Parquet refuses both)
    pm.save_result(_basis().churn("churn_risk", 2), tmp_path, odd)
    pd.testing.assert_frame_equal(pm.load_result(_basis().churn("churn_risk", 2), tmp_path), odd)


def test_names_follow_the_dataset_version_and_every_parameter(tmp_path: Path) -> None:
    base = _basis().churn("churn_risk", 2)
    assert base == _basis().churn("churn_risk", 2) and base.folder(tmp_path) == _basis().churn(
        "churn_risk", 2).folder(tmp_path)
    others = [_basis().churn("churn_risk", 3), ModelBasis("demo", "fp2", "W", week(19)).churn("churn_risk", 2),
              ModelBasis("demo", "fp", "D", week(19)).churn("churn_risk", 2),
              ModelBasis("demo", "fp", "W", week(18)).churn("churn_risk", 2)]
    assert len({m.folder(tmp_path) for m in [base, *others]}) == 5
    with pytest.raises(FitFailedError, match="unknown page model"):
        pm.PageModel.of("demo", "fp", "nonsense")


def test_a_failed_fit_is_remembered_until_retried(tmp_path: Path) -> None:
    model = _basis().churn("churn_risk", 40)  # 40 weeks ahead of a 20-week log: no labelled cutoff
    with pytest.raises(FitFailedError) as caught:
        pm.fit(model, tmp_path, churny_panel())
    assert caught.value.cause and "Retry" in (caught.value.fix or "")
    remembered = pm.failure(model, tmp_path)
    assert remembered is not None and remembered.cause == caught.value.cause
    assert remembered.record and Path(remembered.record).is_file()
    assert pm.load_result(model, tmp_path) is None
    pm.forget_failure(model, tmp_path)
    assert pm.failure(model, tmp_path) is None


def test_the_app_fits_in_the_worker_once_and_remembers_failures(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """ui.fits: the first call fits in a spawned worker and saves; later calls read the file (the panel is not
    even built); a failing fit raises the remembered error on every later call without a new job."""
    from ui import fits

    monkeypatch.setenv("INTEREST_DB", str(tmp_path / "interest.duckdb"))
    panel = churny_panel()

    def no_panel() -> pd.DataFrame:
        raise AssertionError("the panel was built again: the saved result was not reused")

    ok = _basis().churn("churn_risk", 2)
    risk = fits.fitted(ok, lambda: panel, wait=120)
    assert {"user_id", "risk"} <= set(risk.columns) and len(risk)
    assert (fits.models_root() / "demo").is_dir()  # beside the store, not in the repository's models/
    pd.testing.assert_frame_equal(fits.fitted(ok, no_panel), risk)

    bad = _basis().churn("churn_risk", 40)
    with pytest.raises(FitFailedError):
        fits.fitted(bad, lambda: panel, wait=120)
    jobs = pm.jobs_root(fits.models_root())
    started = sorted(p.name for p in jobs.iterdir() if p.is_dir() and not p.name.startswith("."))
    with pytest.raises(FitFailedError, match="could not be fitted"):
        fits.fitted(bad, no_panel)
    assert sorted(p.name for p in jobs.iterdir() if p.is_dir() and not p.name.startswith(".")) == started


def test_prepare_fits_what_the_pages_open_with(small_store: Store, tmp_path: Path) -> None:
    rows = prepare_page_models(small_store, "log", root=tmp_path)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"churn_risk", "churn_backtest", "segmentation", "learned_promotion", "series_view", "demand",
                     "segment_demand"}
    assert all(r["state"] == "ready" or r["error"] for r in rows), rows
    assert sum(r["state"] == "ready" for r in rows) >= 5, rows
    again = prepare_page_models(small_store, "log", root=tmp_path)  # everything saved: nothing refitted
    assert all(r["seconds"] < 1.0 for r in again if r["state"] == "ready"), again


@pytest.mark.parametrize("top_k", [None, 5])
def test_stored_panel_reads_like_the_built_one(small_store: Store, top_k: int | None) -> None:
    from interest_core import derived, panel
    from interest_core.config import GroupingSpec, PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.grouping import category_map

    derived.prepare(small_store, "log", freqs=["W"], steps=())
    source = panel.events_source(small_store, "log")
    spec = PanelSpec(freq="W", grouping=GroupingSpec(method="topk", k=top_k) if top_k else GroupingSpec())
    groups = category_map(source, spec)
    keys = ["user_id", "category", "period"]
    built = panel.build_panel(source, spec, category_map=groups).sort_values(keys).reset_index(drop=True)
    stored = stored_panel(small_store, "log", spec, groups)
    assert stored is not None
    stored = stored.sort_values(keys).reset_index(drop=True)[list(built.columns)]
    pd.testing.assert_frame_equal(stored, built, check_exact=False, rtol=1e-9)
    assert stored_panel(small_store, "log", PanelSpec(freq="M")) is None  # not built: callers use the events


def test_user_similarity_rows_equal_the_full_matrix() -> None:
    from interest_core.analytics import recommendations as rec

    rng = np.random.default_rng(0)
    n = 3000
    train = pd.DataFrame({"user_id": [f"u{i}" for i in rng.integers(0, 300, n)],
                          "item": [f"c{i}" for i in rng.integers(0, 50, n)],
                          "interest": rng.integers(1, 9, n).astype(float)})
    for shrink in (0.0, 5.0):
        model = rec.CooccurrenceRecommender(shrink=shrink, neighbors=20).fit(train)
        full = rec._knn_cosine(model.matrix_, 20, shrink)
        rows = np.arange(model.matrix_.shape[0])
        assert abs(full - model.user_similarity(rows)).max() == 0
        assert abs(full[rows[5:9]] - model.user_similarity(rows[5:9])).max() == 0


def test_prepare_fits_the_defaults_the_pages_fit_to_a_short_span(taobao_log: Path, tmp_path: Path) -> None:
    """On the 9-day Taobao log at daily periods the Churn page opens 2 days ahead and the Forecasts page's series
    backtest 2 ahead over 4 folds and the demand forecast 2 ahead (fitted to the 8 complete days): prepare fits
    those, not the 7-day horizon, 4 ahead over 8 folds and 4 ahead (the first two failed; the pages then fitted
    their own, and the Demand and Forecasts pages fitted a demand model prepare had not)."""
    from interest_core import derived, panel
    from interest_core.forecasting.page_defaults import last_complete, span_defaults
    from interest_core.ingest import pipeline

    with Store(tmp_path / "t.duckdb") as store:
        pipeline.ingest(store, taobao_log, name="taobao")
        derived.prepare(store, "taobao", freqs=["D"], steps=())
        last = last_complete(panel.events_source(store, "taobao"), "D")
        fitted = span_defaults(store, "taobao", "D", last)
        assert (fitted.churn_horizon, fitted.series_horizon, fitted.series_folds, fitted.demand_horizon) == (2, 2, 4, 2)
        rows = prepare_page_models(store, "taobao", freqs=["D"])  # beside the store, where the app looks
        assert all(r["state"] == "ready" for r in rows), [r["error"] for r in rows]
        basis = ModelBasis("taobao", store.fingerprint("taobao"), "D", last)
        assert pm.result_stamp(basis.churn("churn_risk", 2), pm.page_models_root(store.path)) is not None
    # every page that shows a model opens on one prepare fitted: none starts a fit of its own
    import streamlit as st

    from tests.apptest import open_page

    asked: list[str] = []
    st.cache_data.clear()
    st.cache_resource.clear()
    with pytest.MonkeyPatch.context() as mp:
        from ui import fits

        real = fits.fitted

        def spy(model: pm.PageModel, frame: object, wait: float | None = None) -> object:
            if pm.result_stamp(model, fits.models_root()) is None:
                asked.append(f"{model.kind} {dict(model.params)}")
            return real(model, frame, wait)  # type: ignore[arg-type]

        mp.setattr(fits, "fitted", spy)
        mp.setenv("INTEREST_DB", str(tmp_path / "t.duckdb"))
        mp.setenv("INTEREST_FIT_WAIT_S", "0")
        for page in ("forecasts", "churn", "promotions", "segments", "demand"):
            open_page(f"app_pages/{page}.py", 120, errors=False, dataset="taobao", freq="D")
    st.cache_data.clear()
    st.cache_resource.clear()
    assert not asked, asked
