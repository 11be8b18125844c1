"""The Forecasts and Scoring pages, run headless with AppTest on the demo.

The module has its own store, a copy of the session's prepared demo, and models folder ($INTEREST_DB,
$INTEREST_MODELS_DIR in a temp folder). Backtests and models are made in the test the way the app makes them,
small and fast (baselines only, two folds); the training job runs in a real spawned worker process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from interest_core.config import PanelSpec
from interest_core.forecasting import backtest, persist, scoring, series
from interest_core.forecasting.catalog import model_folder
from interest_core.forecasting.forecasters import BASELINE_NAMES, make_forecaster
from interest_core.panel import build_panel, events_source
from tests.apptest import APP, app_store, check_clean, check_figures, models_dir, open_page, store_fixture

TIMEOUT = 180
JOB_TIMEOUT = 120


# The demo prepared (its page models fitted, as `prepare` leaves them): the pages with a backtest and models, not the
# first fits (tests/test_page_models.py and the browser walk cover those).
db = store_fixture("forecast_pages", models=True, prepared_demo=True)


@pytest.fixture(scope="module")
def models(db: Path) -> Path:
    return models_dir(db)


@pytest.fixture(scope="module")
def demo(models: Path) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The demo's weekly panel and last event time, read through the app's own store (one writer per file)."""
    AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # ingests the demo into the temp store
    source = events_source(app_store(), "demo")
    data_end = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
    return build_panel(source, PanelSpec(freq="W")), data_end


@pytest.fixture(scope="module")
def engagement_model(models: Path, demo: tuple[pd.DataFrame, pd.Timestamp]) -> Path:
    """A recency-decay engagement model of the demo's last 12 complete weeks, saved with its scoring profile."""
    panel, data_end = demo
    spec = PanelSpec(freq="W")
    last = series.last_complete_period(panel["period"].max(), data_end, "W")
    known = panel[panel["period"] <= last]
    train = series.training_frame(known, "engagement", "W", start=last - pd.Timedelta(weeks=11), end=last)
    model = make_forecaster("recency_decay").fit(train, "W")
    return persist.save_model(model, model_folder(models, "demo", "engagement", "recency_decay"),
                              dataset_sha256="test", panel_spec=spec.to_dict(), metrics={"auc": 0.8},
                              extra={"dataset": "demo", "target": "engagement", "horizon": 2,
                                     "last_period": str(last.date()), "profile": scoring.training_profile(known, spec)})


def page(file: str, **query: str) -> AppTest:
    return open_page(file, TIMEOUT, errors=True, **query)


def clean(at: AppTest) -> None:
    check_clean(at)



def table(at: AppTest, column: str, without: str | None = None) -> pd.DataFrame:
    """The first st.dataframe holding ``column`` (and not ``without``): AppTest does not keep their keys."""
    for frame in at.dataframe:
        value = frame.value
        if column in value.columns and (without is None or without not in value.columns):
            return value
    raise AssertionError(f"no table with column {column!r}")


def figures(at: AppTest, keys: set[str]) -> dict[str, dict[str, Any]]:
    """The page's plotly figures by key; each asked-for one has a title and only traces with points."""
    return check_figures(at, keys, every_trace=True)


def test_forecasts_page_shows_the_latest_backtest(models: Path, demo: tuple[pd.DataFrame, pd.Timestamp]) -> None:
    panel, data_end = demo
    result = backtest.run(panel, "user_total", [make_forecaster(n) for n in BASELINE_NAMES], "W", 2, 2,
                          data_end=data_end)
    backtest.write_json(backtest.result_to_json(result, {"dataset": "demo"}),
                        backtest.backtest_path(models, "demo", "user_total", "W"))

    at = page("app_pages/forecasts.py", dataset="demo", freq="W")
    assert any("No backtest of engagement" in i.value for i in at.info)  # none saved for engagement yet
    at.radio(key="fc_target").set_value("user_total").run()
    clean(at)
    figs = figures(at, {"fc_board", "fc_tiers", "fc_pva", "fc_residuals"})
    heat = figs["fc_board"]["data"][0]
    assert heat["y"] == list(BASELINE_NAMES)
    assert heat["x"][:4] == ["MAE", "RMSE", "sMAPE (%)", "MASE"]
    board = backtest.leaderboard_table(result)
    best_mae = board["mae"].idxmin()
    row = heat["y"].index(best_mae)
    assert heat["text"][row][0] == f"★ {board.at[best_mae, 'mae']:,.3f}"  # the best model's cell is starred
    assert at.radio(key="fc_segment").options == ["all", "light", "medium", "heavy"]
    at.radio(key="fc_segment").set_value("heavy").run()
    clean(at)
    assert "(heavy)" in figures(at, {"fc_board"})["fc_board"]["layout"]["title"]["text"]

    # Predicted vs actual of the aggregate: the actual series, forecasts, and a cutoff line per fold.
    pva = figures(at, {"fc_pva"})["fc_pva"]
    names = {t["name"] for t in pva["data"]}
    assert "actual" in names and any(n.endswith("forecast") for n in names)
    assert len([s for s in pva["layout"]["shapes"] if s["line"]["dash"] == "dash"]) == 8  # default 8 folds
    at.radio(key="fc_step").set_value(1).run()
    clean(at)
    assert "1 week ahead" in figures(at, {"fc_pva"})["fc_pva"]["layout"]["title"]["text"]


def test_training_job_from_the_form_saves_a_model_that_then_appears(models: Path,
                                                                    demo: tuple[pd.DataFrame, pd.Timestamp]) -> None:
    from ui import models as app_models

    at = page("app_pages/forecasts.py", dataset="demo", freq="W")
    at.selectbox(key="train_target").set_value("category_demand")
    at.selectbox(key="train_model").set_value("last_value")
    at.number_input(key="train_h").set_value(2)
    at.number_input(key="train_folds").set_value(2)
    at.button[0].click().run()  # the form's submit button
    clean(at)
    entries = app_models.jobs("demo")
    assert len(entries) == 1 and entries[0].job.process is not None  # a worker process, not this one
    status = entries[0].job.wait(timeout=JOB_TIMEOUT)
    assert status.state == "done", status.error

    at.run()  # the next run (the fragment's poll, or any rerun) shows the result
    clean(at)
    assert any("done, saved to" in s.value for s in at.success)
    listed = table(at, "name")
    assert "demo-category_demand-last_value" in set(listed["name"])
    at.radio(key="fc_target").set_value("category_demand").run()
    clean(at)
    figures(at, {"fc_board"})  # the job's backtest is the leaderboard now
    at.radio(key="fc_kind").set_value("category").run()
    clean(at)
    pva = figures(at, {"fc_pva", "fc_residuals"})["fc_pva"]
    assert any(t["name"].startswith("saved last_value") for t in pva["data"])  # the saved model's next periods
    assert any("saved backtest" in c.value for c in at.caption)


def test_scoring_page_scores_the_sample_with_a_saved_model(engagement_model: Path) -> None:
    at = page("app_pages/scoring.py", dataset="demo")
    assert at.selectbox(key="sc_model").value == str(engagement_model)
    at.radio(key="sc_source").set_value("sample").run()
    at.button(key="sc_go").click().run()
    clean(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Users"] == "300" and shown["New users"] == "30 (10%)" and shown["Unseen categories"] == "1"
    assert not at.warning  # a tenth of the users new, 3% of events unseen: the model fits this file
    top = table(at, "rank")
    assert top.groupby("user_id")["rank"].max().max() == 5
    assert top["p_engage"].between(0, 1).all()
    pairs = table(at, "p_engage", "rank")
    assert pairs["p_engage"].is_monotonic_decreasing and "other" in set(pairs["category"])  # unseen -> other
    drift = table(at, "Stability (PSI)")
    assert {"Behaviour mix", "Category mix", "Activity"} <= set(drift["What"])
    cells = drift.astype(str)
    assert not cells.isin(["None", "nan", "NaN"]).any().any() and not cells["Measure"].str.contains("_").any()
    assert not cells.apply(lambda col: col.str.contains(r"\.\d{3}")).any().any()  # no 4-decimal fractions
    figures(at, {"sc_hist", "sc_drift"})
    assert len(at.get("download_button")) == 3  # the sample, top-K and all pairs

    # A small upload of the same layout scores the same way.
    from ui import queries
    from ui.store import dataset_key

    small = b"\n".join(queries.scoring_sample(dataset_key("demo")).splitlines()[:1500])
    at.radio(key="sc_source").set_value("upload").run()
    at.file_uploader(key="sc_upload").set_value(("small.csv", small, "text/csv")).run()
    at.button(key="sc_go").click().run()
    clean(at)
    assert int({m.label: m.value for m in at.metric}["Events"].replace(",", "")) == 1499


def test_scoring_page_warns_when_the_model_does_not_fit_and_explains_rejects(engagement_model: Path) -> None:
    import io

    from ui import queries
    from ui.store import dataset_key

    sample = pd.read_csv(io.BytesIO(queries.scoring_sample(dataset_key("demo"))), dtype=str)
    key = sample.columns
    # Every user and category unknown to the model, and 40 rows repeated exactly.
    sample[key[0]] = "9" + sample[key[0]]
    sample[key[2]] = "9" + sample[key[2]]
    shifted = pd.concat([sample, sample.head(40)], ignore_index=True).to_csv(index=False).encode()
    at = page("app_pages/scoring.py", dataset="demo")
    at.radio(key="sc_source").set_value("upload").run()
    at.file_uploader(key="sc_upload").set_value(("shifted.csv", shifted, "text/csv")).run()
    at.button(key="sc_go").click().run()
    clean(at)
    assert len(at.warning) == 1
    text = at.warning[0].value
    assert "does not fit" in text and "300 of 300 users (100%)" in text and "never saw" in text
    assert {m.label: m.value for m in at.metric}["Rows rejected"] == "40"
    assert any("40 duplicates: same user, item, category, behaviour and time" in c.value for c in at.caption)
    at.selectbox(key="sc_dup").set_value("keep").run()
    at.button(key="sc_go").click().run()
    clean(at)
    assert {m.label: m.value for m in at.metric}["Rows rejected"] == "0"


def test_scoring_page_bad_upload_shows_a_named_error(engagement_model: Path) -> None:
    at = page("app_pages/scoring.py", dataset="demo")
    at.radio(key="sc_source").set_value("upload").run()
    at.file_uploader(key="sc_upload").set_value(("events.csv", b"\x00\x01garbage\xff\xfe" * 100, "text/csv")).run()
    assert not at.exception
    assert len(at.error) == 1 and "looks binary" in at.error[0].value and "What to do" in at.error[0].value
    assert not at.get("plotly_chart")
