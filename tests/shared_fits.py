"""One training per LSTM and data in a session: the ``shared_fits`` fixture (tests/conftest.py).

Several accuracy tests on the Tmall log train the same LSTM on the same data: the engagement LSTM at cutoffs
2013-06-24 and 07-08 (test_backtest, test_lstm, test_lstm_scale), the next-interest LSTM at 07-08
(test_next_interest, test_next_interest_cli). Both LSTMs seed Keras and turn on TensorFlow's op determinism,
so a second fit of the same class with the same parameters on equal data trains the same model again.
During a test that takes the fixture, such a fit gets the learned state of the earlier one (a model trained
in this session, on the real data) instead of training again; every other fit trains as before, and the
assertions read the same results. Tests about fitting itself (determinism, progress, errors) do not take
it. Data are compared by content (a hash of every value), parameters by value; a ``progress`` callback
always trains (it would not be called).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

LSTM_LABEL = "lstm"  # what backtest.model_labels calls both LSTMs (lstm, lstm#1, lstm#2, ...)


def _digest(parts: Iterator[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def frame_digest(df: pd.DataFrame) -> str:
    """Every value, column name and dtype of a training frame."""
    return _digest(iter([repr(list(df.columns)).encode(), repr(list(df.dtypes.astype(str))).encode(),
                         pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()]))


def history_digest(history: Any) -> str:
    """Every id, period and cell of an ``InterestHistory``."""
    def parts() -> Iterator[bytes]:
        yield "\0".join(map(str, history.users)).encode()
        yield "\0".join(map(str, history.categories)).encode()
        yield np.asarray(history.periods.asi8).tobytes()
        for mat in history.interest:
            csr = mat.tocsr()
            yield repr(csr.shape).encode()
            for arr in (csr.indptr, csr.indices, csr.data):
                yield np.ascontiguousarray(arr).tobytes()
    return _digest(parts())


@dataclass
class SharedFits:
    """Learned states by (class, parameters, data, fit arguments), with the seconds their training took."""

    states: dict[tuple[str, ...], tuple[dict[str, Any], float]] = field(default_factory=dict)
    trained: int = 0  # fits that trained, this session
    shared: int = 0  # fits served from an earlier one, this session
    seconds: list[float] = field(default_factory=list)  # per LSTM fit of the current test, in call order

    def fit_seconds(self, timings: pd.DataFrame) -> pd.DataFrame:
        """A backtest's ``timings`` with each LSTM's own training seconds (a shared fit's lookup takes ~0 s)."""
        rows = timings.index[timings["model"].astype(str).str.startswith(LSTM_LABEL)]
        assert len(rows) == len(self.seconds), (list(timings["model"]), self.seconds)
        out = timings.copy()
        out.loc[rows, "fit_s"] = self.seconds
        return out

    def wrap(self, fit: Callable[..., Any], digest: Callable[[Any], str],
             params: Callable[[Any, Any], dict[str, Any]]) -> Callable[..., Any]:
        """``fit(self, data, *args)`` that trains once per key and restores the learned state afterwards."""
        def shared_fit(model: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("progress") is not None:
                return fit(model, data, *args, **kwargs)
            kwargs.pop("progress", None)
            own = params(model, data)
            key = (type(model).__qualname__, repr(sorted(own.items())), digest(data), repr(args), repr(kwargs))
            if key in self.states:
                state, seconds = self.states[key]
                vars(model).update(state)
                self.shared += 1
            else:
                started = time.perf_counter()
                fit(model, data, *args, **kwargs)
                seconds = time.perf_counter() - started
                self.states[key] = ({k: v for k, v in vars(model).items() if k not in own}, seconds)
                self.trained += 1
            self.seconds.append(seconds)
            return model
        return shared_fit


def _forecaster_params(model: Any, df: pd.DataFrame) -> dict[str, Any]:
    return dict(model.get_params())


def _next_interest_params(model: Any, history: Any) -> dict[str, Any]:
    """``max_users`` at or above the users of ``history`` trains on every user, as None does."""
    own = dict(model.get_params())
    if own.get("max_users") is not None and len(history.users) <= int(own["max_users"]):
        own["max_users"] = None
    return own


_SESSION = SharedFits()


def sharing(monkeypatch: pytest.MonkeyPatch) -> SharedFits:
    """Patch both LSTMs' ``fit`` for the current test (``monkeypatch`` undoes it); the session's shared fits."""
    from interest_core.forecasting.forecasters.lstm import LSTMForecaster
    from interest_core.forecasting.next_interest.sequence import SequenceLSTM

    _SESSION.seconds = []
    monkeypatch.setattr(LSTMForecaster, "fit", _SESSION.wrap(LSTMForecaster.fit, frame_digest, _forecaster_params))
    monkeypatch.setattr(SequenceLSTM, "fit", _SESSION.wrap(SequenceLSTM.fit, history_digest, _next_interest_params))
    return _SESSION
