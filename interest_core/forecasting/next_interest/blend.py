"""How much of the known-category prior to add to a model's scores, learnt on held-out users.

A sequence model's softmax is fitted for likelihood over every category; recall@K rewards getting the
top K right, where the user's own categories dominate (recency decay's strength). The blend adds
``weight * prior`` to the model's logits, ``prior = touched * (1 + log1p(decayed interest))``: weight 0
is the model alone, a large weight is "the user's own categories first (by decayed interest), then the
model's order". The weight is the one with the best recall@K on users held out of training, at
positions inside the training window: never on a test window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# 0 = the model alone; 1e3 = the user's known categories always first (lexicographic).
BLEND_GRID: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 1e3)


def known_prior(decayed: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """The recency prior per (example, category): 0 for categories the user never touched."""
    return np.where(touched > 0, 1.0 + np.log1p(np.maximum(decayed, 0.0)), 0.0)


def recall_at_k(scores: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Mean over rows with a positive of (positives in the top k) / positives; ties broken pessimistically."""
    y = np.asarray(targets, dtype=bool)
    keep = y.sum(axis=1) > 0
    if not keep.any():
        return float("nan")
    s, y = np.asarray(scores, dtype=float)[keep], y[keep]
    order = np.lexsort((y.astype(np.int8), -s), axis=1)[:, :k]
    hits = np.take_along_axis(y, order, axis=1).sum(axis=1)
    return float((hits / y.sum(axis=1)).mean())


def choose_weight(logits: np.ndarray, prior: np.ndarray, targets: np.ndarray, k: int,
                  grid: Sequence[float] = BLEND_GRID) -> tuple[float, dict[float, float]]:
    """The grid weight with the best held-out recall@k (the smallest among equals) and every weight's recall."""
    recalls = {float(w): recall_at_k(logits + w * prior, targets, k) for w in grid}
    finite = {w: r for w, r in recalls.items() if np.isfinite(r)}
    if not finite:
        return 0.0, recalls
    best = max(finite.values())
    return min(w for w, r in finite.items() if r == best), recalls
