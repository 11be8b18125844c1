"""Scoring split into groups of whole users, with the file's context handed to each, equals scoring the file whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interest_core.forecasting import scoring, scoring_parts
from interest_core.forecasting.forecasters import make_forecaster
from interest_core.forecasting.forecasters.base import Forecaster

FREQ = "W"


def training_frame(n_users: int = 40, n_cats: int = 5, n_periods: int = 12, seed: int = 0) -> pd.DataFrame:
    """A dense engagement frame: sparse Poisson interest, some pairs idle until late, one flat pair."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2024-01-01", periods=n_periods, freq="W-MON")
    rows = []
    for u in range(n_users):
        for c in rng.choice(n_cats, size=int(rng.integers(1, n_cats + 1)), replace=False):
            rate = rng.gamma(0.6, 2.0)
            y = rng.poisson(rate, n_periods) * (rng.random(n_periods) < 0.5) * 1.0
            if u == 0 and c == rng.integers(0, 1):
                y = np.full(n_periods, 2.0)  # flat: ARIMA falls back to its baseline on it
            if not y.any():
                y[-1] = 1.0
            rows.append(pd.DataFrame({"user_id": f"u{u:03d}", "category": f"c{c}", "period": periods, "y": y}))
    frame = pd.concat(rows, ignore_index=True)
    frame.insert(0, "unique_id", frame["user_id"] + "\x1f" + frame["category"])
    return frame.astype({"unique_id": "string", "user_id": "string", "category": "string"})


def in_parts(model: Forecaster, frame: pd.DataFrame, h: int, n_parts: int) -> pd.DataFrame:
    """Forecast users split into n_parts groups (by a hash, as Spark buckets them), with the file's context."""
    context = scoring_parts.file_context(model, frame, FREQ)
    bucket = pd.util.hash_pandas_object(frame["user_id"], index=False).to_numpy() % n_parts
    parts = [scoring_parts.forecast_part(model, part, FREQ, h, context) for _, part in frame.groupby(bucket)]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)


def same(whole: pd.DataFrame, parts: pd.DataFrame, rtol: float) -> None:
    cols = ["unique_id", "period", "yhat", "p_engage"]
    pd.testing.assert_frame_equal(whole[cols].reset_index(drop=True), parts[cols], check_dtype=False, rtol=rtol)


@pytest.mark.parametrize("name", ["recency_decay", "window_mean", "last_value"])
def test_baselines_in_parts_equal_the_whole_file(name: str) -> None:
    frame = training_frame()
    model = make_forecaster(name)
    whole = scoring._forecast(model, frame, FREQ, 3)
    assert whole["p_engage"].nunique() > 5  # a calibrated mapping, not a constant
    same(whole, in_parts(model, frame, 3, n_parts=4), rtol=1e-12)
    # Without the file's calibration each part calibrates on its own users: the scores move.
    bucket = pd.util.hash_pandas_object(frame["user_id"], index=False).to_numpy() % 4
    alone = pd.concat([scoring._forecast(model, part, FREQ, 3) for _, part in frame.groupby(bucket)])
    alone = alone.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)
    assert not np.allclose(alone["p_engage"], whole["p_engage"].to_numpy(), rtol=1e-6)


def test_arima_in_parts_equals_the_whole_file_including_its_fallback() -> None:
    frame = training_frame(n_users=6, n_cats=2, n_periods=12, seed=3)
    model = make_forecaster("arima", min_length=12)
    fitted = model.clone().fit(frame, FREQ)
    assert fitted.fallbacks().count >= 1  # the flat pair: its p_engage comes from the file-wide baseline
    same(scoring._forecast(model, frame, FREQ, 2), in_parts(model, frame, 2, n_parts=3), rtol=1e-12)


def test_the_calibration_does_not_depend_on_the_order_of_the_parts() -> None:
    sample = scoring_parts.calibration_sample(make_forecaster("recency_decay"), training_frame(), FREQ)
    assert len(sample) > 50 and sample["engaged"].any() and not sample["engaged"].all()
    shuffled = sample.sample(frac=1.0, random_state=1)
    assert scoring_parts.calibration(sample) == scoring_parts.calibration(shuffled)


@pytest.mark.slow
def test_an_lstm_in_parts_equals_the_whole_file() -> None:
    pytest.importorskip("tensorflow")
    frame = training_frame(n_users=60, n_periods=10)
    model = make_forecaster("lstm", window=3, units=4, epochs=1, batch_size=256, horizon_train=2).fit(frame, FREQ)
    whole = scoring._forecast(model, frame, FREQ, 2)
    same(whole, in_parts(model, frame, 2, n_parts=4), rtol=1e-5)
    # Without the category context each part's category channels count only its own users.
    bucket = pd.util.hash_pandas_object(frame["user_id"], index=False).to_numpy() % 4
    alone = pd.concat([model.predict_frame(part, 2) for _, part in frame.groupby(bucket)])
    alone = alone.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)
    assert not np.allclose(alone["p_engage"], whole["p_engage"].to_numpy(), rtol=1e-4)
