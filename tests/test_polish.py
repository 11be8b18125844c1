"""Polish of issue 14's pages: learned groups that keep their names whatever the date range, page defaults
that fit a short range (Demand, Forecasts at 8 weeks of Tmall), and a churn risk on the Taobao sample's
daily periods that is not a model fitted on one class."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from interest_core.config import GroupingSpec, PanelSpec
from interest_core.errors import ModelError
from interest_core.periods import Window
from tests.apptest import check_figures, open_page, store_fixture, temp_store
from tests.conftest import IngestedStore

TIMEOUT = 300
TAOBAO = "taobao_userbehavior_head"
EIGHT_WEEKS = {"dataset": "tmall", "from": "2013-06-17", "to": "2013-08-05"}  # 8 whole weeks, as issue 14 tried

db = store_fixture("polish")


def test_learned_groups_are_learned_over_the_whole_dataset_whatever_the_range(db: Path) -> None:
    from ui import grouping
    from ui.store import dataset_key, store

    store()  # the demo, ingested on first use
    whole = dataset_key("demo")
    ranged = whole.within(Window.of_periods("2024-06-03", "2024-07-29", "W"))
    assert ranged != whole and ranged.whole() == whole
    learned = GroupingSpec(method="learned", n_groups=4)
    groups = grouping.base_map(whole, learned)
    assert groups is not None and groups["group"].nunique() > 1
    assert_frame_equal(grouping.base_map(ranged, learned), groups)  # same members, same names
    # Top-K ranks the categories inside the range.
    in_range = grouping.category_totals(ranged)["category"].head(3).astype(str).tolist()
    mapped = grouping.base_map(ranged, GroupingSpec(method="topk", k=3))
    assert mapped is not None
    assert sorted(mapped[mapped["group"] != "other"]["group"].astype(str).unique()) == sorted(in_range)


def test_churn_model_refuses_training_snapshots_of_practically_one_class(taobao_log: Path,
                                                                         tmp_path: Path) -> None:
    """The Taobao sample at a 7-day horizon: its labelled cutoffs lie in the stray events before the bulk,
    with 1 churner in 184 snapshots; fitted anyway, the model rated every real user ~100% at risk."""
    from interest_core.analytics.churn import ChurnModel
    from interest_core.ingest import pipeline
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    with Store(tmp_path / "t.duckdb") as store:
        pipeline.ingest(store, taobao_log, name=TAOBAO)
        panel = build_panel(events_source(store, TAOBAO), PanelSpec(freq="D"))
    last = pd.Timestamp("2017-12-02")  # the last whole day
    with pytest.raises(ModelError, match="one class"):
        ChurnModel(freq="D", horizon=7).fit(panel, last_period=last)
    risk = ChurnModel(freq="D", horizon=1).fit(panel, last_period=last).predict_risk()
    assert 0.01 < risk["risk"].mean() < 0.5  # measured 4.9%


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory, tmall_store: IngestedStore, taobao_log: Path
            ) -> Iterator[Path]:
    """A temp store with the Tmall log and the Taobao sample (the app adds the demo)."""
    from interest_core.ingest import pipeline
    from interest_core.store import Store

    with temp_store(tmp_path_factory, "polish_real") as path:
        shutil.copyfile(tmall_store.db, path)
        with Store(path) as store:
            pipeline.ingest(store, taobao_log, name=TAOBAO)
        yield path


@pytest.mark.slow
def test_demand_and_forecasts_fit_an_eight_week_range(real_db: Path) -> None:
    # No error box (was: "8 complete periods cannot hold 3 folds of horizon 4").
    at = open_page("app_pages/demand.py", TIMEOUT, errors=True, **EIGHT_WEEKS)
    assert at.selectbox(key="demand_horizon").value == 2
    notes = " ".join(c.value for c in at.caption)
    assert "Horizon: 2 weeks, chosen from the 8 weeks of data." in notes
    check_figures(at, {"demand_chart", "demand_trends"})
    at = open_page("app_pages/forecasts.py", TIMEOUT, errors=True, **EIGHT_WEEKS)  # was: 8 periods cannot hold 8 folds
    assert (at.slider(key="fc_h").value, at.slider(key="fc_folds").value) == (2, 4)
    assert (at.number_input(key="train_h").value, at.number_input(key="train_folds").value) == (2, 3)
    assert next(h.value for h in at.subheader) == "Next 2 weeks"
    check_figures(at, {"fc_forward_chart", "fc_pva"})


@pytest.mark.slow
def test_user_and_promotions_churn_on_the_taobao_sample_fit_its_ten_days(real_db: Path) -> None:
    at = open_page("app_pages/user.py", TIMEOUT, dataset=TAOBAO)
    assert at.selectbox(key="w_freq").value == "D"
    risk = next(m.value for m in at.markdown if "Churn risk" in m.value)
    assert not re.search(r"100%|>99%", risk), risk
    churn = open_page("app_pages/churn.py", TIMEOUT, dataset=TAOBAO).selectbox(key="churn_horizon").value
    assert churn in (1, 2) and f"the next {'day' if churn == 1 else f'{churn} days'}" in risk  # the Churn page's
    assert at.slider(key="user_fc_h").value == 2  # the forecast's default fitted to 10 days too (was 4)
    shown = at.dataframe[0].value  # change points: shares in percent, as the CSV exports them
    assert len(shown) and shown["to_share"].between(0, 100).all() and shown["to_share"].max() > 1
    # Promotions scores churn over the same fitted horizon: no error box (a 7-day model fails to fit).
    open_page("app_pages/promotions.py", TIMEOUT, errors=True, dataset=TAOBAO)


def test_sankey_names_its_colours_in_a_key_instead_of_labels_over_the_flows() -> None:
    from interest_core.charts.migration import KEY_COLUMNS, sankey_chart

    evil = "<a href='x'>b</a>"
    links = pd.DataFrame({
        "source": ["A@1", "A@1", "B@1", "other@1"], "target": ["A@2", evil + "@2", "other@2", "B@2"],
        "period": pd.Timestamp("2024-01-01"), "to_period": pd.Timestamp("2024-01-08"),
        "from_category": ["A", "A", "B", "other"], "to_category": ["A", evil, "other", "B"],
        "mass": [5.0, 1.0, 2.0, 3.0], "users": [5, 1, 2, 3]})
    fig = sankey_chart(links, {"A": "#111111", "B": "#222222"})
    assert not any(fig.data[0].node.label)  # nothing written over the flows
    key = [a for a in fig.layout.annotations if "■" in a.text]
    names = [a.text.split("</span> ", 1)[1] for a in key]
    assert names == ["A", "B", "&lt;a href='x'&gt;b&lt;/a&gt;", "other"]  # most flow first, other last, escaped
    assert "#111111" in key[0].text and len({(a.x, a.yshift) for a in key}) == len(key)  # none on another
    assert fig.layout.height >= 480 + 24 * -(-len(key) // KEY_COLUMNS)


def test_a_users_shares_hold_other_once_when_a_grouping_made_it_a_top_category() -> None:
    """A grouped panel has its own 'other'; folding the user's categories past the top one added a second
    'other' row per period, and the stacked bars of the Taobao sample's default user rose to 138%."""
    from interest_core.analytics.trajectories import stacked_shares

    rows = pd.DataFrame({
        "user_id": "u", "period": pd.to_datetime(["2024-01-01"] * 3 + ["2024-01-08"] * 2),
        "category": ["G1", "other", "G2", "other", "G1"], "interest": [5.0, 3.0, 1.0, 2.0, 2.0]})
    rows["share"] = rows["interest"] / rows.groupby("period")["interest"].transform("sum")
    rows = rows.astype({"user_id": "string", "category": "string"})
    shares = stacked_shares(rows, "u", "W", top_k=2)
    assert shares.groupby("period")["share"].sum().round(9).eq(1.0).all(), shares
    assert not shares.duplicated(["period", "category"]).any()


def test_demand_chart_starts_where_the_data_does() -> None:
    """The Taobao sample's stray early events gave its demand chart two weeks of zeros before the bulk."""
    from interest_core.charts.ops import demand_chart

    days = pd.date_range("2017-11-08", periods=26, freq="D")
    history = pd.DataFrame({"category": "A", "period": days, "y": [0.0] * 16 + [5.0] * 10})
    forecast = pd.DataFrame({"category": "A", "period": days[-1:] + pd.Timedelta(days=1), "yhat": 5.0})
    fig = demand_chart(history, forecast, "D")
    assert "last 10 days" in fig.layout.title.text
    assert min(pd.to_datetime(fig.data[0].x)) == days[16]
