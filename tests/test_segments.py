"""analytics.segments: features by hand, the estimator contract, words, sizes, projection, suppression."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import silhouette_score

from interest_core.analytics import segments as seg
from tests import builders
from tests.builders import week

if TYPE_CHECKING:
    from tests.conftest import AccuracyRecorder


def panel_of(rows: list[tuple[str, str, int, float, int]]) -> pd.DataFrame:
    """(user, category, week, interest, buys): views = interest - buys."""
    return builders.panel_of([r[:4] for r in rows], n_buy=[r[4] for r in rows],
                             n_view=lambda f: f["interest"].astype(int) - f["n_buy"], n_fav=0, n_cart=0)


def test_user_features_by_hand() -> None:
    p = panel_of([
        ("a", "X", 0, 4, 1), ("a", "Y", 0, 4, 0), ("a", "X", 3, 2, 1),   # weeks 0 and 3 of 0..4
        ("b", "Y", 2, 5, 0),                                             # week 2 only
        ("c", "Z", 4, 1, 0),
    ])
    f = seg.user_features(p, "W", top_k=2)
    a, b = f.loc["a"], f.loc["b"]
    assert a["recency"] == 1 and b["recency"] == 2 and f.loc["c", "recency"] == 0
    assert a["frequency"] == pytest.approx(2 / 5)   # active 2 of the 5 weeks since its first
    assert b["frequency"] == pytest.approx(1 / 3)   # weeks 2..4
    assert a["intensity"] == pytest.approx(math.log1p(10 / 2))
    assert a["buy_share"] == pytest.approx(2 / 10) and a["action_share"] == pytest.approx(2 / 10)
    # a: X 6, Y 4 -> shares .6/.4 -> diversity exp(H)
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    assert a["diversity"] == pytest.approx(math.exp(h)) and b["diversity"] == pytest.approx(1.0)
    # top_k=2: X (6) and Y (9) kept, Z folded into other.
    assert a["share:X"] == pytest.approx(0.6) and f.loc["c", "share:other"] == 1.0
    assert list(f.index) == ["a", "b", "c"]
    window = seg.user_features(p, "W", start=week(2), end=week(3) + pd.Timedelta(days=3), top_k=2)
    assert list(window.index) == ["a", "b"] and window.loc["a", "recency"] == 0


def clustered(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Three obvious groups of users: X lovers who buy, Y lovers who browse, Z lovers."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, (cat, buy) in enumerate((("X", 0.3), ("Y", 0.0), ("Z", 0.1))):
        for i in range(n):
            share = 0.85 + 0.1 * rng.random()
            rows.append({"user_id": f"g{g}u{i:03d}", "recency": rng.integers(0, 3),
                         "frequency": 0.7 + 0.2 * rng.random(), "intensity": 2.0 + rng.random() * 0.3,
                         "buy_share": buy + 0.02 * rng.random(),
                         "action_share": buy + 0.05, "diversity": 1.3 + 0.2 * rng.random(),
                         **{f"share:{c}": (share if c == cat else (1 - share) / 2) for c in "XYZ"},
                         "share:other": 0.0})
    return pd.DataFrame(rows).set_index("user_id")


def test_estimator_contract_and_recovery(accuracy: AccuracyRecorder) -> None:
    feats = clustered()
    model = seg.UserSegmenter(seed=1)
    assert model.get_params()["k_range"] == (2, 8)
    assert not hasattr(model, "labels_")
    with pytest.raises(NotFittedError):
        model.predict(feats)
    assert model.fit(feats) is model
    truth = [int(u[1]) for u in feats.index]
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(truth, model.labels_)
    accuracy.record("segments.synthetic.kmeans_three_groups", adjusted_rand=ari, n_clusters=model.n_clusters_)
    assert model.n_clusters_ == 3 and set(model.silhouette_) == set(range(2, 9))
    assert ari == pytest.approx(1.0)
    np.testing.assert_array_equal(model.predict(feats), model.labels_)
    again = clone(model).fit(feats)
    np.testing.assert_array_equal(again.labels_, model.labels_)  # deterministic given the seed
    forced = seg.UserSegmenter(n_clusters=2).fit(feats)
    assert forced.n_clusters_ == 2 and forced.silhouette_.keys() == {2}
    assert list(model.centers_.index) == [0, 1, 2]


def test_kmeans_learns_from_a_seeded_sample_and_assigns_every_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bigger logs: K-means learns its centres from FIT_SAMPLE users; every user is assigned, the same way
    predict assigns them, and the same sample is drawn on every fit."""
    feats = clustered(200)
    monkeypatch.setattr(seg, "FIT_SAMPLE", 100)
    model = seg.UserSegmenter(seed=1).fit(feats)
    assert len(feats) == 600 and model.fit_users_ == 100
    assert len(model.labels_) == len(feats) and (model.labels_ >= 0).all()
    np.testing.assert_array_equal(model.predict(feats), model.labels_)
    np.testing.assert_array_equal(clone(model).fit(feats).labels_, model.labels_)
    from sklearn.metrics import adjusted_rand_score

    truth = [int(u[1]) for u in feats.index]
    assert model.n_clusters_ == 3 and adjusted_rand_score(truth, model.labels_) == pytest.approx(1.0)


def test_dbscan_option_and_noise() -> None:
    feats = clustered(40)
    outlier = feats.iloc[[0]].copy()
    outlier.index = pd.Index(["odd"], name="user_id")
    outlier[:] = [30, 0.05, 6.0, 0.9, 0.9, 3.0, 1 / 3, 1 / 3, 1 / 3, 0.0]  # unlike anyone
    model = seg.UserSegmenter(method="dbscan", eps=2.0, min_samples=5).fit(pd.concat([feats, outlier]))
    assert model.n_clusters_ == 3
    assert model.labels_[-1] == seg.NOISE
    pred = model.predict(pd.concat([feats.iloc[:3], outlier]))
    assert list(pred[:3]) == list(model.labels_[:3]) and pred[-1] == seg.NOISE
    auto = seg.UserSegmenter(method="dbscan", min_samples=5).fit(feats)
    assert auto.eps_ > 0 and auto.n_clusters_ == 3  # eps from the data: the median 5th-neighbour distance
    with pytest.raises(ValueError, match="unknown method"):
        seg.UserSegmenter(method="nope").fit(feats)  # type: ignore[arg-type]


def test_describe_segments_in_words() -> None:
    feats = clustered()
    model = seg.UserSegmenter(n_clusters=3).fit(feats)
    words = seg.describe_segments(feats, model.labels_, "W").set_index("top_categories")
    assert set(words.index) == {"X", "Y", "Z"}
    assert words.loc["X", "description"].startswith("mostly X") and "buys often" in words.loc["X", "description"]
    assert "mostly browses" in words.loc["Y", "description"]
    assert "active weekly" in words.loc["Z", "description"]
    assert words["users"].sum() == len(feats) and words["share_of_users"].sum() == pytest.approx(1.0)
    shown, hidden = seg.segment_table(words.reset_index(), min_users=61)
    assert shown.empty and hidden == 3


def test_projection_and_user_list() -> None:
    feats = clustered()
    model = seg.UserSegmenter(n_clusters=3).fit(feats)
    proj = seg.projection_2d(feats, model.labels_, model, max_points=50)
    assert len(proj) == 50 and set(proj.columns) == {"user_id", "x", "y", "segment"}
    assert 0.0 < sum(proj.attrs["explained_variance"]) <= 1.0
    # The planted groups stay apart in the plane: silhouette above 0.7, "strong structure" on the usual scale.
    assert silhouette_score(proj[["x", "y"]], proj["segment"]) > 0.7
    users = seg.segment_users(feats, model.labels_, 0)
    assert len(users) == (model.labels_ == 0).sum() and users.columns[0] == "user_id"


def test_segment_sizes_over_time() -> None:
    rows = []
    for i in range(12):
        for u in range(6):
            rows.append((f"x{u}", "X", i, 3.0, 1))
            if i >= 6:  # Y users appear half-way
                rows.append((f"y{u}", "Y", i, 3.0, 0))
    p = panel_of(rows)
    feats = seg.user_features(p, "W")
    model = seg.UserSegmenter(n_clusters=2).fit(feats)
    sizes = seg.segment_sizes_over_time(p, model, "W", window=4)
    assert sizes["period"].min() == week(3) and sizes["period"].max() == week(11)
    totals = sizes.groupby("period")["users"].sum()
    assert totals.loc[week(3)] == 6 and totals.loc[week(11)] == 12
