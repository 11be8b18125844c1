"""Polish of issue 14's pages: learned groups that keep their names whatever the date range, and page
defaults that fit a short range (Demand, Forecasts) or the Taobao sample's daily periods."""

from __future__ import annotations

from pathlib import Path

from pandas.testing import assert_frame_equal

from interest_core.config import GroupingSpec
from interest_core.periods import Window
from tests.apptest import store_fixture

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
    # Top-K ranks the categories inside the range: a range with other leaders has other top categories.
    topk = GroupingSpec(method="topk", k=3)
    in_range = grouping.category_totals(ranged)["category"].head(3).astype(str).tolist()
    mapped = grouping.base_map(ranged, topk)
    assert mapped is not None
    assert sorted(mapped[mapped["group"] != "other"]["group"].astype(str).unique()) == sorted(in_range)
