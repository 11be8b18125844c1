"""Metrics on small literal examples computed by hand (the comments show the arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from interest_core.forecasting import metrics
from interest_core.forecasting import ranking as per_user
from interest_core.forecasting.forecasters import conformal


def test_mae_rmse_smape_by_hand() -> None:
    assert metrics.mae([1, 2, 3], [1, 2, 6]) == pytest.approx(1.0)  # (0 + 0 + 3) / 3
    assert metrics.rmse([1, 2, 3], [1, 2, 6]) == pytest.approx(math.sqrt(3.0))  # sqrt(9 / 3)
    # Both zero counts as a perfect 0; |2-1| * 2 / (2+1) = 2/3 -> mean 1/3 -> 33.3 %.
    assert metrics.smape([0, 2], [0, 1]) == pytest.approx(100.0 / 3.0)
    assert metrics.smape([0, 0], [0, 0]) == 0.0
    assert math.isnan(metrics.mae([], []))


def test_mase_excludes_and_counts_flat_series() -> None:
    insample = np.array([[1.0, 2.0, 4.0],   # naive scale: (|2-1| + |4-2|) / 2 = 1.5
                         [3.0, 3.0, 3.0]])  # flat: scale 0 -> excluded
    y_true = np.array([[2.0, 4.0], [5.0, 5.0]])
    y_pred = np.array([[3.0, 3.0], [5.0, 5.0]])  # series 1 MAE = 1
    result = metrics.mase(y_true, y_pred, insample)
    assert result.value == pytest.approx(1.0 / 1.5)
    assert (result.n_series, result.n_excluded) == (1, 1)
    all_flat = metrics.mase(y_true, y_pred, np.ones((2, 3)))
    assert math.isnan(all_flat.value) and all_flat.n_excluded == 2


def test_mase_seasonal_scale() -> None:
    # season 2: scale = mean(|3-1|, |4-2|) = 2; MAE = 1 -> 0.5
    result = metrics.mase(np.array([[5.0]]), np.array([[4.0]]), np.array([[1.0, 2.0, 3.0, 4.0]]), season=2)
    assert result.value == pytest.approx(0.5)


def test_coverage_and_width() -> None:
    y, lo, hi = np.array([1.0, 5.0, 10.0]), np.array([0.0, 6.0, 9.0]), np.array([2.0, 7.0, 11.0])
    assert metrics.coverage(y, lo, hi) == pytest.approx(2.0 / 3.0)  # 5 is outside [6, 7]
    assert metrics.mean_width(lo, hi) == pytest.approx(5.0 / 3.0)  # (2 + 1 + 2) / 3
    frame = pd.DataFrame({"y": y, "lo_80": lo, "hi_80": hi})
    assert metrics.interval_metrics(frame, (80, 95)) == pytest.approx({"coverage_80": 2 / 3, "width_80": 5 / 3})


def test_auc_by_hand() -> None:
    # positives 0.9 and 0.3, negatives 0.8 and 0.1: 3 of the 4 pos-neg pairs are ordered right.
    assert metrics.auc([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]) == pytest.approx(0.75)
    assert metrics.auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts half
    assert math.isnan(metrics.auc([1, 1], [0.2, 0.3]))  # one class: undefined
    assert metrics.auc([0, 1, 1], [float("nan"), 0.2, 0.5]) == pytest.approx(1.0)  # no score ranks last


@pytest.fixture
def ranking() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b", "c", "c"],
        "p_engage": [0.9, 0.5, 0.1, 0.8, 0.2, 0.7, 0.6],
        "label": [False, False, True, True, False, False, False],  # c has no positive: left out
    })


def test_hit_rate_at_k(ranking: pd.DataFrame) -> None:
    assert metrics.hit_rate_at_k(ranking, 1) == pytest.approx(0.5)  # a misses, b hits
    assert metrics.hit_rate_at_k(ranking, 3) == pytest.approx(1.0)


def test_ndcg_at_k(ranking: pd.DataFrame) -> None:
    assert metrics.ndcg_at_k(ranking, 2) == pytest.approx(0.5)  # a: 0, b: 1
    # a: its positive at rank 3 -> 1/log2(4) = 0.5 over an ideal 1; b: 1.
    assert metrics.ndcg_at_k(ranking, 3) == pytest.approx(0.75)
    two = pd.DataFrame({"user_id": ["u"] * 3, "p_engage": [3.0, 2.0, 1.0], "label": [True, False, True]})
    # DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    assert metrics.ndcg_at_k(two, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_ranking_metrics_without_positives_are_nan() -> None:
    frame = pd.DataFrame({"user_id": ["a"], "p_engage": [0.3], "label": [False]})
    assert math.isnan(metrics.hit_rate_at_k(frame, 5)) and math.isnan(metrics.ndcg_at_k(frame, 5))


def test_activity_tiers_terciles_and_ties() -> None:
    activity = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], index=list("abcdef"))
    assert metrics.activity_tiers(activity).tolist() == ["light", "light", "medium", "medium", "heavy", "heavy"]
    tied = pd.Series([7.0, 7.0, 7.0], index=["x", "y", "z"])
    assert metrics.activity_tiers(tied).tolist() == ["light", "medium", "heavy"]  # index order breaks ties


def test_conformal_quantiles_by_hand() -> None:
    actual = np.zeros((4, 1))
    predicted = np.array([[0.0], [1.0], [2.0], [3.0]])  # residuals 0, 1, 2, 3
    q = conformal.residual_quantiles(actual, predicted, levels=(50, 80))
    # rank ceil((n+1) L) of n = 4: 50 % -> 3rd smallest (2); 80 % -> 4th (3)
    assert q[:, 0].tolist() == [2.0, 3.0]
    bounds = conformal.apply_quantiles(np.array([[5.0, 5.0]]), q, (80,), stored_levels=(50, 80))
    assert bounds[80][0].tolist() == [[2.0, 2.0]] and bounds[80][1].tolist() == [[8.0, 8.0]]  # step 2 reuses step 1


def test_engage_calibration_is_increasing_and_matches_rates() -> None:
    rng = np.random.default_rng(0)
    scores = rng.exponential(1.0, 5000)
    engaged = rng.random(5000) < 1 / (1 + np.exp(-(1.5 * np.log1p(scores) - 2.0)))
    slope, intercept = conformal.fit_engage_calibration(scores, engaged)  # type: ignore[misc]
    assert slope == pytest.approx(1.5, abs=0.25) and intercept == pytest.approx(-2.0, abs=0.25)
    p = conformal.engage_probability(np.array([[0.0], [1.0], [5.0]]), (slope, intercept), h_cal=1)
    assert np.all(np.diff(p) > 0)
    assert conformal.fit_engage_calibration(scores, np.ones(5000, dtype=bool)) is None


# -- per-user ranking (ranking.py) -------------------------------------------------------------

def test_gauc_averages_users_with_both_classes(ranking: pd.DataFrame) -> None:
    # a: positive 0.1 below both negatives -> 0; b: positive 0.8 above 0.2 -> 1; c: no positive, left out.
    assert metrics.gauc(ranking) == pytest.approx(0.5)
    # Pooled over all 7 pairs the same scores read differently: positives 0.1 and 0.8 against 5 negatives.
    assert metrics.auc(ranking["label"], ranking["p_engage"]) == pytest.approx((0 + 4) / 10)
    tie = pd.DataFrame({"user_id": ["u", "u", "u"], "p_engage": [0.5, 0.5, 0.1], "label": [True, False, False]})
    assert metrics.gauc(tie) == pytest.approx((0.5 + 1.0) / 2)  # a tie counts half, as in pooled AUC


def test_ties_are_broken_pessimistically() -> None:
    # Every score equal: the positive ranks below both negatives whatever the candidates' order.
    flat = pd.DataFrame({"user_id": ["u"] * 3, "p_engage": [1.0, 1.0, 1.0], "label": [True, False, False]})
    assert metrics.hit_rate_at_k(flat, 1) == 0.0 and metrics.hit_rate_at_k(flat, 2) == 0.0
    assert metrics.hit_rate_at_k(flat, 3) == 1.0
    assert metrics.ndcg_at_k(flat, 3) == pytest.approx(1 / math.log2(4))  # rank 3
    reordered = flat.iloc[::-1].reset_index(drop=True)
    assert metrics.hit_rate_at_k(reordered, 1) == 0.0


def test_topk_metrics_and_random_reference_by_hand() -> None:
    # One user, 4 candidates (2 positives), and a third relevant item outside the candidates.
    scores = np.array([[0.9, 0.8, 0.3, 0.1]])
    labels = np.array([[True, False, False, True]])
    row = per_user.matrix_ranking(scores, labels, relevant=np.array([3]), ks=(2,)).iloc[0]
    assert row["auc"] == pytest.approx(0.5)  # pos 0.9 beats both negatives, pos 0.1 beats none
    assert row["hit_rate@2"] == 1.0
    assert row["precision@2"] == pytest.approx(0.5)
    assert row["recall@2"] == pytest.approx(1 / 3)  # the relevant item outside counts in the denominator
    assert row["ndcg@2"] == pytest.approx(1.0 / (1 + 1 / math.log2(3)))  # 1 hit at rank 1; ideal 2 hits
    # Random: 2 of 4 drawn; P(no positive) = C(2,2)/C(4,2) = 1/6; expected hits 2 * 2/4 = 1.
    assert row["random_hit_rate@2"] == pytest.approx(5 / 6)
    assert row["random_precision@2"] == pytest.approx(0.5)
    assert row["random_recall@2"] == pytest.approx(1 / 3)
    assert row["random_ndcg@2"] == pytest.approx(0.5 * (1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_frame_ranking_pads_users_with_fewer_candidates(ranking: pd.DataFrame) -> None:
    users = per_user.frame_ranking(ranking, (5,), score_col="p_engage")
    assert users.loc["a", "n"] == 3 and users.loc["b", "n"] == 2
    assert users.loc["b", "auc"] == 1.0 and users.loc["a", "auc"] == 0.0
    assert math.isnan(users.loc["c", "auc"]) and math.isnan(users.loc["c", "hit_rate@5"])
    # b has 2 candidates, so at K = 5 a random ranking always hits.
    assert users.loc["b", "random_hit_rate@5"] == pytest.approx(1.0)


def test_bootstrap_interval_and_users_counted() -> None:
    est = per_user.bootstrap_mean(np.array([0.0, 1.0, np.nan, 1.0, 0.0]))
    assert est.value == pytest.approx(0.5) and est.n == 4  # the undefined user is not counted
    assert 0.0 <= est.lo < 0.5 < est.hi <= 1.0
    same = per_user.bootstrap_mean(np.full(10, 0.3))
    assert same.lo == pytest.approx(0.3) and same.hi == pytest.approx(0.3)


def test_pooled_auc_with_user_bootstrap() -> None:
    labels = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    scores = np.array([0.9, 0.8, 0.3, 0.1, 0.5, 0.5])
    est = per_user.pooled_auc(labels, scores, ["a", "a", "b", "b", "c", "c"])
    # 9 pos-neg pairs: 0.9 beats 3; 0.3 beats 0.1 only; 0.5 beats 0.1, ties 0.5 -> (3 + 1 + 1.5) / 9
    assert est.value == pytest.approx(5.5 / 9) == metrics.auc(labels, scores)
    assert est.n == 3 and est.lo <= est.value <= est.hi


def test_candidate_coverage_of_positives() -> None:
    candidates = pd.DataFrame({"user_id": ["a", "a", "b"], "category": ["x", "y", "x"]})
    positives = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "category": ["x", "z", "x", "x"]})
    # a/x and b/x are candidates; a/z (new to a) and c/x (an inactive user) are not.
    assert metrics.candidate_coverage(candidates, positives) == pytest.approx(0.5)
    assert math.isnan(metrics.candidate_coverage(candidates, positives.iloc[:0]))


def test_engage_calibration_converges_on_skewed_scores() -> None:
    # Most candidates score 0 (5 % engage anyway); the rest are heavy-tailed and all engaged: a quasi-
    # separation where Newton steps ran off to slope 63 and every scored pair got probability 1.0.
    rng = np.random.default_rng(0)
    scores = np.concatenate([np.zeros(900), rng.lognormal(3.0, 2.0, 100)])
    engaged = np.concatenate([rng.random(900) < 0.05, np.ones(100, dtype=bool)])
    calibration = conformal.fit_engage_calibration(scores, engaged)
    assert calibration is not None
    slope, intercept = calibration
    assert 0.0 < slope < 20.0 and np.isfinite(intercept)
    p = conformal.engage_probability(np.sort(scores)[-100:, None], calibration, h_cal=1)
    assert (p < 1.0).all() and np.all(np.diff(p) >= 0) and len(np.unique(p)) > 90  # still ranks


def test_engage_probability_of_small_forecasts_is_not_zero() -> None:
    p = conformal.engage_probability(np.array([[1e-18], [1e-12]]), None, h_cal=0)
    assert p[0] == pytest.approx(1e-18) and p[1] == pytest.approx(1e-12) and p[0] < p[1]
