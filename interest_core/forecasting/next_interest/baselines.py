"""The baselines every next-interest model must beat: popularity, item-to-item co-occurrence, recency.

- ``popularity``: categories by how many users touched them in the last ``window`` periods (the
  same list for everyone);
- ``item_cf``: item-to-item collaborative filtering: cosine similarity of categories over users
  (who touched both), applied to the user's recency-decayed interest; popularity breaks ties;
- ``recency_decay``: the user's own categories by decayed interest first, then popularity.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import sparse

from interest_core.errors import ModelError
from interest_core.forecasting.next_interest.history import InterestHistory, NextInterestModel


def _unit(values: np.ndarray) -> np.ndarray:
    """Scaled into [0, 1): a tie-breaker that never outranks a score of 1."""
    top = float(values.max()) if values.size else 0.0
    return values / (top * 1.000001) if top > 0 else values


class Popularity(NextInterestModel):
    name: ClassVar[str] = "popularity"

    def __init__(self, window: int = 4) -> None:
        self.window = window

    def _fit(self, history: InterestHistory, horizon: int) -> None:
        if self.window < 1:
            raise ModelError(f"window={self.window}", "pass window >= 1 periods")
        # Recent distinct users first; all-time decayed interest breaks ties among equally popular ones.
        recent = history.popularity(self.window)
        overall = np.asarray(history.decayed(half_life=4.0).sum(axis=0)).ravel()
        self.popularity_ = recent + _unit(overall)

    def _score_in(self, history: InterestHistory, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(rows), len(self.popularity_))).copy()


class ItemCF(NextInterestModel):
    name: ClassVar[str] = "item_cf"

    def __init__(self, half_life: float = 2.0, window: int = 4) -> None:
        self.half_life = half_life
        self.window = window

    def _fit(self, history: InterestHistory, horizon: int) -> None:
        touched = (history.window(0, len(history.periods)) > 0).astype(float).tocsc()
        counts = np.sqrt(np.asarray(touched.sum(axis=0)).ravel())
        norm = sparse.diags(np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0))
        self.similarity_ = (norm @ (touched.T @ touched) @ norm).tocsr()  # cosine over users, diagonal 1
        self.profile_ = history.decayed(self.half_life).log1p().tocsr()
        self.popularity_ = history.popularity(self.window)

    def _score_in(self, history: InterestHistory, rows: np.ndarray) -> np.ndarray:
        profile = (self.profile_[rows] if history is self.history_
                   else history.subset(rows).decayed(self.half_life).log1p())
        cf = np.asarray((profile @ self.similarity_).todense())
        scale = cf.max(axis=1, keepdims=True)
        cf = np.divide(cf, scale, out=np.zeros_like(cf), where=scale > 0)
        return cf + 1e-3 * _unit(self.popularity_)[None, :]


class RecencyDecay(NextInterestModel):
    name: ClassVar[str] = "recency_decay"

    def __init__(self, half_life: float = 2.0, window: int = 4) -> None:
        self.half_life = half_life
        self.window = window

    def _fit(self, history: InterestHistory, horizon: int) -> None:
        self.decayed_ = history.decayed(self.half_life).tocsr()
        self.popularity_ = history.popularity(self.window)

    def _score_in(self, history: InterestHistory, rows: np.ndarray) -> np.ndarray:
        decayed = self.decayed_[rows] if history is self.history_ else history.subset(rows).decayed(self.half_life)
        own = np.asarray(decayed.todense())
        return np.where(own > 0, 2.0 + own, _unit(self.popularity_)[None, :])
