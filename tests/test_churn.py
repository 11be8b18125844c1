"""analytics.churn: features from small literal panels, the estimator contract, and two real checks.

Measured (weekly, horizon 2, 3 test cutoffs, each model fitted only on data before its cutoff):
- Tmall 2014 brand log: ROC-AUC 0.834 vs 0.721 for recency (periods since last activity), PR-AUC
  0.357 vs 0.275, Brier 0.086 vs 0.103 for always predicting the base rate (11.6% churn).
- Synthetic demo, against the planted churners: users whose planted churn date falls within the
  horizon after a cutoff score higher than never-churning users with AUC 0.89 (pooled over 10
  cutoffs). Recency alone reaches 0.92 there: the model is trained on the observable label (two quiet
  weeks), which in the demo is mostly sporadic users, not the planted fade-outs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from interest_core.analytics import churn_features as cf
from interest_core.analytics.churn import ChurnModel, evaluate_churn, reliability_table
from interest_core.errors import ModelError, NotFittedError
from tests.builders import churny_panel, counts_panel, week

if TYPE_CHECKING:
    from tests.conftest import AccuracyRecorder

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def literal_panel() -> pd.DataFrame:
    # a: steady in A every week; b: A and B early, then quiet from week 4; c: starts week 3, buys.
    rows = [("a", "A", week(i), 3, 0) for i in range(8)]
    rows += [("b", "A", week(i), 4, 0) for i in range(4)] + [("b", "B", week(1), 2, 0), ("b", "B", week(3), 1, 0)]
    rows += [("c", "C", week(i), 1, 1) for i in range(3, 8)]
    return counts_panel(rows)


def test_features_on_a_literal_panel() -> None:
    act = cf.activity_from_panel(literal_panel(), "W")
    assert list(act.users) == ["a", "b", "c"] and len(act.periods) == 8
    f = cf.feature_matrices(act, short=2, long=4)
    a, b, c = 0, 1, 2
    assert f["recency"][b, 5] == 2 and f["recency"][a, 5] == 0 and f["recency"][c, 2] == cf.NEVER
    assert f["active_short"][b, 4] == 1 and f["active_short"][a, 4] == 2
    assert f["tenure"][c, 7] == 4
    # b's distinct categories over the last 4 weeks: A and B at week 3, only A at week 4 (B last seen week 3)...
    assert np.expm1(f["categories_long"][b, 3]) == pytest.approx(2)
    assert np.expm1(f["categories_long"][b, 5]) == pytest.approx(2)  # weeks 2..5 still hold week 3's B
    assert np.expm1(f["categories_long"][b, 7]) == pytest.approx(0)
    assert f["buy_share"][c, 7] == pytest.approx(0.5) and f["buy_share"][a, 7] == 0
    assert f["trend"][b, 5] < 0 < f["trend"][c, 4]
    assert cf.labels_at(act, 3, 2).tolist() == [False, True, False]
    with pytest.raises(ModelError, match="no label"):
        cf.labels_at(act, 7, 1)


def test_features_never_see_the_future() -> None:
    panel = literal_panel()
    cut = 4
    changed = panel.copy()
    late = changed["period"] > week(cut)
    changed.loc[late, "n_view"] *= 10
    changed.loc[late, "interest"] *= 10
    before = cf.feature_matrices(cf.activity_from_panel(panel, "W"))
    after = cf.feature_matrices(cf.activity_from_panel(changed, "W"))
    for name in cf.FEATURES:
        np.testing.assert_allclose(before[name][:, : cut + 1], after[name][:, : cut + 1], err_msg=name)


def test_words_for_reasons() -> None:
    text = cf.describe_feature("recency", 3, freq="W", short=4, long=12)
    assert text == "inactive for 3 weeks"
    assert "down 50%" in cf.describe_feature("trend", np.log(0.5), freq="W", short=4, long=12)
    assert cf.describe_feature("buys_long", 0.0, freq="D", short=4, long=12) == "no purchase in 12 days"


def test_estimator_contract_and_scores() -> None:
    panel = churny_panel()
    model = ChurnModel(horizon=2, short_window=3, long_window=6)
    with pytest.raises(NotFittedError):
        model.predict_risk()
    assert model.get_params()["horizon"] == 2 and clone(model).get_params() == model.get_params()
    assert model.fit(panel) is model
    assert model.calibrated_ and model.n_train_ > 100 and 0 < model.base_rate_ < 1
    risk = model.predict_risk()
    assert list(risk.columns[:5]) == ["user_id", "cutoff", "risk", "recency", "reasons"]
    assert risk["risk"].between(0, 1).all() and risk["risk"].is_monotonic_decreasing
    assert (risk["recency"] < model.active_within).all()
    assert risk["reasons"].iloc[0]  # the riskiest user has words for it
    again = ChurnModel(horizon=2, short_window=3, long_window=6).fit(panel).predict_risk()
    pd.testing.assert_frame_equal(risk, again)  # deterministic
    contrib = model.contributions(model.snapshot()[1][:5])
    assert contrib.shape == (5, len(cf.FEATURES))


def test_activity_up_to_a_cutoff_equals_reading_the_panel_up_to_it() -> None:
    """The backtest reads the panel once and cuts the activity at each cutoff: the same model as a refit."""
    panel = churny_panel(n_users=240, n_weeks=24)
    full = cf.activity_from_panel(panel, "W")
    for t in (5, 12, 20):
        cut = full.up_to(t)
        direct = cf.activity_from_panel(panel, "W", last_period=full.periods[t])
        assert list(cut.users) == list(direct.users) and cut.periods.equals(direct.periods)
        for name in ("events", "buys", "intent"):
            np.testing.assert_array_equal(getattr(cut, name), getattr(direct, name), err_msg=name)
        np.testing.assert_array_equal(cf.distinct_categories(cut, 6), cf.distinct_categories(direct, 6))
    def model() -> ChurnModel:
        return ChurnModel(horizon=2, short_window=3, long_window=6)

    pd.testing.assert_frame_equal(model().fit_activity(full.up_to(20)).predict_risk(),
                                  model().fit(panel, last_period=full.periods[20]).predict_risk())


def test_too_little_history_is_a_clear_error() -> None:
    panel = churny_panel(n_weeks=6)
    with pytest.raises(ModelError, match="labelled cutoff"):
        ChurnModel(horizon=4).fit(panel)


def test_evaluation_and_reliability_on_planted_churn(accuracy: AccuracyRecorder) -> None:
    ev = evaluate_churn(churny_panel(n_users=240, n_weeks=24), freq="W", horizon=2, short_window=3, long_window=6)
    accuracy.record("churn.synthetic.planted_fade_outs", roc_auc=ev.roc_auc, brier=ev.brier)
    assert len(ev.test_cutoffs) == 3 and ev.n_test == len(ev.scores)
    assert ev.roc_auc > 0.7 and ev.brier < 0.25
    table = ev.reliability
    assert table["n"].sum() == ev.n_test and table["p_mean"].is_monotonic_increasing
    small = reliability_table(np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.7, 0.2]))
    assert small["n"].sum() == 4


def test_tmall_churn_model_beats_recency(tmall_weekly: tuple[pd.DataFrame, pd.Timestamp],
                                         accuracy: AccuracyRecorder) -> None:
    from interest_core.forecasting.series import last_complete_period

    panel, end = tmall_weekly
    last = last_complete_period(panel["period"].max(), end, "W")
    ev = evaluate_churn(panel, freq="W", horizon=2, last_period=last)
    per_cutoff = ev.per_cutoff.set_index(ev.per_cutoff["cutoff"].dt.strftime("%Y-%m-%d"))
    accuracy.record("churn.tmall.model_vs_recency", roc_auc=ev.roc_auc, recency_roc_auc=ev.recency_roc_auc,
                    pr_auc=ev.pr_auc, recency_pr_auc=ev.recency_pr_auc, brier=ev.brier,
                    brier_base_rate=ev.brier_base_rate, base_rate=ev.base_rate, n_test=ev.n_test,
                    per_cutoff=per_cutoff[["roc_auc", "recency_roc_auc", "pr_auc", "recency_pr_auc"]])
    # Measured 0.834 vs 0.721 (ROC), 0.357 vs 0.275 (PR), Brier 0.086 vs 0.103.
    assert ev.roc_auc > ev.recency_roc_auc + 0.06
    assert ev.pr_auc > ev.recency_pr_auc + 0.03
    assert ev.brier < ev.brier_base_rate
    assert (ev.per_cutoff["roc_auc"] > ev.per_cutoff["recency_roc_auc"]).all()


def test_tmall_churn_model_learns_from_a_user_sample(tmall_weekly: tuple[pd.DataFrame, pd.Timestamp],
                                                     accuracy: AccuracyRecorder) -> None:
    """Larger logs train on a seeded sample of users (MAX_TRAIN_USERS) and score every active user. On Tmall,
    learning from 300 of 884 users: ROC-AUC 0.804 vs 0.834 with all, PR-AUC 0.326 vs 0.357 (recency 0.721,
    0.275): still the same margins over recency as the full model is held to."""
    from interest_core.forecasting.series import last_complete_period

    panel, end = tmall_weekly
    last = last_complete_period(panel["period"].max(), end, "W")
    ev = evaluate_churn(panel, freq="W", horizon=2, last_period=last, max_train_users=300)
    accuracy.record("churn.tmall.sampled_300_users", roc_auc=ev.roc_auc, recency_roc_auc=ev.recency_roc_auc,
                    pr_auc=ev.pr_auc, recency_pr_auc=ev.recency_pr_auc, brier=ev.brier)
    assert (ev.per_cutoff["train_users"] == 300).all()
    assert ev.n_test == evaluate_churn(panel, freq="W", horizon=2, last_period=last).n_test  # all users scored
    assert ev.roc_auc > ev.recency_roc_auc + 0.06
    assert ev.pr_auc > ev.recency_pr_auc + 0.03
    assert ev.brier < ev.brier_base_rate


@pytest.mark.slow
def test_demo_planted_churners_score_higher_before_they_churn(tmp_path: Path, accuracy: AccuracyRecorder) -> None:
    from interest_core.config import PanelSpec
    from interest_core.ingest.uploads import ensure_demo
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    with Store(tmp_path / "demo.duckdb") as store:
        ensure_demo(store)
        panel = build_panel(events_source(store, "demo"), PanelSpec(freq="W"))
    users = pd.read_csv(DEMO / "users.csv", parse_dates=["churn_date"], dtype={"user_id": "string"})
    horizon = 2
    periods = sorted(panel["period"].unique())
    parts = []
    for cut in periods[16:56:4]:
        risk = ChurnModel(horizon=horizon).fit(panel, last_period=cut).predict_risk(reasons=False)
        risk = risk.merge(users, on="user_id")
        soon = risk["churned"] & (risk["churn_date"] > cut) & (risk["churn_date"] <= cut + pd.Timedelta(weeks=horizon))
        parts.append(risk.assign(soon=soon)[soon | ~risk["churned"]])
    pooled = pd.concat(parts)
    assert pooled["soon"].sum() >= 50
    auc = roc_auc_score(pooled["soon"], pooled["risk"])
    accuracy.record("churn.demo.planted_churners", roc_auc=auc, n_soon=int(pooled["soon"].sum()),
                    recency_roc_auc_not_asserted=roc_auc_score(pooled["soon"], pooled["recency"]))
    assert auc > 0.83, auc  # measured 0.89 (recency alone 0.92, see the module docstring)
