"""analytics.promotions: ranking, groups, churn exclusion, reach, export and a backtested lift.

Measured lift of the model's list over the recency list (most recent users of the category first,
then most frequent), weekly, next week, 3 backtest cutoffs, top 20 categories pooled:
- Tmall brands, RecencyDecay: hits 154 vs 143 at top 10 (lift 1.08), 246 vs 237 at 25, 347 vs 339
  at 50, 489 vs 486 at 100; 1.3 to 4.1 times a random list.
- demo, RecencyDecay: 0.96 at top 10 to 50, 1.05 at 100 (a decayed mean is nearly a recency
  ranking); the LSTM (8 epochs): 1.05, 1.04, 1.09, 1.14 at 10, 25, 50, 100 (too slow for a test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from interest_core.analytics import promotions as promo
from interest_core.forecasting import series
from interest_core.forecasting.forecasters.base import (
    Forecaster,
    ProgressCallback,
    forecast_frame,
    future_periods,
    to_matrix,
)
from tests.builders import START

if TYPE_CHECKING:
    from tests.conftest import AccuracyRecorder



def forecasts() -> pd.DataFrame:
    rows = [("u1", "A", 0.9), ("u2", "A", 0.5), ("u3", "A", 0.2), ("u1", "B", 0.5), ("u4", "B", 0.8),
            ("=cmd", "A", 0.1)]
    ids = [series.PAIR_SEP.join([u, c]) for u, c, _ in rows]
    frame = pd.DataFrame({"unique_id": ids, "period": START, "model": "m", "yhat": 1.0,
                          "p_engage": [p for *_, p in rows]})
    return pd.concat([frame, frame.assign(period=START + pd.Timedelta(weeks=1))], ignore_index=True)


def test_ranked_list_and_reach() -> None:
    ranked = promo.promotion_list(forecasts(), "A")
    assert ranked["user_id"].tolist() == ["u1", "u2", "u3", "=cmd"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(ranked["expected_reach"], [0.9, 1.4, 1.6, 1.7])
    assert ranked["reach_share"].iloc[-1] == pytest.approx(1.0)
    assert len(promo.promotion_list(forecasts(), "A", size=2)) == 2
    curve = promo.reach_curve(ranked)
    assert curve["list_size"].tolist() == [1, 2, 3, 4]
    assert curve["expected_engaged"].is_monotonic_increasing
    assert (curve["expected_engaged"] >= curve["random_expected"] - 1e-12).all()  # ranked beats random


def test_group_combines_probabilities_and_churn_exclusion() -> None:
    ranked = promo.promotion_list(forecasts(), ["A", "B"])
    u1 = ranked.set_index("user_id").loc["u1", "p_engage"]
    assert u1 == pytest.approx(1 - 0.1 * 0.5)
    churn = pd.DataFrame({"user_id": ["u1", "u2"], "risk": [0.7, 0.1]})
    kept = promo.promotion_list(forecasts(), "A", churn=churn, max_churn_risk=0.5)
    assert "u1" not in set(kept["user_id"]) and "u3" in set(kept["user_id"])  # no score: kept
    assert kept.set_index("user_id").loc["u2", "churn_risk"] == pytest.approx(0.1)


def test_missing_p_engage_falls_back_to_yhat_and_unknown_category_errors() -> None:
    frame = forecasts().assign(p_engage=np.nan, yhat=lambda f: np.arange(len(f), dtype=float))
    scores = promo.engagement_scores(frame)
    assert scores["p_engage"].between(0, 1).all()
    with pytest.raises(Exception, match="no forecast"):
        promo.promotion_list(forecasts(), "nope")


def test_export_is_formula_safe() -> None:
    text = promo.export_list(promo.promotion_list(forecasts(), "A")).decode()
    assert "'=cmd" in text and "\n=cmd" not in text


class ShareActive(Forecaster):
    """In-test forecaster on the contract: p_engage = share of periods with y > 0 (frequency, not recency)."""

    name: ClassVar[str] = "share_active"
    seen: ClassVar[list[pd.Timestamp]] = []  # last training period of every fit (a leak would show here)

    def __init__(self) -> None:
        pass

    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None:
        ShareActive.seen.append(pd.Timestamp(df["period"].max()))
        matrix, self.ids_, _ = to_matrix(df)
        self.p_ = (matrix > 0).mean(axis=1)

    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame:
        yhat = np.repeat(self.p_[:, None], h, axis=1)
        return forecast_frame(self.ids_, future_periods(self.last_period_, h, self.freq_), self.name, yhat, self.p_)


def habit_panel(n_users: int = 60, n_weeks: int = 16, seed: int = 1) -> pd.DataFrame:
    """Each user visits category A with a fixed weekly probability: frequency predicts, recency barely."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n_users)
    hit = rng.random((n_users, n_weeks)) < p[:, None]
    u, t = np.nonzero(hit)
    return pd.DataFrame({"user_id": pd.array([f"u{i:02d}" for i in u], dtype="string"),
                         "category": pd.array(["A"] * len(u), dtype="string"),
                         "period": START + pd.to_timedelta(t * 7, unit="D"), "interest": 1.0})


def test_backtest_lift_counts_hits_without_leakage(accuracy: AccuracyRecorder) -> None:
    panel = habit_panel()
    ShareActive.seen.clear()
    result = promo.backtest_lift(panel, ShareActive, "A", freq="W", horizon=1, n_cutoffs=4, list_sizes=(5, 10, 20))
    table = result.table
    accuracy.record("promotions.synthetic.habit_lift", table.set_index(table["list_size"].map("top{}".format))[
        ["model_hits", "recency_hits", "random_hits", "lift_vs_random"]])
    assert len(result.cutoffs) == 4 and result.cutoffs[-1] == panel["period"].max() - pd.Timedelta(weeks=1)
    assert (table["model_hits"] <= table["listed"]).all() and (table["recency_hits"] <= table["listed"]).all()
    assert table["listed"].tolist() == [20, 40, 80]
    assert ShareActive.seen == list(result.cutoffs)  # each fit saw data up to its cutoff only
    # Habitual visitors: both rankings beat a random list at short lists (recency ties break by frequency).
    short = table[table["list_size"] <= 10]
    assert (short["lift_vs_random"] > 1.2).all() and (short["recency_hits"] > short["random_hits"]).all()
    many = promo.lift_by_category(panel, ShareActive, ["A"], freq="W", n_cutoffs=4, list_sizes=(5, 10, 20))
    pd.testing.assert_frame_equal(many.drop(columns="category"), table)


def test_tmall_lift_over_recency_is_measured(tmall_weekly: tuple[pd.DataFrame, pd.Timestamp],
                                             accuracy: AccuracyRecorder) -> None:
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.forecasting.series import last_complete_period

    panel, end = tmall_weekly
    last = last_complete_period(panel["period"].max(), end, "W")
    top = panel.groupby("category")["user_id"].nunique().sort_values(ascending=False).head(20).index
    table = promo.lift_by_category(panel, lambda: make_forecaster("recency_decay"), list(top), freq="W",
                                   n_cutoffs=3, last_period=last, history=26, list_sizes=(10, 25, 50, 100))
    pooled = table.groupby("list_size")[["model_hits", "recency_hits", "random_hits"]].sum()
    lift = pooled["model_hits"] / pooled["recency_hits"]
    accuracy.record("promotions.tmall.lift_over_recency", pooled.assign(
        lift_vs_recency=lift, lift_vs_random=pooled["model_hits"] / pooled["random_hits"]).rename(index="top{}".format))
    # Measured 1.077, 1.038, 1.024, 1.006: the model's list holds at least as many engaged users.
    assert lift.loc[10] > 1.0
    assert (lift >= 0.97).all(), lift
    assert (pooled["model_hits"] > 1.25 * pooled["random_hits"]).all()


def test_tmall_learned_list_beats_recency_at_top_100(tmall_weekly: tuple[pd.DataFrame, pd.Timestamp],
                                                     accuracy: AccuracyRecorder) -> None:
    """Issue 12's goal: weekly, horizon 4, 3 cutoffs, top 20 brands pooled: lift at the top 100 >= 1.05.

    The learned list (analytics.promotion_model) may hold users new to the brand; the recency list is
    every past user of the brand, most recent first. Its design was chosen at cutoffs before the first
    test cutoff (see the module); measured 1.135, 1.156, 1.081, 1.067 at top 10, 25, 50, 100.
    """
    from interest_core.forecasting.series import last_complete_period

    panel, end = tmall_weekly
    last = last_complete_period(panel["period"].max(), end, "W")
    top = panel.groupby("category")["user_id"].nunique().sort_values(ascending=False).head(20).index
    table = promo.learned_lift(panel, list(top), freq="W", horizon=4, n_cutoffs=3, last_period=last,
                               list_sizes=(10, 25, 50, 100))
    assert set(table["cutoffs"]) == {3}
    pooled = table.groupby("list_size")[["model_hits", "recency_hits", "random_hits", "expected_hits"]].sum()
    lift = pooled["model_hits"] / pooled["recency_hits"]
    accuracy.record("promotions.tmall.learned_lift_over_recency_h4", pooled.assign(
        lift_vs_recency=lift, lift_vs_random=pooled["model_hits"] / pooled["random_hits"]).rename(index="top{}".format))
    assert lift.loc[100] >= 1.05, lift
    assert (lift >= 1.0).all(), lift
    assert (pooled["model_hits"] > 2 * pooled["random_hits"]).all()


def test_tmall_learned_list_from_a_user_sample(tmall_weekly: tuple[pd.DataFrame, pd.Timestamp],
                                              accuracy: AccuracyRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Larger logs learn from a seeded sample of users per training fold (MAX_TRAIN_USERS): on Tmall, 300 of
    884 users give lifts over recency of 1.125, 1.158, 1.089, 1.062 at top 10, 25, 50, 100 (all users:
    1.136, 1.156, 1.081, 1.067); held to the full model's bounds."""
    from interest_core.analytics import promotion_model
    from interest_core.forecasting.series import last_complete_period

    monkeypatch.setattr(promotion_model, "MAX_TRAIN_USERS", 300)
    sampled: list[int] = []  # rows each training fold's features were built for (None = every user)
    features = promotion_model._Fold.features

    def recording(fold: Any, cols: Any, rows: Any = None) -> Any:
        sampled.append(len(fold.users) if rows is None else len(rows))
        return features(fold, cols, rows)

    monkeypatch.setattr(promotion_model._Fold, "features", recording)
    panel, end = tmall_weekly
    last = last_complete_period(panel["period"].max(), end, "W")
    top = panel.groupby("category")["user_id"].nunique().sort_values(ascending=False).head(20).index
    table = promo.learned_lift(panel, list(top), freq="W", horizon=4, n_cutoffs=3, last_period=last,
                               list_sizes=(10, 25, 50, 100))
    pooled = table.groupby("list_size")[["model_hits", "recency_hits", "random_hits"]].sum()
    lift = pooled["model_hits"] / pooled["recency_hits"]
    accuracy.record("promotions.tmall.learned_lift_sampled_300_users", pooled.assign(
        lift_vs_recency=lift).rename(index="top{}".format))
    assert lift.loc[100] >= 1.05, lift
    assert (lift >= 1.0).all(), lift
    assert (pooled["model_hits"] > 2 * pooled["random_hits"]).all()
    assert 300 in sampled and max(sampled) > 300, sampled  # trained on samples of 300, scored every user


def test_learned_model_learns_before_its_cutoff_and_scores_new_users() -> None:
    from interest_core.analytics.promotion_model import PromotionModel

    panel = habit_panel(n_users=80, n_weeks=14)
    # A second category B that the A-habitual users also visit: co-occurrence gives non-B users a B score.
    extra = panel[panel["user_id"] < "u40"].assign(category=pd.array(["B"] * 1, dtype="string")[0])
    panel = pd.concat([panel, extra], ignore_index=True)
    panel["category"] = panel["category"].astype("string")
    cutoff = panel["period"].max() - pd.Timedelta(weeks=2)
    model = PromotionModel("W", horizon=2, history=26).fit(panel, cutoff)
    assert max(model.train_cutoffs_) <= cutoff - pd.Timedelta(weeks=2)  # labels known before the cutoff
    scores = model.score(["B"])
    assert scores["p_engage"].between(0, 1).all() and scores["p_engage"].is_monotonic_decreasing
    assert scores["new_to_category"].any() and not scores["new_to_category"].all()
    ranked = promo.learned_list(scores, "B")
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert ranked["expected_reach"].iloc[-1] == pytest.approx(scores["p_engage"].sum())
    with pytest.raises(Exception, match="no history"):
        model.score(["nope"])
