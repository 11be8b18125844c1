"""Derived data built once per dataset and frequency inside the store (issue 10, items 1, 2 and 6).

The stored panel must be the panel ``build_panel`` computes (on the real Tmall log and on a
generated Taobao-format log), tables go with their dataset, ``prepare`` is idempotent, and every
connection the store opens carries a memory limit and a spill folder beside the file.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from interest_core import derived, store_sharing
from interest_core.cli.main import main as cli_main
from interest_core.config import BehaviorWeights, PanelSpec
from interest_core.derived_panel import stored_panel
from interest_core.errors import StoreError
from interest_core.ingest import pipeline
from interest_core.panel import PANEL_COLUMNS, EventsSource, build_panel, events_source
from interest_core.periods import Window, check_freq, period_start
from interest_core.store import Progress, Store
from interest_core.synth_scale import ScaleSpec, write_taobao_csv
from tests.conftest import IngestedStore
from tests.corpus import TB_HEADER, TB_ROWS

KEY = ["user_id", "category", "period"]
# Every direct ``prepare`` here passes ``steps=()``: the tables are this module's subject. Without it, a
# page-model step registered by an earlier module's import (forecasting/page_defaults) fits every page
# model of each dataset here too: the module took 4x as long in the suite as alone (tests/test_page_models.py
# covers the steps; the CLI test below runs them as the CLI does).


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[list(PANEL_COLUMNS)].sort_values(KEY).reset_index(drop=True)
    return out.astype({"user_id": "string", "category": "string", "period": "datetime64[us]"})


def _stored_panel(store: Store, name: str, freq: str) -> pd.DataFrame:
    relation = derived.panel_relation(store, name, freq)
    assert relation is not None, f"no stored {freq} panel"
    return store.query(f"SELECT * FROM {relation}")


def _assert_same_panel(store: Store, name: str, freq: str) -> pd.DataFrame:
    expected = _sorted(build_panel(events_source(store, name), PanelSpec(freq=check_freq(freq))))
    stored = _sorted(_stored_panel(store, name, freq))
    assert len(stored) == len(expected) > 0
    pd.testing.assert_frame_equal(stored, expected, check_exact=False, rtol=1e-9)
    return expected


@pytest.fixture
def tmall_copy(tmall_store: IngestedStore, tmp_path: Path) -> Store:
    return Store(tmall_store.copy_to(tmp_path))


@pytest.fixture(scope="module")
def generated_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    return write_taobao_csv(folder / "gen.csv", ScaleSpec(events=30_000, days=60, users=800, categories=300))


def test_stored_panels_equal_build_panel_on_tmall(tmall_copy: Store) -> None:
    messages: list[tuple[float, str]] = []
    derived.prepare(tmall_copy, "tmall", freqs=["W", "D"], progress=lambda f, m: messages.append((f, m)), steps=())
    weekly = _assert_same_panel(tmall_copy, "tmall", "W")
    _assert_same_panel(tmall_copy, "tmall", "D")
    assert derived.panel_relation(tmall_copy, "tmall", "M") is None  # not asked for
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(0 <= f <= 1 for f in fractions)
    assert any("W panel" in m for _, m in messages)

    # Per-user features agree with the panel they summarise.
    users_rel = derived.users_relation(tmall_copy, "tmall", "W")
    assert users_rel is not None
    users = tmall_copy.query(f"SELECT * FROM {users_rel}").set_index("user_id").sort_index()
    counts = [c for c in weekly.columns if c.startswith("n_")]
    by_user = weekly.groupby("user_id")
    assert len(users) == weekly["user_id"].nunique() == 884
    pd.testing.assert_series_equal(users["interest"], by_user["interest"].sum().rename("interest"),
                                   check_names=False, check_index_type=False)
    assert (users["events"].to_numpy() == by_user[counts].sum().sum(axis=1).to_numpy()).all()
    assert (users["last_period"].to_numpy() == by_user["period"].max().to_numpy()).all()
    assert (users["periods"].to_numpy() == by_user["period"].nunique().to_numpy()).all()
    per_cat = weekly.groupby(["user_id", "category"])["interest"].sum().reset_index()
    top = per_cat.sort_values(["user_id", "interest", "category"]).groupby("user_id").tail(1).set_index("user_id")
    assert (users["top_category"].astype(str) == top["category"].astype(str)).all()
    # Per-(category, period) totals sum to the whole.
    cats_rel = derived.categories_relation(tmall_copy, "tmall", "W")
    assert cats_rel is not None
    cats = tmall_copy.query(f"SELECT sum(interest) AS i, sum(users) AS n FROM {cats_rel}")
    assert cats["i"].iloc[0] == pytest.approx(weekly["interest"].sum())
    assert int(cats["n"].iloc[0]) == len(weekly)


def test_stored_panels_equal_build_panel_on_a_generated_log(generated_log: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.duckdb")
    result = pipeline.ingest(store, generated_log, name="gen")
    assert result.report.format == "taobao" and result.report.rows_kept == 30_000
    derived.prepare(store, "gen", freqs=["D", "W", "M"], steps=())
    for freq in ("D", "W", "M"):
        _assert_same_panel(store, "gen", freq)
    assert {t.kind for t in derived.tables(store, "gen")} == set(derived.KINDS)


def test_a_windowed_stored_panel_equals_the_panel_of_the_windowed_events(generated_log: Path,
                                                                         tmp_path: Path) -> None:
    """A date window reads the stored panel filtered by period: the rows build_panel makes of the events inside
    the window (raw and with categories folded); a window that cuts a period in two is not served from it."""
    store = Store(tmp_path / "gen.duckdb")
    pipeline.ingest(store, generated_log, name="gen")
    derived.prepare(store, "gen", freqs=["D", "W"], steps=())
    whole = events_source(store, "gen")
    first, last = (pd.Timestamp(t) for t in store.query(f"SELECT min(ts), max(ts) FROM {whole.relation}").iloc[0])
    top = store.query(f"SELECT category FROM {whole.relation} GROUP BY 1 ORDER BY count(*) DESC LIMIT 5")
    folds = top.assign(group="top five").astype("string")
    cases = {"D": Window.of_periods(first + pd.Timedelta(days=10), first + pd.Timedelta(days=30), "D"),
             "W": Window.of_periods(first + pd.Timedelta(days=14), last - pd.Timedelta(days=14), "W"),
             "open start": Window.of_periods(None, first + pd.Timedelta(days=20), "W")}
    for case, window in cases.items():
        freq = "D" if case == "D" else "W"
        spec = PanelSpec(freq=check_freq(freq))
        inside = EventsSource(store, f"(SELECT * FROM {whole.relation} WHERE {window.where('ts')})")
        for category_map in (None, folds):
            expected = _sorted(build_panel(inside, spec, category_map=category_map))
            stored = stored_panel(store, "gen", spec, category_map, window=window)
            assert stored is not None, case
            stored = _sorted(stored)
            assert 0 < len(stored) < len(_stored_panel(store, "gen", freq)), case
            assert stored["period"].min() >= (window.start or period_start(first, freq)), case
            assert stored["period"].max() < window.end, case
            pd.testing.assert_frame_equal(stored, expected, check_exact=False, rtol=1e-9)
    daily_window = Window.of_periods(first + pd.Timedelta(days=10), first + pd.Timedelta(days=30), "D")
    assert daily_window.start != period_start(daily_window.start, "W")  # a day inside a week: weeks cut in two
    assert stored_panel(store, "gen", PanelSpec(freq=check_freq("W")), window=daily_window) is None


def test_prepare_is_idempotent_and_force_rebuilds(tmall_copy: Store) -> None:
    derived.prepare(tmall_copy, "tmall", freqs=["W"], steps=())
    first = derived.tables(tmall_copy, "tmall")
    assert len(first) == len(derived.KINDS)
    derived.prepare(tmall_copy, "tmall", freqs=["W"], steps=())
    assert derived.tables(tmall_copy, "tmall") == first  # same build time: nothing rebuilt
    derived.prepare(tmall_copy, "tmall", freqs=["W"], force=True, steps=())
    again = derived.tables(tmall_copy, "tmall")
    assert [t.table for t in again] == [t.table for t in first]
    assert all(a.built_at > b.built_at for a, b in zip(again, first, strict=True))
    assert [t.rows for t in again] == [t.rows for t in first]


def test_other_weights_are_not_served_from_the_stored_panel(tmall_copy: Store) -> None:
    derived.prepare(tmall_copy, "tmall", freqs=["W"], steps=())
    assert derived.panel_relation(tmall_copy, "tmall", "W") is not None
    other = BehaviorWeights(view=1.0, fav=1.0, cart=1.0, buy=1.0)
    assert derived.panel_relation(tmall_copy, "tmall", "W", weights=other) is None


def _dv_tables(store: Store) -> list[str]:
    frame = store.query("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, 'dv_')")
    return sorted(frame["table_name"])


def test_delete_and_reingest_drop_the_stale_tables(tmp_path: Path, generated_log: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("\n".join([TB_HEADER, *TB_ROWS]) + "\n")
    store = Store(tmp_path / "s.duckdb")
    pipeline.ingest(store, small, name="log")
    derived.prepare(store, "log", freqs=["D"], steps=())
    old = derived.panel_relation(store, "log", "D")
    assert old is not None and len(_dv_tables(store)) == len(derived.KINDS)
    store.delete("log")
    assert _dv_tables(store) == []
    assert store.query("SELECT count(*) AS n FROM derived_tables")["n"].iloc[0] == 0
    pipeline.ingest(store, generated_log, name="log")  # the same name, other content
    assert derived.panel_relation(store, "log", "D") is None
    derived.prepare(store, "log", freqs=["D"], steps=())
    new = derived.panel_relation(store, "log", "D")
    assert new is not None and new != old
    _assert_same_panel(store, "log", "D")


def test_ingest_drops_tables_recorded_under_its_name(tmp_path: Path) -> None:
    """A catalog row left under a name (an older dataset of that name) never outlives a new ingest."""
    small = tmp_path / "small.csv"
    small.write_text("\n".join([TB_HEADER, *TB_ROWS]) + "\n")
    store = Store(tmp_path / "s.duckdb")
    with store.writing() as cur:
        cur.execute(derived.DERIVED_DDL)
        cur.execute("CREATE TABLE dv_stale_panel_day AS SELECT 1 AS x")
        cur.execute("INSERT INTO derived_tables VALUES ('log', 'D', 'panel', 'dv_stale_panel_day', '{}', 1, "
                    "now()::TIMESTAMP, 0.1)")
    pipeline.ingest(store, small, name="log")
    assert _dv_tables(store) == []
    assert derived.panel_relation(store, "log", "D") is None


def test_registered_steps_run_after_the_tables(tmall_copy: Store) -> None:
    seen: list[tuple[str, tuple[str, ...], bool]] = []

    def fit_pages(store: Store, dataset: str, freqs: tuple[str, ...], progress: Progress) -> None:
        seen.append((dataset, freqs, derived.panel_relation(store, dataset, "W") is not None))
        progress(0.5, "fitting")
        progress(1.0, "fitted")

    messages: list[tuple[float, str]] = []
    derived.prepare(tmall_copy, "tmall", freqs=["W"], progress=lambda f, m: messages.append((f, m)),
                    steps=[derived.PrepareStep("fit pages", fit_pages, weight=1.0)])
    assert seen == [("tmall", ("W",), True)]
    assert (0.75, "fitting") in messages and messages[-1][0] == 1.0



def test_prepare_refuses_a_read_only_store(tmall_store: IngestedStore) -> None:
    with pytest.raises(StoreError, match="read-only"):
        derived.prepare(tmall_store.open(), "tmall", freqs=["W"], steps=())


def test_cli_prepare_waits_and_lists_the_tables(tmall_store: IngestedStore, tmp_path: Path) -> None:
    db = tmall_store.copy_to(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(["prepare", "tmall", "--db", str(db), "--freq", "W", "--json"])
    assert code == 0, err.getvalue()
    result = json.loads(out.getvalue())
    assert {t["kind"] for t in result["tables"]} == set(derived.KINDS)
    assert "100% tmall: derived data ready" in err.getvalue()  # progress on stderr
    with redirect_stdout(io.StringIO()) as described:
        assert cli_main(["describe", "tmall", "--db", str(db), "--json"]) == 0
    assert sorted(json.loads(described.getvalue())["derived"]) == [
        "categories W: 33,461 rows", "panel W: 71,513 rows", "users W: 884 rows"]
    # The panel command then copies the stored panel (COPY, no frame) with the same rows.
    target = tmp_path / "w.parquet"
    with redirect_stdout(io.StringIO()):
        assert cli_main(["panel", "tmall", "--db", str(db), "--freq", "W", "--out", str(target), "--json"]) == 0
    with Store(db, read_only=True) as store:
        expected = _sorted(build_panel(events_source(store, "tmall"), PanelSpec(freq="W")))
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(target)), expected, check_exact=False, rtol=1e-9)
    with redirect_stderr(io.StringIO()) as bad:
        assert cli_main(["prepare", "nope", "--db", str(db)]) == 2
    assert "no dataset named 'nope'" in bad.getvalue()


def test_cli_panel_writes_with_copy_without_a_stored_panel(tmall_store: IngestedStore, tmp_path: Path) -> None:
    db = tmall_store.copy_to(tmp_path)
    target = tmp_path / "top.csv"
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["panel", "tmall", "--db", str(db), "--freq", "M", "--top-k", "5", "--out", str(target),
                         "--json"]) == 0
    result = json.loads(out.getvalue())
    frame = pd.read_csv(target, dtype={"user_id": str, "category": str})
    assert result["rows"] == len(frame) and result["categories"] == frame["category"].nunique() == 6  # 5 + other
    assert result["users"] == frame["user_id"].nunique() == 884


def test_every_store_connection_has_a_memory_limit_and_a_spill_folder(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store_sharing.MEMORY_ENV, "700MB")
    db = tmp_path / "m.duckdb"
    store = Store(db)
    expected_dir = store_sharing.temp_dir(db)
    assert expected_dir.parent.parent == db.parent and str(os.getpid()) in expected_dir.name
    for lease in (store.reading, store.writing):
        with lease() as cur:
            limit, folder = cur.execute("SELECT current_setting('memory_limit'), "
                                        "current_setting('temp_directory')").fetchone()  # type: ignore[misc]
            assert limit in ("667.5 MiB", "700.0 MB"), limit
            assert Path(folder) == expected_dir
    with Store(":memory:").reading() as cur:
        row = cur.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None and row[0] in ("667.5 MiB", "700.0 MB")
    monkeypatch.setenv(store_sharing.MEMORY_ENV, "lots")
    with pytest.raises(StoreError, match="INTEREST_DUCKDB_MEMORY"):
        Store(":memory:")
    monkeypatch.delenv(store_sharing.MEMORY_ENV)
    low, high = store_sharing.MEMORY_BOUNDS_GB
    assert low <= float(store_sharing.default_memory_limit().removesuffix("GB")) <= high


def test_spill_folders_of_dead_processes_are_pruned(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    parent = store_sharing.temp_dir(db).parent
    dead = parent / "pid-999999999"
    dead.mkdir(parents=True)
    (dead / "duckdb_temp_storage.tmp").write_bytes(b"x")
    Store(db).names()
    assert not dead.exists()


def test_a_sort_larger_than_the_memory_limit_spills_beside_the_store(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill folder's parents do not exist yet: the store creates them (DuckDB creates only the last)."""
    monkeypatch.setenv(store_sharing.MEMORY_ENV, "48MB")
    db = tmp_path / "big.duckdb"
    store = Store(db)
    assert not store_sharing.temp_dir(db).parent.exists() or not any(store_sharing.temp_dir(db).parent.iterdir())
    with store.writing() as cur:
        cur.execute("SET threads = 1")
        cur.execute("CREATE TABLE t AS SELECT md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS k, i "
                    "FROM range(1500000) r(i)")
        cur.execute("CREATE TABLE s AS SELECT * FROM t ORDER BY k")
        first = cur.execute("SELECT k FROM s LIMIT 1").fetchone()
        assert first is not None
        assert first[0] == cur.execute("SELECT min(k) FROM t").fetchone()[0]  # type: ignore[index]
    assert store_sharing.temp_dir(db).parent.is_dir()
