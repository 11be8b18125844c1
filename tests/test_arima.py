"""ARIMA per series: order choice, fallbacks, the max_series guard, and parallel == serial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interest_core.errors import ModelError
from interest_core.forecasting.forecasters import arima
from interest_core.forecasting.forecasters.arima import ArimaForecaster, candidate_orders, fit_series

PERIODS = pd.date_range("2024-01-01", periods=30, freq="7D")


def ar1(n: int, phi: float, seed: int, level: float = 50.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[0] = 0.0
    for t in range(1, n):
        y[t] = phi * y[t - 1] + rng.normal(0.0, 3.0)
    return level + y


def frame_of(rows: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": uid, "period": PERIODS[:len(y)], "y": y}) for uid, y in rows.items()],
                     ignore_index=True)


def test_orders_follow_acf_pacf_and_always_include_the_usual_three() -> None:
    y = ar1(60, 0.8, seed=1)
    orders = candidate_orders(y)
    assert {(0, 1, 1), (1, 1, 0), (1, 0, 0)} <= set(orders)
    assert all(0 <= p <= 2 and 0 <= d <= 1 and 0 <= q <= 2 for p, d, q in orders)
    assert any(p >= 1 for p, _, _ in orders)  # the PACF's lag-1 spike is proposed
    best = fit_series(y.tolist(), None, min_length=8, maxiter=200)
    assert tuple(best["order"]) in set(orders) and np.isfinite(best["aic"])


def test_intervals_are_statsmodels_own() -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = ar1(30, 0.5, seed=2)
    model = ArimaForecaster(order=(1, 0, 0)).fit(frame_of({"s": y}), "W")
    out = model.predict(3, level=[80])
    ref = SARIMAX(y, order=(1, 0, 0), trend="c").fit(disp=False, maxiter=200)
    fc = ref.get_forecast(3)
    np.testing.assert_allclose(out["yhat"], fc.predicted_mean, rtol=1e-6)
    np.testing.assert_allclose(out[["lo_80", "hi_80"]].to_numpy(), fc.conf_int(alpha=0.2), rtol=1e-6)


def test_short_and_flat_series_fall_back_and_are_counted() -> None:
    frame = frame_of({"ok": ar1(20, 0.5, seed=3), "flat": np.full(20, 4.0)})
    model = ArimaForecaster(min_length=8)
    model.fit(frame, "W")
    assert model.n_fallback_ == 1 and model.fallback_reasons_ == {"flat": 1}
    out = model.predict(2, level=[95])
    fallbacks = model.fallbacks()  # a typed result, not frame.attrs (lost on concat / merge)
    assert (fallbacks.count, fallbacks.ids, fallbacks.reasons, fallbacks.model) == (1, ("flat",), {"flat": 1},
                                                                                   "window_mean")
    assert not out.attrs
    assert out.loc[out["unique_id"] == "flat", "yhat"].tolist() == [4.0, 4.0]  # window mean of a constant
    assert out["unique_id"].tolist() == ["flat", "flat", "ok", "ok"]
    short = ArimaForecaster(min_length=21)
    short.fit(frame, "W")  # 20 periods < 21
    assert short.n_fallback_ == 2 and short.fallback_reasons_ == {"too_short": 2}
    assert len(short.predict(2)) == 4


def test_max_series_guard_names_the_fix() -> None:
    frame = frame_of({f"s{i}": ar1(12, 0.3, seed=i) for i in range(5)})
    with pytest.raises(ModelError, match=r"aggregates .* never on every user x category pair"):
        ArimaForecaster(max_series=4).fit(frame, "W")


def test_progress_reports_series_done() -> None:
    seen: list[tuple[float, str]] = []
    frame = frame_of({f"s{i}": ar1(12, 0.3, seed=i) for i in range(3)})
    ArimaForecaster(order=(0, 1, 1)).fit(frame, "W", progress=lambda f, m: seen.append((f, m)))
    assert seen[-1] == (1.0, "3/3 series fitted")


@pytest.mark.slow
def test_parallel_fit_matches_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small thresholds so 40 series really go through two spawned workers, for fit and forecast.
    monkeypatch.setattr(arima, "FIT_SERIES_PER_WORKER", 8)
    monkeypatch.setattr(arima, "FORECAST_SERIES_PER_WORKER", 8)
    rows = {f"s{i:02d}": ar1(24, 0.2 + 0.6 * (i % 3) / 2, seed=i) for i in range(40)}
    frame = frame_of(rows)
    serial, parallel = ArimaForecaster(n_jobs=1), ArimaForecaster(n_jobs=2)
    seen: list[float] = []
    serial.fit(frame, "W")
    parallel.fit(frame, "W", progress=lambda f, m: seen.append(f))
    assert parallel.orders_ == serial.orders_ and parallel.params_ == serial.params_
    assert len(seen) > 1 and seen[-1] == 1.0  # chunks reported as they finished
    pd.testing.assert_frame_equal(parallel.predict(4, level=[80, 95]), serial.predict(4, level=[80, 95]))
