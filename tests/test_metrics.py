"""Metrics on small literal examples computed by hand (the comments show the arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from interest_core.forecasting import metrics
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
