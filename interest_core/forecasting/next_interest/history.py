"""What a next-interest model learns from: each user's interest in every category, period by period.

One sparse (users x categories) matrix per period of the training window: the Tmall log (884 users,
9,531 brands, 17 weeks) is about 70 k non-zero cells, where a dense cube would hold 140 M.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import sparse

from interest_core.errors import ModelError, NotFittedError
from interest_core.periods import period_grid


@dataclass(frozen=True)
class InterestHistory:
    """Interest per period as sparse (users x categories) matrices, oldest period first."""

    users: np.ndarray  # str, row order
    categories: np.ndarray  # str, column order
    periods: pd.DatetimeIndex
    interest: tuple[sparse.csr_matrix, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.users), len(self.categories)

    def decayed(self, half_life: float, end: int | None = None) -> sparse.csr_matrix:
        """Interest summed over periods [0, end) with weight 0.5 ** (age / half_life), age 0 = period end-1."""
        stop = len(self.periods) if end is None else end
        out = sparse.csr_matrix(self.shape)
        for t in range(stop):
            out = out + self.interest[t] * (0.5 ** ((stop - 1 - t) / half_life))
        return out.tocsr()

    def window(self, start: int, stop: int) -> sparse.csr_matrix:
        """Interest summed over periods [start, stop)."""
        out = sparse.csr_matrix(self.shape)
        for t in range(max(start, 0), min(stop, len(self.periods))):
            out = out + self.interest[t]
        return out.tocsr()

    def popularity(self, window: int, end: int | None = None) -> np.ndarray:
        """Distinct users with interest in each category over the ``window`` periods before ``end``."""
        stop = len(self.periods) if end is None else end
        seen = self.window(stop - window, stop)
        return np.asarray((seen > 0).sum(axis=0), dtype=float).ravel()


def history_from_panel(panel: pd.DataFrame, freq: str, start: pd.Timestamp, end: pd.Timestamp) -> InterestHistory:
    """The history of every user and category with interest in periods [start, end] of a long panel."""
    part = panel[(panel["period"] >= start) & (panel["period"] <= end) & (panel["interest"] > 0)]
    if part.empty:
        raise ModelError(f"no interest between {start.date()} and {end.date()}", "pick a later cutoff or more data")
    periods = period_grid(start, end, freq)
    users, rows = np.unique(part["user_id"].astype(str).to_numpy(), return_inverse=True)
    categories, cols = np.unique(part["category"].astype(str).to_numpy(), return_inverse=True)
    slot = periods.get_indexer(pd.DatetimeIndex(part["period"]))
    values = part["interest"].to_numpy(dtype=float)
    mats = tuple(sparse.csr_matrix((values[slot == t], (rows[slot == t], cols[slot == t])),
                                   shape=(len(users), len(categories))) for t in range(len(periods)))
    return InterestHistory(users=users, categories=categories, periods=periods, interest=mats)


class NextInterestModel(ABC):
    """Ranks every category for each user over the next ``horizon`` periods (scikit-learn style).

    ``fit(history, horizon)`` returns self; ``score(rows)`` gives a (len(rows) x categories) array,
    higher = more likely to hold interest in the next horizon. Learned state ends in ``_``.
    """

    name: ClassVar[str] = "next_interest"

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def clone(self) -> Self:
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def fit(self, history: InterestHistory, horizon: int) -> Self:
        if horizon < 1:
            raise ModelError(f"horizon={horizon}", "pass horizon >= 1 periods")
        self.history_ = history
        self.horizon_ = horizon
        self._fit(history, horizon)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        if not hasattr(self, "history_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted", "call fit(history, horizon) first")
        return self._score(np.asarray(rows, dtype=int))

    @abstractmethod
    def _fit(self, history: InterestHistory, horizon: int) -> None: ...

    @abstractmethod
    def _score(self, rows: np.ndarray) -> np.ndarray: ...
