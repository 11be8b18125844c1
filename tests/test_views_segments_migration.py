"""interest_core.views.segments and .migration: the windows, limits and assembly the Segments and
Migration pages show, on literal panels (no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest

from interest_core.analytics import migration as mig
from interest_core.views import migration as mv
from interest_core.views import segments as sv
from tests import builders
from tests.builders import week


def panel_of(rows: Sequence[tuple[str, str, int, float]]) -> pd.DataFrame:
    """(user, category, week, interest): views only (builders.panel_of with the behaviour counts)."""
    return builders.panel_of(rows, n_view=lambda f: f["interest"].astype(int), n_fav=0, n_cart=0, n_buy=0)


# -- segments -------------------------------------------------------------------------------------

def test_feature_start_is_the_first_of_the_last_periods() -> None:
    panel = panel_of([("a", "X", w, 1) for w in range(10)])
    assert sv.feature_start(panel, None) is None
    assert sv.feature_start(panel, 3) == week(7)  # weeks 7, 8, 9
    assert sv.feature_start(panel, 50) == week(0)  # more than there are: all of them


@pytest.mark.parametrize("n_periods, step", [(8, 1), (32, 1), (56, 2), (200, 8)])
def test_sizes_step_keeps_about_25_windows(n_periods: int, step: int) -> None:
    assert sv.sizes_step(n_periods, 8) == step
    windows = len(range(0, max(n_periods - 8, 0) + 1, step))
    assert windows <= sv.MAX_SIZE_WINDOWS * 2 + 1  # never one window per period on long logs
    assert sv.sizes_step(n_periods, 8, users=884) == step  # a small log (Tmall's users): the same windows


def test_sizes_step_reads_fewer_windows_of_many_users() -> None:
    """Each window recomputes every user's features: 100 k users over 26 weeks get 7 windows, not 19."""
    assert sv.sizes_step(26, 8, users=100_000) == 3
    assert sv.sizes_step(26, 8, users=10_000_000) == 4  # at least 4 windows however many users


def test_segmentation_separates_two_tastes_and_lists_members() -> None:
    rows = []
    for u in range(12):  # six users of X only, six of Y only, active every week
        cat = "X" if u < 6 else "Y"
        rows += [(f"u{u:02d}", cat, w, 3 + u % 3) for w in range(12)]
    result = sv.segmentation(panel_of(rows), "W", k=2, sizes_window=4)
    assert list(result.labels.index) == list(result.features.index)
    x_users = {f"u{u:02d}" for u in range(6)}
    groups = [set(result.members(s)) for s in sorted(set(result.labels))]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, [x_users, {f"u{u:02d}" for u in range(6, 12)}]))
    assert result.descriptions["users"].sum() == 12
    assert set(result.sizes["segment"]) <= set(result.labels)
    assert set(result.silhouette) == {2}  # a fixed k: only its own silhouette


def test_segmentation_over_the_last_periods_uses_only_those() -> None:
    rows = [("old", "X", w, 5) for w in range(4)] + [("new", "Y", w, 5) for w in range(6, 10)]
    rows += [(f"b{u}", "X" if u % 2 else "Y", w, 2) for u in range(6) for w in range(10)]
    full = sv.segmentation(panel_of(rows), "W", k=2)
    recent = sv.segmentation(panel_of(rows), "W", k=2, last=3)
    assert "old" in full.features.index
    assert "old" not in recent.features.index  # inactive in weeks 7..9


# -- migration ------------------------------------------------------------------------------------

@pytest.fixture
def moves() -> pd.DataFrame:
    # u1: A -> B -> B; u2: A -> A -> C; u3: B in every week.
    return panel_of([("u1", "A", 0, 4), ("u1", "B", 1, 4), ("u1", "B", 2, 4),
                     ("u2", "A", 0, 2), ("u2", "A", 1, 2), ("u2", "C", 2, 2),
                     ("u3", "B", 0, 1), ("u3", "B", 1, 1), ("u3", "B", 2, 1)])


def test_transitions_dispatch_on_the_mode(moves: pd.DataFrame) -> None:
    start, end = f"{week(0):%Y-%m-%d}", f"{week(2):%Y-%m-%d}"
    pd.testing.assert_frame_equal(mv.transitions(moves, "W", "periods", start, end),
                                  mig.share_transitions(moves, "W", start=start, end=end, entry_exit=True))
    pd.testing.assert_frame_equal(mv.transitions(moves, "W", "top", start, end),
                                  mig.top_category_transitions(moves, "W", start=start, end=end))
    split = f"{week(2):%Y-%m-%d}"  # before: weeks 0-1, after: week 2
    pd.testing.assert_frame_equal(mv.transitions(moves, "W", "windows", start, end, split),
                                  mig.window_transitions(moves, (start, week(1)), (split, end), entry_exit=True))


def test_migration_view_counts_by_hand(moves: pd.DataFrame) -> None:
    tr = mv.transitions(moves, "W", "top", f"{week(0):%Y-%m-%d}", f"{week(2):%Y-%m-%d}")
    view = mv.migration_view(tr, top_k=12, min_users=1)
    assert view.users == 3 and view.pairs == 2
    flows = {(r.from_category, r.to_category): r.users for r in view.matrix.itertuples()}
    # distinct users per cell: B -> B is u3 (both pairs) and u1 (week 1 -> 2)
    assert flows[("A", "B")] == 1 and flows[("A", "C")] == 1 and flows[("B", "B")] == 2
    only_u1 = mv.migration_view(mv.of_users(tr, ["u1"]), top_k=12, min_users=1)
    assert only_u1.users == 1
    assert mv.of_users(tr, None) is tr


def test_sankey_keeps_the_last_pairs_and_few_categories() -> None:
    rows = [(f"u{u}", f"c{(u + w) % 12}", w, 1) for u in range(60) for w in range(8)]  # 12 categories, 7 pairs
    panel = panel_of(rows)
    tr = mv.transitions(panel, "W", "top", f"{week(0):%Y-%m-%d}", f"{week(7):%Y-%m-%d}")
    view = mv.migration_view(tr, top_k=12, min_users=1)
    assert view.pairs == 7
    nodes = pd.concat([view.links["source"], view.links["target"]]).astype(str)
    periods = {n.rsplit("@", 1)[1] for n in nodes}
    categories = {n.rsplit("@", 1)[0] for n in nodes}
    assert len(periods) == mv.SANKEY_LAST_PAIRS + 1  # 4 pairs span 5 periods
    assert len(categories - {"other"}) <= mv.SANKEY_MAX_CATEGORIES


def test_migration_forecast_of_nobody_moving_scores_by_hand() -> None:
    # Everyone moves A -> B at week 3; a last-value forecast says they stay: disjoint matrices, l1 = 2.
    rows = [(f"u{u}", "A", w, 2) for u in range(3) for w in range(3)] + [(f"u{u}", "B", 3, 2) for u in range(3)]
    result = mv.migration_forecast(panel_of(rows), "W", f"{week(2):%Y-%m-%d}", model="last_value", min_users=1)
    assert result.l1 == pytest.approx(2.0)
    stays = {(r.from_category, r.to_category) for r in result.implied.itertuples() if r.mass > 0}
    assert stays == {("A", "A")}
