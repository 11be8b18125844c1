"""The synthetic generator: determinism, schema, and that every planted effect is measurable in the events."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from interest_core import synth, synth_files
from interest_core.ingest import pipeline
from interest_core.ingest.formats import BEHAVIORS, ColumnMapping
from interest_core.store import Store

SMALL = synth.SynthSpec(n_users=300, days=200, seed=11)
DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
WEIGHTS = {"view": 1.0, "fav": 2.0, "cart": 3.0, "buy": 5.0, "rate": 2.0}


@pytest.fixture(scope="module")
def small() -> synth.SynthResult:
    return synth.generate(SMALL)


@pytest.fixture(scope="module")
def full() -> synth.SynthResult:
    """The default spec (the demo dataset's); about a second to generate."""
    return synth.generate()


def _shares(events: pd.DataFrame) -> pd.DataFrame:
    """Per-user share of weighted interest by category (users x all categories)."""
    w = events.assign(w=events["behavior"].map(WEIGHTS))
    table = w.pivot_table(index="user_id", columns="category", values="w", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=list(synth.CATEGORIES), fill_value=0.0)
    return table.div(table.sum(axis=1), axis=0)


def _between(events: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    return events[(events["ts"] >= lo) & (events["ts"] < hi)]


def _flow_matrix(before: pd.DataFrame, after: pd.DataFrame) -> pd.Series:
    """Migration flows A->B: each user's share losses spread over their gains in proportion, summed over users."""
    idx = before.index.intersection(after.index)
    delta = after.loc[idx].to_numpy() - before.loc[idx].to_numpy()
    loss, gain = np.clip(-delta, 0, None), np.clip(delta, 0, None)
    total = gain.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    flows = pd.DataFrame(loss.T @ (gain / total), index=before.columns, columns=before.columns).stack()
    return flows[[a != b for a, b in flows.index]].sort_values(ascending=False)


# -- determinism and schema ---------------------------------------------------------------------------

def test_same_seed_gives_identical_events_and_another_seed_differs(small: synth.SynthResult) -> None:
    again = synth.generate(SMALL)
    pd.testing.assert_frame_equal(small.events, again.events)
    assert pd.util.hash_pandas_object(small.events).sum() == pd.util.hash_pandas_object(again.events).sum()
    pd.testing.assert_frame_equal(small.users, again.users)
    pd.testing.assert_frame_equal(small.migrating_users, again.migrating_users)
    other = synth.generate(synth.SynthSpec(n_users=300, days=200, seed=12))
    assert len(other.events) != len(small.events) or not other.events.equals(small.events)
    assert not other.users["segment"].equals(small.users["segment"])


def test_written_files_are_byte_identical_and_read_back(small: synth.SynthResult, tmp_path: Path) -> None:
    a = synth_files.write(small, tmp_path / "a")
    b = synth_files.write(synth.generate(SMALL), tmp_path / "b")
    assert set(a) == {"events", "users", "migrations", "migrating_users", "categories", "promotions", "readme"}
    for name in a:
        assert hashlib.sha256(a[name].read_bytes()).hexdigest() == hashlib.sha256(b[name].read_bytes()).hexdigest()
    back = synth_files.read_truth(tmp_path / "a")
    pd.testing.assert_frame_equal(back.events, small.events)
    for name in ("users", "migrations", "migrating_users", "categories", "promotions"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(small, name), check_dtype=False)


def test_events_schema(small: synth.SynthResult) -> None:
    e = small.events
    assert tuple(e.columns) == synth.EVENT_COLUMNS
    for col in ("user_id", "item_id", "category", "behavior"):
        assert pd.api.types.is_string_dtype(e[col]), col
        assert e[col].notna().all(), col
    assert e["ts"].dtype == "datetime64[us]"
    assert e["value"].dtype == "float64"
    assert set(e["behavior"]) <= set(BEHAVIORS)
    assert set(e["category"]) == set(synth.CATEGORIES)
    start = pd.Timestamp(SMALL.start)
    assert e["ts"].min() >= start and e["ts"].max() < start + pd.Timedelta(days=SMALL.days)
    assert e["ts"].is_monotonic_increasing
    assert not e.duplicated().any()  # the store's default policy would drop duplicates
    assert e["item_id"].str.fullmatch(r"i\d{7}").all() and e["user_id"].str.fullmatch(r"u\d{6}").all()
    assert (e.groupby("item_id")["category"].nunique() == 1).all()  # an item belongs to one category
    # value: the price of a buy, the 1-5 rating of a rate, empty otherwise
    has_value = e["behavior"].isin(["buy", "rate"])
    assert e.loc[has_value, "value"].notna().all() and e.loc[~has_value, "value"].isna().all()
    assert (e.loc[e["behavior"] == "buy", "value"] > 0).all()
    assert set(e.loc[e["behavior"] == "rate", "value"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    cats = small.categories
    assert len(cats) == len(synth.CATEGORIES) and cats["department"].nunique() == len(synth.DEPARTMENTS)


def test_ground_truth_tables(small: synth.SynthResult) -> None:
    users = small.users
    assert list(users.columns[:4]) == ["user_id", "segment", "churned", "churn_date"]
    assert users["user_id"].is_unique and len(users) == SMALL.n_users
    assert users["segment"].nunique() == len(SMALL.segments)
    assert users["churn_date"].notna().eq(users["churned"]).all()
    assert 0.08 <= users["churned"].mean() <= 0.25
    m = small.migrations
    assert list(m.columns[:6]) == ["segment", "from_category", "to_category", "start_date", "end_date", "users_moved"]
    assert len(m) == len(SMALL.migrations) and (m["users_moved"] > 0).all()
    movers = small.migrating_users
    assert movers.groupby(["from_category", "to_category"]).size().sort_index().tolist() == (
        m.set_index(["from_category", "to_category"])["users_moved"].sort_index().tolist())
    seg_of = users.set_index("user_id")["segment"]
    assert (seg_of.loc[movers["user_id"]].to_numpy() == movers["segment"].to_numpy()).all()


def test_bad_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        synth.SynthSpec(migrations=(synth.Migration("tech enthusiasts", "Cameras", "Tractors", at=0.3),))
    with pytest.raises(ValueError, match="n_users"):
        synth.SynthSpec(n_users=3)


def test_ingest_keeps_every_row(small: synth.SynthResult, tmp_path: Path) -> None:
    paths = synth_files.write(small, tmp_path / "demo")
    mapping = ColumnMapping(user_id="user_id", item_id="item_id", category="category", behavior="behavior",
                            ts="ts", value="value")
    with Store(tmp_path / "check.duckdb") as store:
        result = pipeline.ingest(store, paths["events"], name="synth", fmt="generic", mapping=mapping)
        assert result.report.rejected == {} and result.report.rows_kept == len(small.events)
        back = store.query(f"SELECT min(ts) AS lo, max(ts) AS hi, sum(value) AS v FROM {store.table('synth')}")
    assert back["lo"].iloc[0] == small.events["ts"].min() and back["hi"].iloc[0] == small.events["ts"].max()
    assert back["v"].iloc[0] == pytest.approx(small.events["value"].sum())


# -- planted behaviour -------------------------------------------------------------------------------

def test_funnel_order(small: synth.SynthResult) -> None:
    n = small.events["behavior"].value_counts()
    assert n["view"] > 5 * max(n["fav"], n["cart"])
    assert min(n["fav"], n["cart"]) > n["buy"] > n["rate"] > 0


def test_weekends_are_busier(small: synth.SynthResult) -> None:
    day = small.events["ts"].dt.normalize()
    per_day = day.value_counts()
    weekend = per_day.index.day_of_week >= 5
    assert per_day[weekend].mean() > 1.2 * per_day[~weekend].mean()


def test_churned_users_fade_then_stop(small: synth.SynthResult) -> None:
    e = small.events.merge(small.users[["user_id", "churn_date"]], on="user_id")
    churners = e[e["churn_date"].notna()]
    assert not (churners["ts"] >= churners["churn_date"]).any()
    # Activity per day in the 3 weeks before churn is well below that of weeks 7-12 before it.
    to_churn = (churners["churn_date"] - churners["ts"]).dt.days
    late = (to_churn < 21).sum() / 21
    earlier = ((to_churn >= 42) & (to_churn < 84)).sum() / 42
    assert late < 0.4 * earlier
    # ...while users who stay keep their pace over the same kind of gap (the last 3 weeks vs weeks 7-12).
    stay = e[e["churn_date"].isna()]
    end = pd.Timestamp(SMALL.start) + pd.Timedelta(days=SMALL.days)
    to_end = (end - stay["ts"]).dt.days
    assert (to_end < 21).sum() / 21 > 0.7 * (((to_end >= 42) & (to_end < 84)).sum() / 42)


def test_movers_shift_interest_to_the_target(small: synth.SynthResult) -> None:
    e, users, movers = small.events, small.users, small.migrating_users
    for m in small.migrations.itertuples():
        before = _shares(_between(e, m.start_date - pd.Timedelta(days=35), m.start_date))
        after = _shares(_between(e, m.end_date, m.end_date + pd.Timedelta(days=35)))
        moved = movers.loc[movers["from_category"] == m.from_category, "user_id"]
        stayed = users.loc[(users["segment"] == m.segment) & ~users["user_id"].isin(moved), "user_id"]

        def rise(ids: pd.Series, cat: str, before: pd.DataFrame = before, after: pd.DataFrame = after) -> float:
            both = before.index.intersection(after.index).intersection(pd.Index(ids))
            return float(after.loc[both, cat].mean() - before.loc[both, cat].mean())

        # Movers gain the target and lose the source; the rest of their segment does neither (season-proof).
        assert rise(moved, m.to_category) - rise(stayed, m.to_category) > 0.05, m
        assert rise(moved, m.from_category) - rise(stayed, m.from_category) < -0.05, m


def test_segments_are_recoverable_with_kmeans(small: synth.SynthResult) -> None:
    e = small.events
    shares = _shares(e)
    buy_share = e["behavior"].eq("buy").groupby(e["user_id"]).mean().rename("buy_share")
    activity = np.log(e.groupby("user_id").size()).rename("log_events")
    features = pd.concat([shares, buy_share, activity], axis=1)
    labels = KMeans(n_clusters=len(SMALL.segments), n_init=10, random_state=0).fit_predict(
        StandardScaler().fit_transform(features))
    truth = small.users.set_index("user_id")["segment"].reindex(features.index)
    assert adjusted_rand_score(truth, labels) > 0.6


def test_seasons_and_promotions(small: synth.SynthResult) -> None:
    e = small.events
    start = pd.Timestamp(SMALL.start)
    share = e.groupby([e["ts"].dt.month, "category"]).size().unstack(fill_value=0)
    share = share.div(share.sum(axis=1), axis=0)
    assert share.loc[[6, 7], "Swimwear"].mean() > 2 * share.loc[[1, 2], "Swimwear"].mean()
    assert share.loc[[1, 2], "Ski gear"].mean() > 2 * share.loc[[6, 7], "Ski gear"].mean()
    for p in small.promotions.itertuples():
        if p.end > start + pd.Timedelta(days=SMALL.days):
            continue
        during = _between(e, p.start, p.end)["category"].eq(p.category).mean()
        before = _between(e, p.start - pd.Timedelta(days=28), p.start)["category"].eq(p.category).mean()
        assert during > 1.4 * before, p


def test_planted_flows_lead_the_migration_matrix(full: synth.SynthResult) -> None:
    """Four weeks before vs four weeks after each migration: its flow is among the top 3 non-seasonal flows."""
    e = full.events
    seasonal = set(synth.SEASONS)
    for m in full.migrations.itertuples():
        flows = _flow_matrix(_shares(_between(e, m.start_date - pd.Timedelta(days=28), m.start_date)),
                             _shares(_between(e, m.end_date, m.end_date + pd.Timedelta(days=28))))
        flows = flows[[not ({a, b} & seasonal) for a, b in flows.index]]
        assert (m.from_category, m.to_category) in list(flows.index[:3]), (m, flows.head(5))


def test_churn_is_predictable_from_recency_and_frequency_trend(full: synth.SynthResult) -> None:
    """Users about to churn have fewer recent events relative to their own past (AUC well above chance)."""
    from sklearn.metrics import roc_auc_score

    e, users = full.events, full.users.set_index("user_id")
    start = pd.Timestamp(full.events["ts"].min().normalize())
    scores, labels = [], []
    for cut_day in range(180, 380, 28):
        cut = start + pd.Timedelta(days=cut_day)
        past = e[e["ts"] < cut]
        recent = past[past["ts"] >= cut - pd.Timedelta(days=14)].groupby("user_id").size()
        older = past[past["ts"] >= cut - pd.Timedelta(days=56)].groupby("user_id").size().sub(recent, fill_value=0)
        active = recent.index.union(older.index)
        trend = np.log((recent.reindex(active, fill_value=0) / 14 + 0.05) / (older.reindex(active) / 42 + 0.05))
        churn = users["churn_date"].reindex(active)
        scores.append(-trend)
        labels.append((churn >= cut) & (churn < cut + pd.Timedelta(days=28)))
    assert roc_auc_score(pd.concat(labels), pd.concat(scores)) > 0.72


# -- the committed demo ---------------------------------------------------------------------------------

def test_committed_demo_matches_the_generator(full: synth.SynthResult) -> None:
    demo = synth_files.read_truth(DEMO_DIR)
    pd.testing.assert_frame_equal(demo.events, full.events)
    pd.testing.assert_frame_equal(demo.migrations, full.migrations, check_dtype=False)
    pd.testing.assert_frame_equal(demo.users, full.users, check_dtype=False)
    assert (DEMO_DIR / "events.parquet").stat().st_size < 8 * 1024 * 1024
    assert 300_000 <= len(demo.events) <= 600_000
