"""Planning: the promotion what-if and reconciliation, shared formatters, forward forecasts, and the pages
that show them (Promotions, Demand, Forecasts) run headless on the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from interest_core.analytics import promotions as promo
from interest_core.charts.style import metric_name, significant
from interest_core.errors import ModelError
from interest_core.text import percent, plural
from interest_core.views import ops as views_ops
from tests.apptest import check_figures, open_page, store_fixture

TIMEOUT = 300
db = store_fixture("planning_pages")


def test_what_if_cost_and_return() -> None:
    outcome = promo.what_if(200, 30.0, 0.5, 10.0)
    assert (outcome.cost, outcome.value, outcome.net) == (100.0, 300.0, 200.0)
    assert outcome.return_on_cost == pytest.approx(2.0)
    assert np.isnan(promo.what_if(10, 2.0, 0.0, 1.0).return_on_cost)
    with pytest.raises(ModelError, match="enter zero or more"):
        promo.what_if(10, 1.0, -1.0, 1.0)


def test_reconcile_scales_the_model_by_what_its_backtest_held() -> None:
    ranked = pd.DataFrame({"p_engage": [0.5] * 200})
    lift = pd.DataFrame({"list_size": [50, 100], "listed": [150, 300], "model_hits": [30, 45],
                         "recency_hits": [27, 48], "expected_hits": [60.0, 90.0], "cutoffs": [3, 3]})
    reach = promo.reconcile(ranked, lift, 120)  # uses the top-100 row: the largest size not above 120
    assert reach.model_expected == pytest.approx(60.0)
    assert reach.backtest_per_cutoff == pytest.approx(15.0) and reach.backtest_expected == pytest.approx(30.0)
    assert reach.expected == pytest.approx(30.0)  # held half of what it expected
    recency = promo.reconcile(ranked, lift, 100, source="recency")
    assert recency.expected == pytest.approx(16.0)  # 48 of 300 listed, times 100
    small = promo.reconcile(ranked, lift, 10)  # below every backtested size: the smallest row
    assert small.expected == pytest.approx(5.0 * 30 / 60)


def test_shared_formatters() -> None:
    assert [significant(v) for v in (12345.0, 0.012345, 7.0, 0.0, 999.6)] == ["12,300", "0.0123", "7.00", "0",
                                                                             "1,000"]
    assert significant(float("nan")) == "n/a" and significant(12.34, 2) == "12"
    assert metric_name("mase") == "scaled error (MASE)" and metric_name("auc") == "AUC"
    assert metric_name("hit_rate@5") == "hit rate@5"
    assert plural(1, "category") == "1 category" and plural(2, "category") == "2 categories"
    assert plural(1200, "week") == "1,200 weeks"
    assert percent(0.4567) == "46%" and percent(0.001) == "<1%"


def test_promotion_horizons_and_recent_categories() -> None:
    weeks = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    panel = pd.DataFrame({"user_id": ["a", "b", "c"] * 10, "category": ["X", "Y", "Y"] * 10,
                          "period": np.repeat(weeks, 3), "interest": 1.0})
    assert views_ops.promotion_horizons(panel, "W") == [1, 2, 3]  # 4 needs 12 periods
    assert views_ops.recent_categories(panel) == ["Y", "X"]


def test_segment_demand_forecasts_each_segment() -> None:
    weeks = pd.date_range("2024-01-01", periods=16, freq="W-MON")
    users = [f"u{i}" for i in range(12)]
    rng = np.random.default_rng(0)
    panel = pd.DataFrame([(u, "A", w, float(rng.poisson(3 if i < 6 else 8) + 1)) for i, u in enumerate(users)
                          for w in weeks], columns=["user_id", "category", "period", "interest"])
    panel = panel.astype({"user_id": "string", "category": "string"})
    labels = pd.Series([0] * 6 + [1] * 6, index=users)
    descriptions = pd.DataFrame({"segment": [0, 1], "description": ["light", "heavy"]})
    result = views_ops.segment_demand(panel, labels, descriptions, "W", horizon=3)
    assert set(result.forecast["category"]) == {"segment 0", "segment 1"}
    assert len(result.forecast) == 6 and (result.forecast["hi_80"] >= result.forecast["lo_80"]).all()
    heavy = result.forecast[result.forecast["category"] == "segment 1"]["yhat"].mean()
    light = result.forecast[result.forecast["category"] == "segment 0"]["yhat"].mean()
    assert heavy > light


def _text(at: AppTest) -> str:
    return " ".join([c.value for c in at.caption] + [m.value for m in at.markdown])


@pytest.mark.slow
def test_promotions_page_what_if_and_default_list(db: Path) -> None:
    at = open_page("app_pages/promotions.py", TIMEOUT, errors=True, dataset="demo", freq="W")
    check_figures(at, {"promo_gains", "promo_lift"}, axis_titles=True)
    text = _text(at)
    assert "so it is the default" in text
    assert "Both figures count" in text or "hit rate in the backtest" in text
    labels = {m.label: m.value for m in at.metric}
    assert {"Candidates", "Expected to engage", "Cost", "Return"} <= set(labels)
    assert labels["Cost"] == "10.00"  # 100 listed at 0.10 each
    at.number_input(key="promo_cost").set_value(1.0).run()
    assert {m.label: m.value for m in at.metric}["Cost"] == "100.00"
    listed = at.dataframe[0].value
    assert "new_to_category" in listed and len(listed) == 100
    segment = at.selectbox(key="promo_segment")
    segment.set_value(segment.options[1]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) <= 100
