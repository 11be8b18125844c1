"""No output sees past its cutoff: scramble everything after it, add fake rows there, and nothing changes.

The check runs a pipeline twice, on a panel and on the same panel whose rows after the cutoff are
scrambled (users, categories and every count shuffled and scaled) with fake rows added there (new
users, new categories, bursts for known pairs). Backtest forecasts and engagement scores of every fold
up to the cutoff (the first fold's: the most data scrambled), and churn risk at the cutoff, must stay
bit-identical. A spy model that reads the
panel after the cutoff is caught by the same check, so the check can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from interest_core.analytics.churn import ChurnModel
from interest_core.forecasting import backtest
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.forecasters.base import (
    Forecaster,
    ProgressCallback,
    forecast_frame,
    future_periods,
    to_matrix,
)
from tests.builders import churny_panel
from tests.forecast_data import synthetic_panel

Outputs = dict[str, pd.DataFrame]
HORIZON, FOLDS = 2, 2  # disjoint test windows: cutoffs 4 and 2 weeks before the last period


def leak_panel() -> pd.DataFrame:
    panel = synthetic_panel(n_users=8, n_categories=4, n_periods=20, seed=3)
    return panel.assign(n_buy=(panel["n_view"] // 3).astype(int), n_fav=0, n_cart=0)


def scrambled_after(panel: pd.DataFrame, cutoff: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """The rows up to ``cutoff`` untouched; after it, everything shuffled and scaled, plus fake rows."""
    rng = np.random.default_rng(seed)
    counts = [c for c in panel.columns if c.startswith("n_")]
    late = panel["period"] > cutoff
    future = panel[late].reset_index(drop=True)
    for column in ("user_id", "category"):
        future[column] = rng.permutation(future[column].to_numpy())
    future["interest"] = rng.permutation(future["interest"].to_numpy()) * rng.uniform(0.1, 10.0, len(future))
    for column in counts:
        future[column] = rng.permutation(future[column].to_numpy()) + rng.integers(0, 5, len(future))
    periods = sorted(future["period"].unique())
    known = panel.loc[~late, ["user_id", "category"]].drop_duplicates().head(5)
    fake = [(f"fake{i}", f"new{i % 3}", p, 50.0 + i) for i in range(6) for p in periods]
    fake += [(u, "new0", p, 7.0) for u in known["user_id"] for p in periods]  # known users, a new category
    fake += [(u, c, p, 500.0) for u, c in known.itertuples(index=False) for p in periods]  # bursts of known pairs
    extra = pd.DataFrame(fake, columns=["user_id", "category", "period", "interest"])
    for column in counts:
        extra[column] = extra["interest"].astype(int)
    out = pd.concat([panel[~late], future, extra], ignore_index=True).astype(panel.dtypes.to_dict())
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # row order carries no information


def check_no_leak(outputs: Callable[[pd.DataFrame, pd.Timestamp], Outputs], panel: pd.DataFrame,
                  cutoff: pd.Timestamp) -> None:
    """``outputs(panel, cutoff)`` equals ``outputs(scrambled panel, cutoff)`` bit for bit."""
    changed = scrambled_after(panel, cutoff)
    early = changed[changed["period"] <= cutoff]
    pd.testing.assert_frame_equal(early.sort_values(["user_id", "category", "period"], ignore_index=True),
                                  panel[panel["period"] <= cutoff].sort_values(["user_id", "category", "period"],
                                                                               ignore_index=True))
    assert len(changed) > len(panel) and changed["period"].max() == panel["period"].max()
    expected, got = outputs(panel, cutoff), outputs(changed, cutoff)
    assert expected.keys() == got.keys() and expected
    for name, frame in expected.items():
        assert not frame.empty, name
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


def fold_cutoffs(panel: pd.DataFrame) -> list[pd.Timestamp]:
    last = pd.Timestamp(panel["period"].max())
    return [last - pd.Timedelta(weeks=HORIZON * k) for k in range(FOLDS, 0, -1)]


def backtest_outputs(target: str, names: tuple[str, ...]) -> Callable[[pd.DataFrame, pd.Timestamp], Outputs]:
    """Forecasts (yhat, intervals, engagement scores) of every fold whose cutoff is not after ``cutoff``."""
    def outputs(panel: pd.DataFrame, cutoff: pd.Timestamp) -> Outputs:
        Clairvoyant.panel = panel
        topk = backtest.topk_map_fn(panel, 2) if target == "category_demand" else None
        result = backtest.run(panel, target, [make_forecaster(n) if n in NAMES else Clairvoyant() for n in names],
                              "W", horizon=HORIZON, folds=FOLDS, step=HORIZON, category_map_fn=topk)
        assert list(result.cutoffs) == fold_cutoffs(panel)
        forecasts = result.forecasts.drop(columns="y")  # the actuals are meant to change
        forecasts = forecasts[forecasts["cutoff"] <= cutoff]
        return {f"{target} forecasts": forecasts.assign(unique_id=forecasts["unique_id"].astype(str))
                .sort_values(["model", "fold", "unique_id", "period"], ignore_index=True)}

    return outputs


def churn_outputs(panel: pd.DataFrame, cutoff: pd.Timestamp) -> Outputs:
    model = ChurnModel(horizon=2, short_window=3, long_window=6).fit(panel, last_period=cutoff)
    return {"churn risk": model.predict_risk()}


class Clairvoyant(Forecaster):
    """A leaking model: it forecasts the mean interest the panel holds after its training window."""

    name: ClassVar[str] = "clairvoyant"
    panel: ClassVar[pd.DataFrame] = pd.DataFrame()

    def __init__(self) -> None:
        pass

    def _fit(self, df: pd.DataFrame, freq: str, progress: ProgressCallback | None) -> None:
        _, self.ids_, _ = to_matrix(df)

    def _predict(self, h: int, levels: tuple[int, ...]) -> pd.DataFrame:
        seen = Clairvoyant.panel
        peek = float(seen.loc[seen["period"] > self.last_period_, "interest"].mean())
        yhat = np.full((len(self.ids_), h), peek)
        return forecast_frame(self.ids_, future_periods(self.last_period_, h, self.freq_), self.name, yhat,
                              np.full(len(self.ids_), min(peek / 100.0, 1.0)),
                              intervals={lv: (yhat, yhat) for lv in levels})


NAMES = ("last_value", "seasonal_naive", "window_mean", "recency_decay", "arima")
TARGET_MODELS = {
    "engagement": NAMES[:4],  # ARIMA forecasts totals, not (user, category) pairs
    "user_total": NAMES,
    "category_demand": NAMES,
}


@pytest.mark.parametrize("target", list(TARGET_MODELS))
def test_backtest_forecasts_and_scores_ignore_everything_after_the_cutoff(target: str) -> None:
    panel = leak_panel()
    check_no_leak(backtest_outputs(target, TARGET_MODELS[target]), panel, fold_cutoffs(panel)[0])


@pytest.mark.slow
def test_lstm_forecasts_ignore_everything_after_the_cutoff() -> None:
    pytest.importorskip("tensorflow")
    panel = leak_panel()
    small = {"window": 4, "units": 8, "epochs": 2, "batch_size": 64, "patience": 1, "horizon_train": HORIZON}

    def outputs(frame: pd.DataFrame, cutoff: pd.Timestamp) -> Outputs:
        result = backtest.run(frame, "engagement", [make_forecaster("lstm", **small)], "W", horizon=HORIZON,
                              folds=1)
        forecasts = result.forecasts.drop(columns="y")
        return {"lstm forecasts": forecasts.assign(unique_id=forecasts["unique_id"].astype(str))}

    check_no_leak(outputs, panel, fold_cutoffs(panel)[-1])


def test_churn_risk_ignores_everything_after_the_cutoff() -> None:
    panel = churny_panel(n_users=90, n_weeks=20, seed=2)
    for weeks_before_end in (2, 5):
        check_no_leak(churn_outputs, panel, panel["period"].max() - pd.Timedelta(weeks=weeks_before_end))


@pytest.mark.parametrize("target", ["engagement", "user_total"])
def test_a_model_that_reads_past_its_cutoff_is_caught(target: str) -> None:
    panel = leak_panel()
    honest = ("recency_decay",)
    check_no_leak(backtest_outputs(target, honest), panel, fold_cutoffs(panel)[0])
    with pytest.raises(AssertionError, match="forecasts"):
        check_no_leak(backtest_outputs(target, (*honest, "clairvoyant")), panel, fold_cutoffs(panel)[0])


def test_a_churn_model_fitted_past_its_cutoff_is_caught() -> None:
    panel = churny_panel(n_users=90, n_weeks=20, seed=2)
    cutoff = panel["period"].max() - pd.Timedelta(weeks=5)

    def fitted_on_everything(frame: pd.DataFrame, cut: pd.Timestamp) -> Outputs:
        return {"churn risk": ChurnModel(horizon=2, short_window=3, long_window=6).fit(frame).predict_risk(cut)}

    with pytest.raises(AssertionError, match="churn risk"):
        check_no_leak(fitted_on_everything, panel, cutoff)
