"""Charts of the User, Migration and Segments pages: titled, axis units, data drawn, empty inputs explained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from interest_core import charts
from interest_core.analytics import migration as mig
from interest_core.analytics import segments as seg
from interest_core.analytics import trajectories as traj
from interest_core.config import PanelSpec
from tests import builders
from tests.builders import week


def panel_of(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return builders.panel_of(rows, n_view=lambda f: f["interest"].astype(int), n_buy=1)


@pytest.fixture
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", c, w, float(rng.integers(1, 9))) for u in range(12) for w in range(6) for c in "ABCD"
            if rng.random() < 0.7]
    return panel_of([*rows, ("leaver", "A", 0, 1.0), ("newcomer", "B", 5, 1.0)])


def titled(fig: go.Figure, *, axes: bool = True) -> None:
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text
    assert fig.data, "no traces"
    if axes:
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_user_charts(panel: pd.DataFrame) -> None:
    shares = traj.stacked_shares(panel, "u1", "W")
    changes = traj.change_points(panel[panel["user_id"] == "u1"])
    fig = charts.user_shares_chart(shares, "W", changes=changes, user_id="u1")
    titled(fig)
    assert "week" in fig.layout.yaxis.title.text and fig.layout.barmode == "stack"
    titled(charts.long_short_chart(traj.long_short_interest(panel, PanelSpec(), "u1"), "W", long_half_life=8,
                                   short_half_life=1))
    titled(charts.diversity_chart(traj.diversity(panel), "W"))
    recs = pd.DataFrame({"item": ["A", "B"], "score": [0.9, 0.4], "rank": [1, 2]})
    titled(charts.recommendations_chart(recs))


def test_user_forecast_chart_draws_bands(panel: pd.DataFrame) -> None:
    from interest_core.forecasting.series import pair_id

    fc = pd.DataFrame({"unique_id": pair_id(pd.Series(["u1", "u1"]), pd.Series(["A", "B"])),
                       "period": week(6), "model": "m", "yhat": [3.0, 1.0],
                       "lo_80": [1.0, 0.0], "hi_80": [5.0, 2.0]})
    merged = traj.merge_forecast(panel, fc, "u1", categories=["A", "B"])
    fig = charts.user_forecast_chart(merged, "W", level=80)
    titled(fig)
    assert any(t.fill == "toself" for t in fig.data)
    stacked = charts.user_shares_chart(traj.stacked_shares(panel, "u1", "W"), "W", forecast=merged)
    assert any("(forecast)" in (t.name or "") for t in stacked.data)


def test_migration_charts(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W", entry_exit=True)
    matrix, _ = mig.flow_matrix(tr, min_users=1)
    wide = mig.matrix_wide(matrix)
    assert wide.index[0] == mig.NEW and wide.columns[-1] == mig.GONE
    titled(charts.migration_heatmap(wide))
    titled(charts.migration_heatmap(mig.matrix_wide(matrix, "share_of_row", diagonal=False), value="share_of_row"))
    links, _ = mig.sankey_links(tr, min_users=1)
    sankey = charts.sankey_chart(links)
    titled(sankey, axes=False)
    assert len(sankey.data[0].link.value) == len(links)
    titled(charts.top_flows_chart(mig.top_flows(matrix, 5)))
    titled(charts.top_flows_chart(mig.net_flows(matrix).head(5), value="net"))
    cmp = mig.compare_matrices(matrix, matrix.assign(mass=matrix["mass"] * 1.1))
    fig = charts.forecast_vs_actual_chart(cmp)
    titled(fig)
    assert "L1" in fig.layout.title.text


def test_segment_charts(panel: pd.DataFrame) -> None:
    feats = seg.user_features(panel, "W")
    model = seg.UserSegmenter(n_clusters=2).fit(feats)
    names = dict(zip(range(2), ["first", "second"], strict=True))
    titled(charts.projection_chart(seg.projection_2d(feats, model.labels_, model), names))
    sizes = seg.segment_sizes_over_time(panel, model, "W", window=3)
    titled(charts.segment_sizes_chart(sizes, "W", names, window=3))
    titled(charts.segment_traits_chart(seg.describe_segments(feats, model.labels_, "W")))


@pytest.mark.parametrize("build", [
    lambda: charts.user_shares_chart(pd.DataFrame(columns=traj.SHARES_COLUMNS), "W"),
    lambda: charts.long_short_chart(pd.DataFrame(), "W"),
    lambda: charts.diversity_chart(pd.DataFrame(), "W"),
    lambda: charts.user_forecast_chart(pd.DataFrame(), "W"),
    lambda: charts.recommendations_chart(pd.DataFrame()),
    lambda: charts.migration_heatmap(pd.DataFrame()),
    lambda: charts.sankey_chart(pd.DataFrame()),
    lambda: charts.top_flows_chart(pd.DataFrame()),
    lambda: charts.forecast_vs_actual_chart(pd.DataFrame()),
    lambda: charts.projection_chart(pd.DataFrame()),
    lambda: charts.segment_sizes_chart(pd.DataFrame(), "W"),
    lambda: charts.segment_traits_chart(pd.DataFrame()),
])
def test_empty_inputs_say_why(build: object) -> None:
    fig = build()  # type: ignore[operator]
    assert fig.layout.title.text and fig.layout.annotations, "an empty chart says why it is empty"
