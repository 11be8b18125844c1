"""The pages of models on a large log, in AppTest: with the row cap lowered under the demo's panel
($INTEREST_MODEL_MAX_ROWS), the app fits the models of users on a stated user sample and the models of totals
on the panel summed in DuckDB (interest_core.forecasting.page_frames), and every page says so and draws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interest_core import derived
from interest_core.forecasting import page_frames
from interest_core.store import Store
from tests.apptest import check_figures, open_page, store_fixture

TIMEOUT = 300
pytestmark = pytest.mark.slow  # the pages fit their models on the sample in the background worker

db = store_fixture("sampled_pages", prepared_demo=True)


@pytest.fixture(scope="module")
def sample(db: Path) -> Iterator[page_frames.UserSample]:
    with Store(db, read_only=True) as store:
        # under the weekly panel the pages open with and the monthly one the User page's recommender reads
        rows = min(t.rows for t in derived.tables(store, "demo") if t.freq in ("W", "M") and t.kind == "panel")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(page_frames.MAX_ROWS_ENV, str(rows // 3))
        with Store(db, read_only=True) as store:
            found = page_frames.user_sample(store, "demo", "W")
            assert found is not None
            users = set(page_frames.sampled_panel(store, "demo", "W", found)["user_id"])
        assert 0 < found.users < found.of_users and len(users) == found.users
        yield found


def _says_the_sample(at: object, sample: page_frames.UserSample) -> None:
    said = [c.value for c in at.caption]  # type: ignore[attr-defined]
    assert any(f"a sample of {sample.users:,} users of {sample.of_users:,}" in c for c in said), said


def test_churn_scores_the_stated_sample(db: Path, sample: page_frames.UserSample) -> None:
    at = open_page("app_pages/churn.py", TIMEOUT, dataset="demo", freq="W")
    check_figures(at, {"churn_hist", "churn_reliability"}, axis_titles=True)
    _says_the_sample(at, sample)
    with Store(db, read_only=True) as store:
        users = set(page_frames.sampled_panel(store, "demo", "W", sample)["user_id"])
    table = at.dataframe[0].value
    assert len(table) > 0 and set(table["user_id"].astype(str)) <= users


def test_segments_and_promotions_say_the_sample(db: Path, sample: page_frames.UserSample) -> None:
    seg = open_page("app_pages/segments.py", TIMEOUT, dataset="demo", freq="W")
    assert seg.get("plotly_chart"), "the Segments page draws no chart"
    _says_the_sample(seg, sample)
    promo = open_page("app_pages/promotions.py", TIMEOUT, dataset="demo", freq="W")
    assert promo.get("plotly_chart"), "the Promotions page draws no chart"
    _says_the_sample(promo, sample)


def test_demand_and_forecasts_draw_from_totals(db: Path, sample: page_frames.UserSample) -> None:
    demand = open_page("app_pages/demand.py", TIMEOUT, dataset="demo", freq="W")
    check_figures(demand, {"demand_segment_chart"})  # segments sum the sample's users, the ones they were learned on
    _says_the_sample(demand, sample)
    forecasts = open_page("app_pages/forecasts.py", TIMEOUT, dataset="demo", freq="W")
    assert forecasts.get("plotly_chart"), "the Forecasts page draws no chart"


def test_migration_flows_are_those_of_the_sample(db: Path, sample: page_frames.UserSample) -> None:
    import re

    at = open_page("app_pages/migration.py", TIMEOUT, dataset="demo", freq="W")
    assert at.get("plotly_chart"), "the Migration page draws no chart"
    with Store(db, read_only=True) as store:  # the flows read a sub-sample: a third of the models' rows
        flows = page_frames.user_sample(store, "demo", "W", page_frames.max_model_rows() // page_frames.FLOWS_SHARE)
    assert flows is not None and flows.users < sample.users
    _says_the_sample(at, flows)
    counted = [int(m.group(1).replace(",", "")) for c in at.caption
               if (m := re.match(r"([\d,]+) users, \d+ week pair", c.value))]
    assert counted and 0 < counted[0] <= flows.users  # the flows of the sample's users only


def test_user_page_recommends_from_the_sample(db: Path, sample: page_frames.UserSample) -> None:
    at = open_page("app_pages/user.py", TIMEOUT, dataset="demo", freq="W")
    check_figures(at, {"user_recs"})
    said = [c.value for c in at.caption]
    assert any("Recommendations come from the most similar users among a sample of" in c for c in said), said
