"""How much of the recency prior to add to a model's scores, learnt on held-out users.

A sequence model's softmax is fitted for likelihood over every category; recall@K rewards getting the
top K right, where the user's own categories dominate and, among new ones, recent popularity is hard to
beat (recency decay's strengths). The blend adds ``weight * known + pop_weight * new_popularity`` to the
model's logits: ``known = touched * (1 + log1p(decayed interest))`` (0 for categories the user never
touched), ``new_popularity`` = the category's recent popularity in [0, 1] for categories the user never
touched (0 otherwise). Weights (0, 0) are the model alone; large weights are recency decay with the
model breaking its ties. The pair is the one with the best recall@K on users held out of training, at
positions inside the training window: never on a test window.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

# 0 = the model alone; 1e3 = the user's known categories always first (lexicographic).
BLEND_GRID: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 1e3)
POPULARITY_GRID: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0)


def known_prior(decayed: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """The recency prior per (example, category): 0 for categories the user never touched."""
    return np.where(touched > 0, 1.0 + np.log1p(np.maximum(decayed, 0.0)), 0.0)


def new_popularity(popularity: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """Recent popularity (in [0, 1]) of the categories the user never touched; 0 for the ones it did."""
    return np.where(touched > 0, 0.0, popularity)


def recall_at_k(scores: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Mean over rows with a positive of (positives in the top k) / positives; ties broken pessimistically."""
    y = np.asarray(targets, dtype=bool)
    keep = y.sum(axis=1) > 0
    if not keep.any():
        return float("nan")
    s, y = np.asarray(scores, dtype=float)[keep], y[keep]
    k = min(k, s.shape[1])
    # Top k without a full sort; among equal scores a negative goes first (the smallest nudge that orders them).
    nudged = s - np.where(y, np.spacing(np.abs(s) + 1.0), 0.0)
    top = np.argpartition(-nudged, k - 1, axis=1)[:, :k]
    hits = np.take_along_axis(y, top, axis=1).sum(axis=1)
    return float((hits / y.sum(axis=1)).mean())


def choose_weights(logits: np.ndarray, known: np.ndarray, new_pop: np.ndarray, targets: np.ndarray, k: int,
                   grid: Sequence[float] = BLEND_GRID, pop_grid: Sequence[float] = POPULARITY_GRID,
                   ) -> tuple[tuple[float, float], dict[str, float]]:
    """The (known, popularity) weights with the best held-out recall@k (the smallest among equals), and all."""
    recalls = {(float(w), float(v)): recall_at_k(logits + w * known + v * new_pop, targets, k)
               for w, v in product(grid, pop_grid)}
    finite = {wv: r for wv, r in recalls.items() if np.isfinite(r)}
    shown = {f"{w:g},{v:g}": r for (w, v), r in recalls.items()}
    if not finite:
        return (0.0, 0.0), shown
    best = max(finite.values())
    return min(wv for wv, r in finite.items() if r == best), shown
