"""analytics.migration: the share-mass definition checked by hand on literal panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interest_core.analytics import migration as mig
from tests.builders import panel_of, week


@pytest.fixture
def panel() -> pd.DataFrame:
    # u1: (A .5, B .5) -> (A .2, B .3, C .5): A loses .3, B loses .2, C gains .5.
    # u2: (A 1) -> (B .75, C .25).  u3: only in week 0 (leaves).  u4: only in week 1 (arrives).
    return panel_of([
        ("u1", "A", 0, 5), ("u1", "B", 0, 5), ("u1", "A", 1, 2), ("u1", "B", 1, 3), ("u1", "C", 1, 5),
        ("u2", "A", 0, 4), ("u2", "B", 1, 3), ("u2", "C", 1, 1),
        ("u3", "B", 0, 1),
        ("u4", "C", 1, 2),
    ])


def cells(matrix: pd.DataFrame, value: str = "mass") -> dict[tuple[str, str], float]:
    return {(str(r.from_category), str(r.to_category)): float(getattr(r, value)) for r in matrix.itertuples()}


def test_share_mass_matrix_by_hand(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W")
    assert set(tr["period"]) == {week(0)} and set(tr["to_period"]) == {week(1)}
    # Each user active in both periods moves exactly 1 unit of share in all.
    assert tr.groupby("user_id")["flow"].sum().to_dict() == pytest.approx({"u1": 1.0, "u2": 1.0})
    matrix, hidden = mig.flow_matrix(tr, min_users=1)
    assert hidden == 0
    assert cells(matrix) == pytest.approx({
        ("A", "A"): 0.2, ("B", "B"): 0.3,          # u1 keeps min(before, after)
        ("A", "C"): 0.3 + 0.25, ("B", "C"): 0.2,   # u1: A's and B's losses go to C (all the gain)
        ("A", "B"): 0.75,                          # u2
    })
    assert cells(matrix, "users") == {("A", "A"): 1, ("B", "B"): 1, ("A", "C"): 2, ("B", "C"): 1, ("A", "B"): 1}
    # share_of_row: A's row holds u1's .5 + u2's 1.0.
    assert cells(matrix, "share_of_row")[("A", "B")] == pytest.approx(0.75 / 1.5)


def test_rows_and_columns_sum_to_the_shares(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W")
    u1 = tr[tr["user_id"] == "u1"]
    assert u1.groupby("from_category")["flow"].sum().to_dict() == pytest.approx({"A": 0.5, "B": 0.5})
    assert u1.groupby("to_category")["flow"].sum().to_dict() == pytest.approx({"A": 0.2, "B": 0.3, "C": 0.5})


def test_entry_and_exit(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W", entry_exit=True)
    matrix, _ = mig.flow_matrix(tr, min_users=1)
    got = cells(matrix)
    assert got[("B", mig.GONE)] == pytest.approx(1.0)   # u3 left
    assert got[(mig.NEW, "C")] == pytest.approx(1.0)    # u4 arrived
    assert ("A", mig.GONE) not in got


def test_suppression_and_min_flow(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W")
    matrix, hidden = mig.flow_matrix(tr, min_users=2)
    assert cells(matrix, "users") == {("A", "C"): 2}
    assert hidden == 4
    # A user whose flow is under min_flow is not counted behind it.
    strict, _ = mig.flow_matrix(tr, min_users=1, min_flow=0.26)
    assert cells(strict, "users")[("A", "C")] == 1  # u1's 0.3 counts, u2's 0.25 does not


def test_top_category_transitions(panel: pd.DataFrame) -> None:
    top = mig.top_category_transitions(panel, "W")
    # u1: week 0 tie A/B -> A (alphabetical), week 1 top C; u2: A -> B.
    assert {(r.user_id, r.from_category, r.to_category) for r in top.itertuples()} == {("u1", "A", "C"),
                                                                                       ("u2", "A", "B")}
    matrix, _ = mig.flow_matrix(top, min_users=1)
    assert cells(matrix) == {("A", "C"): 1.0, ("A", "B"): 1.0}


def test_window_transitions_aggregate_periods() -> None:
    p = panel_of([("u", "A", 0, 1), ("u", "A", 1, 1), ("u", "A", 2, 1), ("u", "B", 3, 1)])
    tr = mig.window_transitions(p, (week(0), week(1)), (week(2), week(3)))
    assert cells(mig.flow_matrix(tr, min_users=1)[0]) == pytest.approx({("A", "A"): 0.5, ("A", "B"): 0.5})
    assert tr["period"].iloc[0] == week(0) and tr["to_period"].iloc[0] == week(2)


def test_segments_net_flows_and_users(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W")
    segs = pd.DataFrame({"user_id": ["u1", "u2"], "segment": ["s1", "s2"]})
    by_seg, _ = mig.flow_matrix(mig.with_segments(tr, segs), by=["segment"], min_users=1)
    assert cells(by_seg[by_seg["segment"] == "s2"]) == pytest.approx({("A", "B"): 0.75, ("A", "C"): 0.25})
    users = mig.flow_users(tr, "A", "C")
    assert users["user_id"].tolist() == ["u1", "u2"]
    assert users["flow"].tolist() == pytest.approx([0.3, 0.25])
    assert mig.flow_users(tr, "A", "C", min_flow=0.28)["user_id"].tolist() == ["u1"]
    back = pd.DataFrame({"from_category": ["A", "C", "A"], "to_category": ["C", "A", "A"], "mass": [5.0, 2.0, 9.0],
                         "users": [9, 9, 9]})
    net = mig.net_flows(back)
    assert net[["from_category", "to_category", "net"]].values.tolist() == [["A", "C", 3.0]]
    assert mig.top_flows(back, 1)["mass"].tolist() == [5.0]


def test_sankey_links_name_nodes_by_period(panel: pd.DataFrame) -> None:
    tr = mig.share_transitions(panel, "W", entry_exit=True)
    links, _ = mig.sankey_links(tr, min_users=1, top_k=2)
    # Flow through each category (out + in): A 1.7, B 2.55, C 1.75; top_k=2 keeps B and C, A is 'other'.
    # Arrivals enter from a '(new)' node in the earlier period, leavers go to '(gone)' in the later one.
    assert set(links["source"]) == {"B@2024-01-01", "other@2024-01-01", "(new)@2024-01-01"}
    assert set(links["target"]) == {"C@2024-01-08", "B@2024-01-08", "other@2024-01-08", "(gone)@2024-01-08"}


def test_noisy_export_is_seeded_and_non_negative(panel: pd.DataFrame) -> None:
    matrix, _ = mig.flow_matrix(mig.share_transitions(panel, "W"), min_users=1)
    a = mig.noisy_export(matrix, 1.0, seed=3)
    b = mig.noisy_export(matrix, 1.0, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["users"] >= 0).all() and "share_of_row" not in a
    assert mig.noisy_export(matrix, None)["users"].tolist() == matrix["users"].tolist()


def test_forecast_transitions_and_comparison(panel: pd.DataFrame) -> None:
    from interest_core.forecasting.series import pair_id

    # Forecast for week 1 from week 0: u1 keeps (A .5, B .5) -> forecast (A .2, B .3, C .5) exactly.
    fc = pd.DataFrame({"unique_id": pair_id(pd.Series(["u1"] * 3), pd.Series(["A", "B", "C"])),
                       "period": week(1), "model": "m", "yhat": [2.0, 3.0, 5.0]})
    implied = mig.forecast_transitions(panel, fc, "W")
    actual = mig.share_transitions(panel, "W")
    a, _ = mig.flow_matrix(actual[actual["user_id"] == "u1"], min_users=1)
    f, _ = mig.flow_matrix(implied, min_users=1)
    cmp = mig.compare_matrices(a, f)
    assert np.allclose(cmp["error"], 0.0) and mig.relative_l1(cmp) == pytest.approx(0.0)
    wrong = mig.compare_matrices(a, f.assign(mass=0.0))
    assert mig.relative_l1(wrong) == pytest.approx(1.0)


def test_backtest_keeps_users_active_on_both_sides(panel: pd.DataFrame) -> None:
    from interest_core.forecasting.series import pair_id

    # Forecasts for week 1 made at week 0: u1 exactly right, u3 (gone in week 1) left out of both sides.
    fc = pd.DataFrame({"unique_id": pair_id(pd.Series(["u1"] * 3 + ["u3"]), pd.Series(["A", "B", "C", "B"])),
                       "period": week(1), "model": "m", "yhat": [2.0, 3.0, 5.0, 1.0]})
    cmp = mig.backtest_transitions(panel, fc, "W")
    u1_only = cmp[cmp["forecast"] > 0]
    assert u1_only["forecast"].sum() == pytest.approx(1.0)  # u1's one unit; u3 dropped
    assert cmp["actual"].sum() == pytest.approx(2.0)         # u1 and u2 actually moved
    assert mig.relative_l1(cmp) == pytest.approx(0.5)             # u2's unit is missing from the forecast


def test_empty_inputs() -> None:
    empty = panel_of([])
    assert mig.share_transitions(empty, "W").empty
    assert mig.top_category_transitions(empty, "W").empty
    matrix, hidden = mig.flow_matrix(mig.share_transitions(empty, "W"))
    assert matrix.empty and hidden == 0
