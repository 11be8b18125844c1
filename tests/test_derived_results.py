"""Whole-dataset results ``prepare`` keeps for the pages (interest_core.derived_results, issue 10): each equals
what the page computed from the events before, pages read them instead of scanning the events, and a result of
older events is never read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from interest_core import derived_results, panel
from interest_core.analytics import retention as retention_module
from interest_core.analytics.retention import (
    DEFAULT_STEPS,
    DEFAULT_WINDOW,
    MAX_COHORTS,
    CohortRetention,
    cohort_retention,
    ordered_funnel,
)
from interest_core.config import GroupingSpec
from interest_core.forecasting.page_frames import MAX_ROWS_ENV
from interest_core.grouping import GroupQuality, group_quality, learn_groups, learned_map
from interest_core.ingest import pipeline
from interest_core.panel import user_sample_where
from interest_core.store import Store
from interest_core.views.users import user_tops, user_tops_in_db
from tests.conftest import IngestedStore
from tests.corpus import TB_HEADER, TB_ROWS
from ui.widgets import quality_words

SPEC = GroupingSpec(method="learned", n_groups=12)  # the grouping pages open with on Tmall (3,000+ brands)


def _noop(_fraction: float, _message: str) -> None:
    return None


@pytest.fixture(scope="module")
def prepared(tmall_store: IngestedStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmall_store.copy_to(tmp_path_factory.mktemp("results"))
    with Store(db) as store:
        derived_results.summarize(store, "tmall", ("W", "M"), _noop)
    return db


def test_each_result_equals_what_the_page_computed(prepared: Path) -> None:
    with Store(prepared, read_only=True) as store:
        source = panel.events_source(store, "tmall")

        def stored(key: str) -> derived_results.Result:
            found = derived_results.load(store, "tmall", key)
            assert found is not None, key
            return found

        assert derived_results.row_dict(stored("kpis")) == panel.kpis(source)
        assert derived_results.row_dict(stored("time_window")) == panel.time_window(source)
        assert_frame_equal(stored("category_totals").frame, panel.category_totals(source))
        assert_frame_equal(stored("funnel").frame, panel.funnel(source))
        for freq in ("W", "M"):
            assert_frame_equal(stored(f"activity/{freq}").frame, panel.activity_over_time(source, freq))
        user_category = panel.user_category_totals(source)
        mapping = learned_map(user_category, SPEC.n_groups, SPEC.seed, noun="brand")
        assert_frame_equal(stored("learned_map/12/0/brand").frame, mapping)
        assert_frame_equal(stored("user_tops/12/0/brand").frame, user_tops(user_category, mapping))
        assert stored("group_quality/12/0/brand").facts == group_quality(user_category, mapping).__dict__
        span = panel.time_window(source)
        flow = ordered_funnel(source, DEFAULT_STEPS, DEFAULT_WINDOW, start=span["start"], end=span["end"])
        found = stored("ordered_funnel/view,cart,buy/168")
        assert_frame_equal(found.frame, flow.table)
        assert found.facts == {"steps": list(flow.steps), "missing": list(flow.missing),
                               "day_granular": flow.day_granular}
        for freq in ("W", "M"):  # the cohort grid, and any fewer latest cohorts the page's slider asks for
            grid = stored(f"cohorts/{freq}/any")
            kept = CohortRetention.from_facts(grid.frame, grid.facts)
            for n in (MAX_COHORTS, 12, 4):
                direct = cohort_retention(source, freq, returning="any", max_cohorts=n, start=span["start"],
                                          end=span["end"])
                assert_frame_equal(kept.latest(n).grid, direct.grid)
                assert kept.latest(n).facts() == direct.facts()


def test_pages_read_the_results_instead_of_the_events(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interest_core.periods import Window
    from ui import grouping, queries, retention, users
    from ui.store import DatasetKey

    with Store(prepared, read_only=True) as store:
        source = panel.events_source(store, "tmall")
        expected = {"kpis": panel.kpis(source), "funnel": panel.funnel(source),
                    "totals": panel.category_totals(source)}
        ds = DatasetKey(str(prepared.resolve()), "tmall", store.fingerprint("tmall"))

    def scans(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a page scanned the events for a result prepare keeps")

    for name in ("kpis", "funnel", "category_totals", "user_category_totals", "activity_over_time", "time_window"):
        monkeypatch.setattr(panel, name, scans)
    assert queries.kpis(ds) == expected["kpis"]
    assert_frame_equal(queries.funnel(ds), expected["funnel"])
    assert_frame_equal(grouping.category_totals(ds), expected["totals"])
    assert grouping.quality(ds, SPEC) is not None and grouping.base_map(ds, SPEC) is not None
    assert not queries.activity(ds, "W").empty and queries.window(ds)["outside"] >= 0
    assert retention.funnel(ds, DEFAULT_STEPS, 168).steps == DEFAULT_STEPS
    monkeypatch.setattr(retention_module, "cohort_retention", scans)
    assert not retention.cohorts(ds, "W", "any", 12).grid.empty
    assert not users.user_tops(ds, SPEC).empty
    # a date range is not the whole dataset: computed from its events, as before
    with pytest.raises(AssertionError, match="scanned the events"):
        queries.kpis(ds.within(Window(pd.Timestamp(expected["kpis"]["start"]).normalize() + pd.Timedelta(days=7))))


def test_prepare_keeps_results_and_never_reads_those_of_older_events(prepared: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(prepared.read_bytes())
    messages: list[str] = []
    with Store(db) as store:
        derived_results.summarize(store, "tmall", ("W",), lambda _f, m: messages.append(m))
        assert messages == ["tmall: page summaries already built"]
        derived_results.forget(store, "tmall")  # what prepare --force does first: they are computed again
        assert derived_results.load(store, "tmall", "kpis") is None
        derived_results.summarize(store, "tmall", ("W",), _noop)
        assert derived_results.load(store, "tmall", "kpis") is not None
        small = tmp_path / "small.csv"
        small.write_text("\n".join([TB_HEADER, *TB_ROWS]) + "\n")
        store.delete("tmall")
        pipeline.ingest(store, small, name="tmall")  # the same name, other events
        assert derived_results.load(store, "tmall", "kpis") is None


def test_results_of_another_summaries_version_are_not_served(prepared: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A store prepared by another version of the code (which may have stored other facts under the same key)
    serves none of its results: the pages compute them, and the next prepare replaces them."""
    db = tmp_path / "copy.duckdb"
    db.write_bytes(prepared.read_bytes())
    with Store(db) as store:
        assert derived_results.load(store, "tmall", "group_quality/12/0/brand") is not None
        monkeypatch.setattr(derived_results, "SUMMARIES_VERSION", derived_results.SUMMARIES_VERSION + 1)
        assert derived_results.load(store, "tmall", "group_quality/12/0/brand") is None
        assert derived_results.load(store, "tmall", "kpis") is None
        derived_results.summarize(store, "tmall", ("W",), _noop)  # prepare computes them again, for this version
        assert derived_results.load(store, "tmall", "kpis") is not None


def test_queries_over_the_stored_panel_equal_those_over_the_panel_frame(tmall_store: IngestedStore,
                                                                       tmp_path: Path) -> None:
    """Promotions and Demand count in DuckDB over the stored panel what they counted over the whole panel frame."""
    from interest_core import derived, derived_panel
    from interest_core.analytics.promotions import recency_ranking
    from interest_core.config import PanelSpec
    from interest_core.periods import Window
    from interest_core.views.ops import promotion_horizons, recent_categories

    db = tmall_store.copy_to(tmp_path)
    with Store(db) as store:
        derived.prepare(store, "tmall", freqs=["W"], steps=())
        source = derived_panel.stored_source(store, "tmall", "W")
        full = derived_panel.stored_panel(store, "tmall", PanelSpec(freq="W"))
        assert source is not None and full is not None
        last = pd.Timestamp(full["period"].max()) - pd.Timedelta(weeks=1)
        complete = full[full["period"] <= last]
        assert promotion_horizons(complete, "W") == [
            h for h in (1, 2, 3, 4) if derived_panel.period_count(source, last) >= 2 * h + 4]
        assert derived_panel.period_count(source, last) == complete["period"].nunique()
        assert derived_panel.recent_categories(source, last, 50) == recent_categories(complete, 50)
        category = recent_categories(complete, 1)[0]
        assert_frame_equal(recency_ranking(derived_panel.category_rows(source, category), [category], last),
                           recency_ranking(complete, [category], last))
        totals = derived_panel.user_period_totals(source, last)
        expected = complete.groupby(["user_id", "period"], as_index=False)["interest"].sum()
        assert_frame_equal(totals, expected.sort_values(["user_id", "period"], ignore_index=True),
                           check_exact=False, rtol=1e-12)
        window = Window.of_periods(last - pd.Timedelta(weeks=3), last, "W")
        narrowed = derived_panel.stored_source(store, "tmall", "W", window)
        assert narrowed is not None and derived_panel.period_count(narrowed, last) == 4


def test_a_few_periods_of_the_panel_equal_those_periods_of_the_whole_panel(prepared: Path) -> None:
    """Migration and Demand trends read only the periods they look at (ui.queries.panel_periods)."""
    from interest_core import derived
    from interest_core.grouping import CategoryChoice
    from interest_core.periods import Window
    from ui import queries
    from ui.store import DatasetKey

    with Store(prepared) as store:
        derived.prepare(store, "tmall", freqs=["W"], steps=())
        ds = DatasetKey(str(prepared.resolve()), "tmall", store.fingerprint("tmall"))
    for grouping in (CategoryChoice(SPEC, drop_other=True), 5, None):
        whole = queries.analytics_panel(ds, "W", grouping)
        last = pd.Timestamp(whole["period"].max())
        first = last - pd.Timedelta(weeks=5)
        expected = Window.of_periods(first, last, "W").clip(whole).reset_index(drop=True)
        got = queries.panel_periods(ds, "W", grouping, first, last)
        key = ["user_id", "category", "period"]
        assert len(got) == len(expected) > 0
        assert_frame_equal(got.sort_values(key, ignore_index=True), expected.sort_values(key, ignore_index=True),
                           check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("freq", ["W", "M"])
def test_share_transitions_in_duckdb_equal_those_in_pandas(tmall_store: IngestedStore, tmp_path: Path,
                                                            freq: str) -> None:
    """Migration couples shares in DuckDB over the stored panel (analytics.migration_sql): the same flows."""
    from interest_core import derived, derived_panel
    from interest_core.analytics import migration, migration_sql
    from interest_core.config import PanelSpec
    from interest_core.grouping import OTHER, topk_map
    from interest_core.periods import check_freq

    db = tmall_store.copy_to(tmp_path)
    with Store(db) as store:
        derived.prepare(store, "tmall", freqs=[freq], steps=())
        groups = topk_map(panel.category_totals(panel.events_source(store, "tmall")), 6)
        whole = derived_panel.stored_panel(store, "tmall", PanelSpec(freq=check_freq(freq)), groups)
        assert whole is not None
        periods = sorted(whole["period"].unique())
        start, end = periods[1], periods[-2]
        for drop in (None, OTHER):
            frame = whole if drop is None else whole[whole["category"] != OTHER]
            expected = migration.share_transitions(frame, freq, start=start, end=end, entry_exit=True)
            source = derived_panel.grouped_source(store, "tmall", freq, groups, drop=drop)
            assert source is not None
            got = migration_sql.share_transitions(source, freq, start=start, end=end)
            assert len(got) == len(expected) > 0 and got["to_category"].eq(migration.GONE).any()
            assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_migration_aggregates_in_duckdb_equal_those_in_pandas(tmall_store: IngestedStore, tmp_path: Path) -> None:
    """The Migration page sums its matrix, Sankey links and a flow's users in DuckDB over the Arrow transitions
    (migration_sql.view_tables / flow_users): the same cells, links, users and counts as the pandas functions."""
    from interest_core import derived, derived_panel
    from interest_core.analytics import migration, migration_sql
    from interest_core.grouping import topk_map
    from interest_core.views.migration import SANKEY_LAST_PAIRS, SANKEY_MAX_CATEGORIES, migration_view, of_users

    db = tmall_store.copy_to(tmp_path)
    with Store(db) as store:
        derived.prepare(store, "tmall", freqs=["W"], steps=())
        groups = topk_map(panel.category_totals(panel.events_source(store, "tmall")), 12)
        source = derived_panel.grouped_source(store, "tmall", "W", groups)
        assert source is not None
        table = migration_sql.transitions_table(source, "W")
        frame = migration_sql.share_transitions(source, "W")
    assert table.num_rows == len(frame) > 0
    members = sorted(set(frame["user_id"]))[::3]
    for who, min_users in ((None, 5), (members, 1), (members, 3)):
        expected = migration_view(of_users(frame, who), min_users=min_users)
        got = migration_sql.view_tables(table, who, min_users=min_users, top_k=SANKEY_MAX_CATEGORIES,
                                        last_pairs=SANKEY_LAST_PAIRS)
        assert (got.users, got.pairs, got.hidden, got.links_hidden) == (
            expected.users, expected.pairs, expected.hidden, expected.links_hidden)
        for mine, theirs, keys in ((got.matrix, expected.matrix, ["from_category", "to_category"]),
                                   (got.links, expected.links, ["period", "to_period", "from_category",
                                                                "to_category"])):
            assert len(mine) == len(theirs) > 0
            assert_frame_equal(mine.sort_values(keys, ignore_index=True), theirs.sort_values(keys, ignore_index=True),
                               check_exact=False, rtol=1e-12, check_dtype=False)
        flows = migration.top_flows(expected.matrix, 3)
        for a, b in zip(flows["from_category"], flows["to_category"], strict=True):
            theirs = migration.flow_users(of_users(frame, who), a, b)
            mine = migration_sql.flow_users(table, who, a, b)
            assert len(mine) == len(theirs) > 0
            assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12, check_dtype=False)


@pytest.mark.parametrize("windows", [(4, 4), (2, 3)])
def test_rising_falling_in_duckdb_equals_that_in_pandas(tmall_store: IngestedStore, tmp_path: Path,
                                                        windows: tuple[int, int]) -> None:
    """Demand's trends sum each user's windows in DuckDB over the stored panel (demand.rising_falling_sql): the
    same table as demand.rising_falling over the panel's rows, hidden counts included."""
    from interest_core import derived, derived_panel
    from interest_core.analytics.demand import rising_falling, rising_falling_sql
    from interest_core.config import PanelSpec
    from interest_core.grouping import OTHER, topk_map

    recent, previous = windows
    db = tmall_store.copy_to(tmp_path)
    with Store(db) as store:
        derived.prepare(store, "tmall", freqs=["W"], steps=())
        groups = topk_map(panel.category_totals(panel.events_source(store, "tmall")), 8)
        whole = derived_panel.stored_panel(store, "tmall", PanelSpec(freq="W"), groups)
        assert whole is not None
        last = pd.Timestamp(sorted(whole["period"].unique())[-2])
        for drop, min_users in ((None, 5), (OTHER, 1), (None, 50)):
            frame = whole if drop is None else whole[whole["category"] != OTHER]
            expected = rising_falling(frame, "W", recent=recent, previous=previous, last_period=last,
                                      min_users=min_users)
            source = derived_panel.grouped_source(store, "tmall", "W", groups, drop=drop)
            assert source is not None
            got = rising_falling_sql(source, "W", last_period=last, recent=recent, previous=previous,
                                     min_users=min_users)
            assert got[1] == expected[1] and len(got[0]) == len(expected[0]) > 0
            assert_frame_equal(got[0], expected[0], check_exact=False, rtol=1e-12, check_dtype=False)


def test_user_category_totals_of_the_stored_panel_equal_those_of_the_events(tmall_store: IngestedStore,
                                                                            tmp_path: Path) -> None:
    """The recommender and groupings read each user's category totals summed from the stored panel
    (derived_panel.user_category_totals): the same rows and interest as panel.user_category_totals."""
    from interest_core import derived, derived_panel

    db = tmall_store.copy_to(tmp_path)
    with Store(db) as store:
        derived.prepare(store, "tmall", freqs=["W", "M"], steps=())
        expected = panel.user_category_totals(panel.events_source(store, "tmall"))
        for freq in ("W", "M"):
            source = derived_panel.stored_source(store, "tmall", freq)
            assert source is not None
            got = derived_panel.user_category_totals(source)
            assert len(got) == len(expected) > 0
            assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
        # the User page's search lists the same users with the same event counts from the stored users table
        for text in ("", "1", "99"):
            events = panel.search_users(panel.events_source(store, "tmall"), text)
            found = derived_panel.search_stored_users(store, "tmall", text)
            assert found is not None and len(found) == len(events) > 0
            assert_frame_equal(found[["user_id", "events"]], events[["user_id", "events"]], check_dtype=False)


def test_a_large_log_learns_its_groups_from_a_sample_of_users(tmall_store: IngestedStore, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap of (user, category) pairs, prepare learns the groups from the page models' seeded sample
    of users (bounded memory on the 100 M-event log), still maps every category, and still gives every user
    their top group (summed in DuckDB, equal to the whole-log pandas sum)."""
    db = tmall_store.copy_to(tmp_path)
    with Store(db) as store:
        source = panel.events_source(store, "tmall")
        every = panel.user_category_totals(source)
        pairs = panel.user_category_pairs(source)
        assert pairs == len(every)
        cap = pairs // 4
        monkeypatch.setenv(MAX_ROWS_ENV, str(cap))
        derived_results.summarize(store, "tmall", ("M",), _noop)
        learned = learn_groups(source, SPEC.n_groups, SPEC.seed, noun="brand", max_pairs=cap)
        assert learned.users_where == user_sample_where(int(1_000_000 * cap / pairs))  # the page models' users
        assert learned.pairs == pairs and 0 < learned.sampled_users < every["user_id"].nunique()
        assert 0.1 * pairs < len(learned.user_category) < 0.45 * pairs, len(learned.user_category)

        def stored(key: str) -> derived_results.Result:
            found = derived_results.load(store, "tmall", key)
            assert found is not None, key
            return found

        mapping = stored("learned_map/12/0/brand").frame
        assert_frame_equal(mapping, learned.category_map)
        assert set(mapping["category"]) == set(panel.category_totals(source)["category"].astype(str))
        assert mapping["group"].nunique() == SPEC.n_groups + 1  # twelve groups and 'other'
        assert_frame_equal(stored("user_tops/12/0/brand").frame, user_tops(every, mapping), check_exact=False,
                           rtol=1e-12)
        quality = stored("group_quality/12/0/brand").facts
        assert quality["sampled_users"] == learned.sampled_users
        assert quality["lift"] > 2.0, quality  # the sample's groups hold together
        assert "sample of" in quality_words(GroupQuality(**quality), "brand")


def test_user_tops_in_the_database_equal_those_in_pandas(tmall_store: IngestedStore) -> None:
    with tmall_store.open() as store:
        source = panel.events_source(store, "tmall")
        every = panel.user_category_totals(source)
        mapping = learned_map(every, SPEC.n_groups, SPEC.seed)
        for category_map in (None, mapping):
            assert_frame_equal(user_tops_in_db(source, category_map), user_tops(every, category_map),
                               check_exact=False, rtol=1e-12)


def test_the_app_learns_groups_of_an_unprepared_large_log_from_the_sample(
        tmall_store: IngestedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without prepare's results (a large upload still being prepared, another grouping picked), the pages learn
    the groups from the same seeded sample prepare uses past the cap, measure their quality on it and say so,
    and sum every user's top group in DuckDB: never a frame of every user's categories."""
    from ui import grouping, users
    from ui.store import DatasetKey

    db = tmall_store.copy_to(tmp_path)
    with Store(db, read_only=True) as store:
        source = panel.events_source(store, "tmall")
        every = panel.user_category_totals(source)
        cap = len(every) // 4
        learned = learn_groups(source, SPEC.n_groups, SPEC.seed, noun="brand", max_pairs=cap)
        ds = DatasetKey(str(db.resolve()), "tmall", store.fingerprint("tmall"))
    monkeypatch.setenv(MAX_ROWS_ENV, str(cap))

    def whole(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the app read every user's categories of a large log")

    monkeypatch.setattr(grouping, "user_category", whole)
    assert_frame_equal(grouping.base_map(ds, SPEC), learned.category_map)
    quality = grouping.quality(ds, SPEC)
    assert quality is not None and quality.sampled_users == learned.sampled_users > 0
    assert "sample of" in quality_words(quality, "brand")
    assert_frame_equal(users.user_tops(ds, SPEC), user_tops(every, learned.category_map), check_exact=False,
                       rtol=1e-12)


def test_pages_start_prepare_again_when_the_summaries_are_of_another_version(
        prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade that changed what prepare summarises, opening the dataset starts prepare again in the
    background (the pages compute the summaries meanwhile); current summaries start nothing."""
    from ui import fits
    from ui.store import DatasetKey

    db = tmp_path / "copy.duckdb"
    db.write_bytes(prepared.read_bytes())
    with Store(db, read_only=True) as store:
        ds = DatasetKey(str(db.resolve()), "tmall", store.fingerprint("tmall"))
        assert not derived_results.stale(store, "tmall")
    started: list[str] = []

    def start(name: str) -> bool:
        started.append(name)
        return True

    monkeypatch.setattr(fits, "prepare_after_upload", start)
    assert not fits.refresh_stale(ds) and started == []
    monkeypatch.setattr(derived_results, "SUMMARIES_VERSION", derived_results.SUMMARIES_VERSION + 1)
    fits._stale.clear()
    with Store(db, read_only=True) as store:
        assert derived_results.stale(store, "tmall")
    assert fits.refresh_stale(ds) and started == ["tmall"]
    with Store(db) as store:  # what the prepare job does: the summaries of this version, nothing stale
        derived_results.summarize(store, "tmall", ("W",), _noop)
        assert not derived_results.stale(store, "tmall")
