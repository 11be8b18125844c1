"""next_interest: rank every category for each active user, new ones included (baselines, LSTM, backtest)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from interest_core.errors import ModelError, NotFittedError
from interest_core.forecasting import backtest
from interest_core.forecasting.next_interest import make_next_interest
from interest_core.forecasting.next_interest.evaluate import fold_labels, run_next_interest
from interest_core.forecasting.next_interest.history import history_from_panel
from tests.forecast_data import START, synthetic_panel

if TYPE_CHECKING:
    from tests.conftest import AccuracyRecorder
    from tests.shared_fits import SharedFits

W = pd.DateOffset(weeks=1)


@pytest.fixture
def small() -> pd.DataFrame:
    """Four users, four brands, three weeks: a and b share x and y; c only ever touched z; d touched w once."""
    rows = [("a", "x", 0, 3.0), ("a", "y", 1, 1.0), ("b", "x", 0, 1.0), ("b", "y", 0, 2.0), ("b", "y", 2, 1.0),
            ("c", "z", 2, 1.0), ("c", "x", 2, 1.0), ("d", "w", 0, 1.0)]
    return pd.DataFrame({"user_id": pd.Series([r[0] for r in rows], dtype="string"),
                         "category": pd.Series([r[1] for r in rows], dtype="string"),
                         "period": [START + W * r[2] for r in rows], "interest": [r[3] for r in rows]})


def test_history_holds_one_sparse_matrix_per_period(small: pd.DataFrame) -> None:
    history = history_from_panel(small, "W", START, START + W * 2)
    assert history.users.tolist() == ["a", "b", "c", "d"] and history.categories.tolist() == ["w", "x", "y", "z"]
    assert len(history.interest) == 3 and history.shape == (4, 4)
    assert history.interest[0].toarray()[0].tolist() == [0.0, 3.0, 0.0, 0.0]  # a: x = 3 in week 0
    # x touched by a, b (week 0) and c (week 2): 2 distinct users in the last 1 week... of week 2 only c.
    assert history.popularity(1).tolist() == [0.0, 1.0, 1.0, 1.0]
    assert history.popularity(3).tolist() == [1.0, 3.0, 2.0, 1.0]
    # Decay with a half-life of 1 week: a's x (week 0, two weeks old) weighs 3 / 4.
    assert history.decayed(1.0).toarray()[0, 1] == pytest.approx(0.75)


def test_baselines_rank_by_hand(small: pd.DataFrame) -> None:
    history = history_from_panel(small, "W", START, START + W * 2)
    rows = np.arange(4)
    pop = make_next_interest("popularity", window=3).fit(history, 2).score(rows)
    assert np.argsort(-pop[0]).tolist()[:2] == [1, 2]  # x (3 users), then y (2): the same for everyone
    assert (pop == pop[0]).all()
    recency = make_next_interest("recency_decay").fit(history, 2).score(rows)
    # c knows z and x (both week 2): those first, then the most popular brand it never touched (y).
    c_order = np.argsort(-recency[2], kind="stable").tolist()
    assert set(c_order[:2]) == {1, 3} and c_order[2] == 2
    cf = make_next_interest("item_cf").fit(history, 2).score(rows)
    # d only touched w, which nobody else did: co-occurrence gives it nothing beyond w itself.
    assert np.argmax(cf[3]) == 0
    # c touched x, which co-occurs with y (a and b): y outranks w, which never co-occurs with x.
    assert cf[2, 2] > cf[2, 0]


def test_labels_count_positives_in_brands_unknown_at_the_cutoff(small: pd.DataFrame) -> None:
    later = pd.DataFrame({"user_id": pd.Series(["a", "a", "b"], dtype="string"),
                          "category": pd.Series(["z", "new", "x"], dtype="string"),
                          "period": [START + W * 3] * 3, "interest": [1.0, 2.0, 1.0]})
    panel = pd.concat([small, later], ignore_index=True)
    labels, relevant, n_pairs = fold_labels(panel, np.array(["a", "b"]), np.array(["w", "x", "y", "z"]),
                                            pd.DatetimeIndex([START + W * 3]))
    assert labels.tolist() == [[False, False, False, True], [False, True, False, False]]
    assert relevant.tolist() == [2.0, 1.0] and n_pairs == 3  # a's "new" counts, though no model can rank it


def test_registry_names_the_valid_models_and_parameters() -> None:
    with pytest.raises(ModelError, match="item_cf"):
        make_next_interest("prophet")
    with pytest.raises(ModelError, match="window"):
        make_next_interest("popularity", half_life=2)
    with pytest.raises(NotFittedError):
        make_next_interest("item_cf").score(np.arange(2))


def test_backtest_next_interest_on_synthetic_panel() -> None:
    panel = synthetic_panel(n_users=12, n_categories=6, n_periods=14)
    models = [make_next_interest(n) for n in ("popularity", "item_cf", "recency_decay")]
    result = run_next_interest(panel, models, "W", horizon=2, folds=2, lookback=2)
    assert result.target == "next_interest" and result.step == 2 and result.lookback == 2
    assert list(result.leaderboard["model"].unique()) == ["popularity", "item_cf", "recency_decay", "random"]
    board = result.leaderboard.set_index(["model", "metric"])["value"]
    for model in ("popularity", "item_cf", "recency_decay"):
        for metric in ("recall@10", "hit_rate@10", "ndcg@10", "precision@5", "gauc", "coverage"):
            assert 0.0 <= board[(model, metric)] <= 1.0
    # Every user touched every brand early on: few positives are new, and ranking known brands wins.
    assert board[("recency_decay", "recall@5")] >= board[("random", "recall@5")]
    rows = result.fold_metrics[result.fold_metrics["metric"] == "recall@5"]
    assert (rows["n_users"] > 0).all() and (rows["lo"] <= rows["hi"]).all()


def test_next_interest_rejects_per_series_forecasters() -> None:
    from interest_core.forecasting.forecasters import make_forecaster

    with pytest.raises(ModelError, match="not a next-interest model"):
        run_next_interest(synthetic_panel(n_periods=12), [make_forecaster("last_value")], "W", 2, 1)


def test_cli_model_list_for_next_interest() -> None:
    from interest_core.cli.forecast import build_models

    models, _ = build_models("baseline,lstm", "next_interest", jobs=1)
    assert [m.name for m in models] == ["popularity", "item_cf", "recency_decay", "lstm"]


def test_sequence_lstm_fits_scores_and_repeats_itself() -> None:
    pytest.importorskip("tensorflow")
    panel = synthetic_panel(n_users=10, n_categories=5, n_periods=10)
    history = history_from_panel(panel, "W", START, START + W * 9)
    params = {"window": 4, "dim": 4, "units": 4, "epochs": 2, "batch_size": 16}
    first = make_next_interest("lstm", **params).fit(history, 2)
    scores = first.score(np.array([0, 3]))
    assert scores.shape == (2, 5) and np.isfinite(scores).all()
    again = make_next_interest("lstm", **params).fit(history, 2).score(np.array([0, 3]))
    np.testing.assert_allclose(scores, again, rtol=1e-5)  # the same seed gives the same ranking
    assert first.train_info_["examples_train"] > 0


# -- the real Tmall brand log ------------------------------------------------------------------

@pytest.fixture(scope="module")
def taobao_daily(taobao_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The Taobao UserBehavior head ingested with the default options, as a daily panel, and its last event time."""
    from interest_core.config import PanelSpec
    from interest_core.ingest import pipeline
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    with Store(tmp_path_factory.mktemp("taobao") / "taobao.duckdb") as store:
        pipeline.ingest(store, taobao_log, name="taobao")
        end = pd.Timestamp(store.describe("taobao").end)
        return build_panel(events_source(store, "taobao"), PanelSpec(freq="D")), end


def _fold_table(result: backtest.BacktestResult, metric: str) -> pd.DataFrame:
    part = result.fold_metrics[result.fold_metrics["metric"] == metric]
    return part.pivot(index="fold", columns="model", values="value")


@pytest.mark.slow
def test_tmall_lstm_recall_beats_item_cf_and_popularity_in_every_fold(
        tmall_weekly: tuple[pd.DataFrame, pd.Timestamp], accuracy: AccuracyRecorder, shared_fits: SharedFits) -> None:
    pytest.importorskip("tensorflow")
    panel, end = tmall_weekly
    models = [make_next_interest(n) for n in ("popularity", "item_cf", "recency_decay", "lstm")]
    result = run_next_interest(panel, models, "W", horizon=4, folds=3, data_end=end)
    assert [str(c.date()) for c in result.cutoffs] == ["2013-05-13", "2013-06-10", "2013-07-08"]
    recall = _fold_table(result, "recall@10")
    fm = result.fold_metrics
    figures: dict[str, Any] = {
        metric: _fold_table(result, metric).rename(index="fold{}".format)
        for metric in ("recall@10", "hit_rate@10", "ndcg@10", "gauc", "new_share@10", "recall@20")}
    own = fm[fm["metric"].isin(["recall@10", "ndcg@10", "gauc"]) & (fm["model"] != "random")]
    figures["intervals"] = {f"fold{r.fold}.{r.model}.{r.metric}": {"lo": r.lo, "hi": r.hi, "n_users": r.n_users}
                            for r in own.itertuples(index=False)}
    shared = fm[(fm["model"] == "popularity") & fm["metric"].isin(["coverage", "new_positive_share"])]
    figures["candidates"] = {f"fold{r.fold}.{r.metric}": r.value for r in shared.itertuples(index=False)}
    figures["lookback"] = result.lookback
    timings = shared_fits.fit_seconds(result.timings)  # a fit shared with another test: its own seconds
    figures["lstm_fit_s"] = timings[timings["model"] == "lstm"].set_index("fold")["fit_s"]
    figures["test_windows"] = "3 folds, step 4 = horizon: weeks 2013-05-20..06-10, 06-17..07-08, 07-15..08-05"
    accuracy.record("next_interest.tmall.recall_at_10", figures)
    # Measured (lookback 4, 709-753 users per fold; defaults chosen before the first cutoff, the blend weight on
    # held-out users in each fit): recall@10 lstm 0.104 / 0.099 / 0.101, recency decay 0.094 / 0.092 / 0.091,
    # item_cf 0.066 / 0.061 / 0.065, popularity 0.058 / 0.047 / 0.039, random 0.001-0.002.
    assert (recall["lstm"] > recall["item_cf"]).all()
    assert (recall["lstm"] > recall["popularity"]).all()
    assert (recall["lstm"] >= recall["recency_decay"]).all()  # at least matches the strongest baseline
    assert (_fold_table(result, "ndcg@10")["lstm"] >= _fold_table(result, "ndcg@10")["recency_decay"]).all()
    assert (recall["lstm"] > 20 * recall["random"]).all()
    # Most positives are brands new to the user (the field's 84 %), and the LSTM does reach some of them. Since it
    # ranks the user's own brands first like recency decay (the blend learnt on held-out users), its share of hits
    # in new brands is recency decay's order of size (lstm 0.092 / 0.020 / 0.008, recency decay 0.075 / 0.021 /
    # 0.007), no longer above 0.05 in every fold as the unblended LSTM's was (0.19 on average, at lower recall).
    new_positive = fm[(fm["model"] == "popularity") & (fm["metric"] == "new_positive_share")]["value"]
    assert (new_positive > 0.75).all()
    assert (_fold_table(result, "new_share@10")["lstm"] > 0).all()


@pytest.mark.slow
def test_taobao_daily_lstm_recall_at_least_recency_and_above_item_cf_every_fold(
        taobao_daily: tuple[pd.DataFrame, pd.Timestamp], accuracy: AccuracyRecorder) -> None:
    """A second shape of log: the Taobao sample by day (9 days, 2,911 categories), horizon 2 days, 3 folds."""
    pytest.importorskip("tensorflow")
    panel, end = taobao_daily
    models = [make_next_interest(n) for n in ("popularity", "item_cf", "recency_decay", "lstm")]
    result = run_next_interest(panel, models, "D", horizon=2, folds=3, lookback=3, data_end=end)
    # Non-overlapping 2-day test windows (step = horizon): Nov 28-29, Nov 30-Dec 1, Dec 2-3.
    assert [str(c.date()) for c in result.cutoffs] == ["2017-11-27", "2017-11-29", "2017-12-01"]
    recall = _fold_table(result, "recall@10")
    fm = result.fold_metrics
    own = fm[fm["metric"].isin(["recall@10", "ndcg@10", "gauc"]) & (fm["model"] != "random")]
    accuracy.record("next_interest.taobao_daily.recall_at_10", {
        metric: _fold_table(result, metric).rename(index="fold{}".format)
        for metric in ("recall@10", "hit_rate@10", "ndcg@10", "gauc", "new_share@10")},
        intervals={f"fold{r.fold}.{r.model}.{r.metric}": {"value": r.value, "lo": r.lo, "hi": r.hi,
                                                           "n_users": r.n_users} for r in own.itertuples(index=False)},
        lookback=result.lookback, horizon=result.horizon, step=result.step)
    # Measured (lookback 3 days, 680-777 users per fold): recall@10 lstm 0.318 / 0.335 / 0.367, recency decay
    # 0.310 / 0.323 / 0.355, item_cf 0.298 / 0.297 / 0.315, popularity 0.195 / 0.192 / 0.183.
    assert (recall["lstm"] >= recall["recency_decay"]).all()
    assert (recall["lstm"] > recall["item_cf"]).all()
    assert (recall["lstm"] > recall["popularity"]).all()
    new_positive = fm[(fm["model"] == "popularity") & (fm["metric"] == "new_positive_share")]["value"]
    assert (new_positive > 0.4).all()  # half the positives or more are categories new to the user
