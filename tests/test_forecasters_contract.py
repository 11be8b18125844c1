"""One contract, every forecaster (scikit-learn's check_estimator idea): see forecasters/base.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import interest_core
from interest_core.errors import ModelError, NotFittedError
from interest_core.forecasting.forecasters import available, make_forecaster
from interest_core.forecasting.forecasters.base import FORECAST_COLUMNS, Forecaster, future_periods, interval_columns
from interest_core.forecasting.forecasters.baselines import RecencyDecay, WindowMean
from tests.forecast_data import engagement_frame

H = 3
LEVELS = [80, 95]
LSTM_PRESENT = (Path(interest_core.__file__).parent / "forecasting" / "forecasters" / "lstm.py").exists()

# name -> factory of a small, fast instance
FACTORIES: dict[str, Callable[[], Forecaster]] = {
    "last_value": lambda: make_forecaster("last_value"),
    "seasonal_naive": lambda: make_forecaster("seasonal_naive", season_length=4),
    "window_mean": lambda: make_forecaster("window_mean"),
    "recency_decay": lambda: make_forecaster("recency_decay"),
    "arima": lambda: make_forecaster("arima", n_jobs=1),
}
CASES = [pytest.param(name, id=name) for name in FACTORIES]
if LSTM_PRESENT:  # the LSTM joins the same contract; TensorFlow makes it slow-ish
    FACTORIES["lstm"] = lambda: make_forecaster("lstm", window=4, units=4, epochs=2, batch_size=64, patience=1)
    CASES.append(pytest.param("lstm", id="lstm", marks=pytest.mark.slow))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return engagement_frame(n_users=5, n_categories=4, n_periods=16, seed=3)


@pytest.fixture(scope="module")
def fitted_cache() -> dict[str, tuple[Forecaster, pd.DataFrame]]:
    return {}


def fitted(name: str, frame: pd.DataFrame, cache: dict[str, tuple[Forecaster, pd.DataFrame]]
           ) -> tuple[Forecaster, pd.DataFrame]:
    """Fit once per module and forecaster (the LSTM is the slow one); returns the model and its forecast."""
    if name not in cache:
        model = FACTORIES[name]()
        assert model.fit(frame, "W") is model  # fit returns self
        cache[name] = (model, model.predict(H, level=LEVELS))
    return cache[name]


def test_registry_lists_every_forecaster() -> None:
    names = set(available())
    assert {"last_value", "seasonal_naive", "window_mean", "recency_decay", "arima"} <= names
    assert ("lstm" in names) == LSTM_PRESENT
    with pytest.raises(ModelError, match="unknown forecaster"):
        make_forecaster("prophet")
    with pytest.raises(ModelError, match="no parameter"):
        make_forecaster("window_mean", windw=3)


@pytest.mark.parametrize("name", CASES)
def test_unfitted_model_refuses_to_predict(name: str) -> None:
    model = FACTORIES[name]()
    with pytest.raises(NotFittedError):
        model.predict(H)
    with pytest.raises(NotFittedError):
        model.to_state()
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(model))  # __init__ stores params only


@pytest.mark.parametrize("name", CASES)
def test_predict_shape_columns_and_intervals(name: str, frame: pd.DataFrame, fitted_cache: dict) -> None:
    model, out = fitted(name, frame, fitted_cache)
    assert list(out.columns[:len(FORECAST_COLUMNS)]) == list(FORECAST_COLUMNS)
    assert set(out.columns) == {*FORECAST_COLUMNS, *interval_columns(LEVELS)}
    n_series = frame["unique_id"].nunique()
    assert len(out) == n_series * H
    assert set(out["unique_id"].astype(str)) == set(frame["unique_id"].astype(str))
    expected = future_periods(frame["period"].max(), H, "W")
    assert out.groupby("unique_id", observed=True)["period"].apply(list).map(lambda p: p == list(expected)).all()
    assert (out["model"] == model.name).all()
    assert out[["yhat", *interval_columns(LEVELS)]].notna().all().all()
    assert (out["yhat"] >= 0).all()
    tol = 1e-9
    for lv in LEVELS:
        assert (out[f"lo_{lv}"] <= out["yhat"] + tol).all() and (out["yhat"] <= out[f"hi_{lv}"] + tol).all()
    assert (out["lo_95"] <= out["lo_80"] + tol).all() and (out["hi_80"] <= out["hi_95"] + tol).all()
    p = out["p_engage"]
    assert p.between(0.0, 1.0).all()
    assert (out.groupby("unique_id", observed=True)["p_engage"].nunique() == 1).all()  # one value per series
    with pytest.raises(ModelError):
        model.predict(0)


@pytest.mark.parametrize("name", CASES)
def test_refit_is_deterministic(name: str, frame: pd.DataFrame, fitted_cache: dict) -> None:
    model, out = fitted(name, frame, fitted_cache)
    again = model.clone()
    assert again.get_params() == model.get_params() and not hasattr(again, "fitted_")
    pd.testing.assert_frame_equal(again.fit(frame, "W").predict(H, level=LEVELS), out)


@pytest.mark.parametrize("name", CASES)
def test_state_round_trip_predicts_identically(name: str, frame: pd.DataFrame, fitted_cache: dict,
                                               tmp_path: Path) -> None:
    model, out = fitted(name, frame, fitted_cache)
    state = json.loads(json.dumps(model.to_state(), allow_nan=True))  # JSON-able, no pickle
    assert set(state) == set(type(model).learned_attributes())  # declared once, serialised by the base
    written = model.write_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written) == sorted(type(model).files)
    loaded = type(model).from_state(model.get_params(), state, {f: tmp_path / f for f in written})
    assert loaded.fitted_ and loaded.get_params() == model.get_params()  # fitted on return: nothing half-done
    pd.testing.assert_frame_equal(loaded.predict(H, level=LEVELS), out)
    with pytest.raises(ValueError, match="state lacks"):
        type(model).from_state(model.get_params(), {k: v for k, v in state.items() if k != "freq_"})


@pytest.mark.parametrize("name", CASES)
def test_scikit_learn_parameters_clone_and_repr(name: str, frame: pd.DataFrame, fitted_cache: dict) -> None:
    from sklearn.base import BaseEstimator, clone

    model, _ = fitted(name, frame, fitted_cache)
    assert isinstance(model, BaseEstimator)
    copy = clone(model)
    assert type(copy) is type(model) and copy.get_params() == model.get_params() and not hasattr(copy, "fitted_")
    first = sorted(model.get_params())[0]
    copy.set_params(**{first: model.get_params()[first]})
    assert repr(copy).startswith(f"{type(model).__name__}(")
    with pytest.raises(ValueError, match="Invalid parameter"):
        copy.set_params(no_such_parameter=1)


def test_baseline_forecasts_by_hand() -> None:
    periods = pd.date_range("2024-01-01", periods=6, freq="7D")
    frame = pd.DataFrame({"unique_id": "s", "period": periods, "y": [0.0, 4.0, 0.0, 2.0, 2.0, 6.0]})
    yhat = {name: make_forecaster(name, h_cal=0).fit(frame, "W").predict(2)["yhat"].tolist()
            for name in ("last_value", "window_mean", "recency_decay")}
    assert yhat["last_value"] == [6.0, 6.0]
    assert yhat["window_mean"] == [2.5, 2.5]  # (0 + 2 + 2 + 6) / 4
    weights = 0.5 ** (np.arange(6)[::-1] / 2.0)
    assert yhat["recency_decay"] == pytest.approx([float(weights @ frame["y"] / weights.sum())] * 2)
    seasonal = make_forecaster("seasonal_naive", h_cal=0, season_length=3).fit(frame, "W").predict(4)
    assert seasonal["yhat"].tolist() == [2.0, 2.0, 6.0, 2.0]  # repeats the last 3 periods
    short = make_forecaster("seasonal_naive", h_cal=0).fit(frame, "W").predict(1)  # 52 > 6 periods
    assert short["yhat"].tolist() == [6.0]


# Coverage within these distances of nominal, on 500 exchangeable synthetic series x 4 held-out periods
# (about 1,900 points): an interval half or twice as wide as it should be lands far outside.
COVERAGE_TOLERANCE = {80: 0.05, 95: 0.03}


def check_coverage(out: pd.DataFrame, level: int) -> float:
    inside = float(((out["y"] >= out[f"lo_{level}"]) & (out["y"] <= out[f"hi_{level}"])).mean())
    assert abs(inside - level / 100) <= COVERAGE_TOLERANCE[level], f"{level}% interval covers {inside:.3f}"
    return inside


@pytest.fixture(scope="module")
def held_out() -> tuple[WindowMean, pd.DataFrame]:
    """WindowMean fitted before the last 4 periods; its 80 and 95 % intervals beside the actuals."""
    train = engagement_frame(n_users=100, n_categories=5, n_periods=24, seed=1)
    cut = train["period"].unique()[-4]
    model = WindowMean()
    model.fit(train[train["period"] < cut], "W")
    return model, model.predict(4, level=[80, 95]).merge(train, on=["unique_id", "period"])


def test_conformal_intervals_cover_on_held_out_data(held_out: tuple[WindowMean, pd.DataFrame]) -> None:
    model, out = held_out
    assert len(out) > 1500
    check_coverage(out, 80)  # near nominal on exchangeable synthetic series
    check_coverage(out, 95)
    assert model.n_calibration_ > 0 and model.engage_calibration_ is not None


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_a_miscalibrated_interval_fails_the_coverage_check(held_out: tuple[WindowMean, pd.DataFrame],
                                                           scale: float) -> None:
    _, out = held_out
    yhat = out["yhat"]
    wrong = out.assign(lo_80=yhat - scale * (yhat - out["lo_80"]), hi_80=yhat + scale * (out["hi_80"] - yhat))
    with pytest.raises(AssertionError, match="80% interval covers"):
        check_coverage(wrong, 80)
    with pytest.raises(AssertionError, match="80% interval covers"):  # the 95 % interval labelled 80 %
        check_coverage(out.assign(lo_80=out["lo_95"], hi_80=out["hi_95"]), 80)


def test_too_short_history_skips_calibration() -> None:
    frame = pd.DataFrame({"unique_id": "s", "period": pd.date_range("2024-01-01", periods=3, freq="7D"),
                          "y": [1.0, 0.0, 2.0]})
    model = RecencyDecay(h_cal=4)
    model.fit(frame, "W")
    out = model.predict(2, level=[80])
    assert model.conformal_ is None and out["lo_80"].isna().all()  # no hold-out: no interval, said as NaN
    assert out["p_engage"].between(0, 1).all()
