"""charts.ops: every builder titles its figure and axes, draws data, and says why when empty."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from interest_core.charts import category_colors, ops

START = pd.Timestamp("2024-01-01")


def titled(fig: go.Figure, axes: bool = True) -> None:
    assert fig.layout.title.text
    if axes:
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert fig.data


def test_churn_charts_and_table() -> None:
    risk = pd.DataFrame({"user_id": ["u1", "u 2"], "risk": [0.8, 0.1], "recency": [3, 0],
                         "reasons": ["inactive for 3 weeks", ""]})
    fig = ops.risk_histogram(risk, threshold=0.5, horizon_text="next 2 weeks")
    titled(fig)
    assert "2 weeks" in fig.layout.title.text and "%" in fig.layout.xaxis.title.text
    rel = pd.DataFrame({"bin": [0, 1], "p_mean": [0.1, 0.6], "observed": [0.12, 0.5], "n": [50, 50]})
    titled(ops.reliability_chart(rel))
    table = ops.top_risk_table(risk, "demo set", n=1)
    assert table["open"].tolist() == ["user?user=u1&dataset=demo%20set"] and table["risk_pct"].iloc[0] == 80.0
    assert "no active users" in ops.risk_histogram(risk.iloc[:0]).layout.annotations[0].text


def test_promotion_charts() -> None:
    curve = pd.DataFrame({"list_size": [1, 2], "expected_engaged": [0.9, 1.4], "random_expected": [0.5, 1.0],
                          "reach_share": [0.6, 1.0]})
    titled(ops.gains_chart(curve, "Shoes"))
    lift = pd.DataFrame({"list_size": [10, 20], "model_hits": [7, 12], "recency_hits": [6, 11],
                         "random_hits": [2.0, 4.0]})
    fig = ops.lift_chart(lift, "Shoes")
    titled(fig)
    assert [t.name for t in fig.data] == ["model list", "recency list", "random list (expected)"]


def test_demand_charts_use_category_colours() -> None:
    history = pd.DataFrame({"category": ["A"] * 4 + ["B"] * 4,
                            "period": [START + pd.Timedelta(weeks=i) for i in range(4)] * 2,
                            "y": [1.0, 2, 3, 4, 5, 5, 5, 5]})
    fc = pd.DataFrame({"category": ["A", "B"], "period": [START + pd.Timedelta(weeks=4)] * 2, "model": "m",
                       "yhat": [5.0, 5.0], "lo_80": [4.0, 4.0], "hi_80": [6.0, 6.0]})
    colors = category_colors(["B", "A"])
    fig = ops.demand_chart(history, fc, "W", colors=colors)
    titled(fig)
    actual = {t.name: t.line.color for t in fig.data if t.name in ("A", "B")}
    assert actual == {"A": colors["A"], "B": colors["B"]}
    assert any(t.fill == "toself" for t in fig.data)
    assert "week" in fig.layout.xaxis.title.text
    trends = pd.DataFrame({"category": ["A", "B", "C"], "change_pct": [0.5, -0.3, 0.01], "z": [3.0, -2.5, 0.1],
                           "trend": ["rising", "falling", "steady"], "users_recent": [10, 10, 10]})
    bars = ops.rising_falling_chart(trends)
    titled(bars)
    assert list(bars.data[0].marker.color) == [ops.FALLING_COLOR, ops.RANDOM_COLOR, ops.RISING_COLOR]
    assert ops.demand_chart(history.iloc[:0], fc.iloc[:0], "W").layout.annotations
