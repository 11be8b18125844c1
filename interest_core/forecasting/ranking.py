"""Per-user ranking metrics the way recommender papers report them, vectorised over a user x item matrix.

Each user (a row) ranks its candidates (valid cells) by score. Per user we measure:

- ``auc``: the user's own ROC AUC (ties count half), defined when the user has both classes; its mean
  over those users is ``gauc`` (the DIN / DIEN "group AUC", unweighted);
- ``hit_rate@K``, ``precision@K`` (hits / K), ``recall@K`` (hits / the user's relevant items) and
  ``ndcg@K`` (binary relevance), defined for users with at least one relevant item;
- the same four under a random ranking of the same candidates (their expected values, exact).

Ties are broken pessimistically: among equal scores, negatives rank first, so a model that scores
everything the same gets no credit from the candidates' order. ``relevant`` may exceed the positives
among the candidates (relevant items the candidate set cannot hold, e.g. categories first seen after
the cutoff): they count in recall's and NDCG's denominators and can never be hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import rankdata

KS: tuple[int, ...] = (5, 10)
TOPK_METRICS: tuple[str, ...] = ("hit_rate", "precision", "recall", "ndcg")


class Estimate(NamedTuple):
    """A metric's value, its bootstrap interval over users and how many users it averages."""

    value: float
    lo: float
    hi: float
    n: int


def _discounts(k: int) -> np.ndarray:
    """Cumulative DCG of i hits at the top, i = 0..k."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])


def matrix_ranking(scores: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None,
                   relevant: np.ndarray | None = None, ks: Sequence[int] = KS,
                   new: np.ndarray | None = None) -> pd.DataFrame:
    """Per-user metrics (one row per matrix row) from (users x items) scores, labels and a validity mask.

    Columns: n (candidates), n_pos (positives among them), n_relevant, auc, then for each K
    hits@K, hit_rate@K, precision@K, recall@K, ndcg@K and random_<same>; with ``new`` (items new to
    the user) also new_hits@K. NaN where a metric is undefined.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    ok = np.ones_like(y) if valid is None else np.asarray(valid, dtype=bool)
    y = y & ok
    finite = np.where(ok & np.isfinite(s), s, np.inf)
    floor = float(finite.min()) - 1.0 if np.isfinite(finite).any() else 0.0
    s = np.where(ok, np.where(np.isnan(s), floor, s), -np.inf)  # no score ranks last; padding below everything
    n = ok.sum(axis=1)
    n_pos = y.sum(axis=1)
    n_rel = n_pos if relevant is None else np.maximum(np.asarray(relevant, dtype=float), n_pos)
    out: dict[str, np.ndarray] = {"n": n, "n_pos": n_pos, "n_relevant": n_rel}
    # Own AUC: Mann-Whitney on average ranks; padding sits strictly below every candidate.
    ranks = rankdata(s, axis=1, method="average")
    n_pad = (~ok).sum(axis=1)
    n_neg = n - n_pos
    u_stat = (ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2.0 - n_pos * n_pad
    with np.errstate(invalid="ignore", divide="ignore"):
        out["auc"] = np.where((n_pos > 0) & (n_neg > 0), u_stat / (n_pos * n_neg), np.nan)
    order = np.lexsort((y.astype(np.int8), -s), axis=1)  # score descending; ties: negatives first
    ranked_hits = np.take_along_axis(y, order, axis=1)
    ranked_new = None if new is None else np.take_along_axis(np.asarray(new, dtype=bool) & y, order, axis=1)
    has_rel = n_rel > 0
    for k in ks:
        top = ranked_hits[:, :k].astype(float)
        hits = top.sum(axis=1)
        out[f"hits@{k}"] = hits
        if ranked_new is not None:
            out[f"new_hits@{k}"] = ranked_new[:, :k].sum(axis=1).astype(float)
        gains = (top / np.log2(np.arange(top.shape[1]) + 2.0)).sum(axis=1)
        disc = _discounts(k)
        ideal = disc[np.minimum(n_rel, k).astype(int)]
        k_eff = np.minimum(n, k)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, n_pos / np.maximum(n, 1), 0.0)
            out[f"hit_rate@{k}"] = np.where(has_rel, hits > 0, np.nan)
            out[f"precision@{k}"] = np.where(has_rel, hits / k, np.nan)
            out[f"recall@{k}"] = np.where(has_rel, hits / n_rel, np.nan)
            out[f"ndcg@{k}"] = np.where(has_rel, gains / ideal, np.nan)
            # Random ranking: k_eff draws without replacement from n candidates holding n_pos positives.
            miss_all = np.where(n - n_pos >= k_eff,
                                np.exp(gammaln(n - n_pos + 1) - gammaln(n - n_pos - k_eff + 1)
                                       - gammaln(n + 1) + gammaln(n - k_eff + 1)), 0.0)
            expected_hits = k_eff * share
            out[f"random_hit_rate@{k}"] = np.where(has_rel, 1.0 - miss_all, np.nan)
            out[f"random_precision@{k}"] = np.where(has_rel, expected_hits / k, np.nan)
            out[f"random_recall@{k}"] = np.where(has_rel, expected_hits / n_rel, np.nan)
            out[f"random_ndcg@{k}"] = np.where(has_rel, share * disc[k_eff.astype(int)] / ideal, np.nan)
    return pd.DataFrame(out)


def frame_ranking(frame: pd.DataFrame, ks: Sequence[int] = KS, *, user_col: str = "user_id",
                  score_col: str = "score", label_col: str = "label",
                  relevant: pd.Series | None = None) -> pd.DataFrame:
    """``matrix_ranking`` of a long (user, candidate) frame, padded per user; indexed by user."""
    users, codes = np.unique(frame[user_col].astype(str).to_numpy(), return_inverse=True)
    if not len(users):
        return matrix_ranking(np.zeros((0, 1)), np.zeros((0, 1), dtype=bool), ks=ks).set_index(pd.Index([]))
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(len(users)))
    col = np.arange(len(order)) - starts[sorted_codes]
    width = int(col.max()) + 1
    scores = np.full((len(users), width), np.nan)
    labels = np.zeros((len(users), width), dtype=bool)
    valid = np.zeros((len(users), width), dtype=bool)
    scores[sorted_codes, col] = frame[score_col].to_numpy(dtype=float)[order]
    labels[sorted_codes, col] = frame[label_col].to_numpy(dtype=bool)[order]
    valid[sorted_codes, col] = True
    rel = None if relevant is None else relevant.reindex(users).fillna(0.0).to_numpy(dtype=float)
    out = matrix_ranking(scores, labels, valid, rel, ks)
    out.index = pd.Index(users, name=user_col)
    return out


def bootstrap_mean(values: np.ndarray | pd.Series, n_boot: int = 200, level: float = 0.95,
                   seed: int = 0) -> Estimate:
    """Mean of the defined per-user values with a percentile bootstrap interval over users."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return Estimate(float(v.mean()), float(lo), float(hi), int(v.size))


def _weighted_auc(groups: np.ndarray, labels: np.ndarray, weights: np.ndarray, n_groups: int) -> float:
    pos = np.bincount(groups, weights=weights * labels, minlength=n_groups)
    neg = np.bincount(groups, weights=weights * ~labels, minlength=n_groups)
    below = np.cumsum(neg) - neg  # negatives with a strictly lower score
    total = pos.sum() * neg.sum()
    return float((pos * (below + 0.5 * neg)).sum() / total) if total > 0 else float("nan")


def pooled_auc(labels: np.ndarray | pd.Series, scores: np.ndarray | pd.Series, users: np.ndarray | pd.Series,
               n_boot: int = 200, level: float = 0.95, seed: int = 0) -> Estimate:
    """Pooled ROC AUC with an interval from resampling users (their candidates move together)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    finite = s[np.isfinite(s)]
    s = np.where(np.isnan(s), (float(finite.min()) - 1.0) if finite.size else 0.0, s)
    _, groups = np.unique(s, return_inverse=True)  # score groups, ascending
    n_groups = int(groups.max()) + 1 if groups.size else 0
    value = _weighted_auc(groups, y, np.ones(y.size), n_groups)
    _, user_codes = np.unique(np.asarray(users).astype(str), return_inverse=True)
    n_users = int(user_codes.max()) + 1 if user_codes.size else 0
    if not np.isfinite(value) or n_users == 0:
        return Estimate(value, float("nan"), float("nan"), n_users)
    rng = np.random.default_rng(seed)
    draws = [_weighted_auc(groups, y, np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)[user_codes],
                           n_groups) for _ in range(n_boot)]
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.nanpercentile(draws, [tail, 100.0 - tail])
    return Estimate(value, float(lo), float(hi), n_users)


def summarise(per_user: pd.DataFrame, ks: Sequence[int] = KS, n_boot: int = 200, seed: int = 0) -> dict[str, Estimate]:
    """gauc and the top-K metrics (model and random) averaged over the users where each is defined."""
    out = {"gauc": bootstrap_mean(per_user["auc"], n_boot, seed=seed)}
    for k in ks:
        for name in TOPK_METRICS:
            for prefix in ("", "random_"):
                column = f"{prefix}{name}@{k}"
                out[column] = bootstrap_mean(per_user[column], n_boot, seed=seed)
    return out
