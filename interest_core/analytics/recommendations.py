"""Next categories (or items) per user: cosine similarity on the user x category matrix, against a
popularity baseline, evaluated by HitRate@K and NDCG@K in a time-ordered split.

An interactions frame is long: user_id, item (a category id, or an item id where the data has
them), interest (weighted events). ``panel.user_category_totals`` gives it for categories
(rename category -> item); ``panel.user_item_totals`` gives it for item ids.

    train = interactions(source, end=cutoff); test = interactions(source, start=cutoff)
    model = CooccurrenceRecommender().fit(train)
    recs = model.recommend(k=10)
    evaluate({"cosine": model, "popular": PopularityRecommender().fit(train)}, train, test, k=10)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import normalize

from interest_core.config import BehaviorWeights
from interest_core.panel import EventsSource, user_category_totals, user_item_totals

RECOMMENDATION_COLUMNS = ["user_id", "item", "score", "rank", "known"]
DEFAULT_WEIGHTS = BehaviorWeights()


def interactions(source: EventsSource, *, level: Literal["category", "item"] = "category", start: Any = None,
                 end: Any = None, weights: BehaviorWeights = DEFAULT_WEIGHTS) -> pd.DataFrame:
    """user_id, item, interest over [start, end) for categories or item ids (events without an item skipped)."""
    if level == "category":
        frame = user_category_totals(source, weights, start=start, end=end).rename(columns={"category": "item"})
    else:
        frame = user_item_totals(source, weights, start=start, end=end)
    return frame.astype({"user_id": "string", "item": "string"})


class _Base(BaseEstimator):
    """Shared fit bookkeeping: the user and item vocabularies and the (log-weighted) matrix."""

    known_weight: float

    def _fit_matrix(self, train: pd.DataFrame) -> sparse.csr_matrix:
        frame = train[train["interest"] > 0]
        if frame.empty:
            raise ValueError("no interactions to fit on; widen the training window")
        # Hashed, then only the distinct ids sorted (as np.unique orders them): sorting every row's id as a NumPy
        # string was most of a fit on a large log (4.7 of 11 CPU s of the User page at 100 M events).
        u_idx, users = pd.factorize(frame["user_id"].astype(str), sort=True)
        i_idx, items = pd.factorize(frame["item"].astype(str), sort=True)
        self.users_ = np.asarray(users, dtype=str)
        self.items_ = np.asarray(items, dtype=str)
        # log1p: a user's 200 clicks on one brand should not outweigh everything else they did.
        matrix = sparse.csr_matrix((np.log1p(frame["interest"].to_numpy(float)), (u_idx, i_idx)),
                                   shape=(len(users), len(items)))
        matrix.sum_duplicates()
        self.matrix_ = matrix
        return matrix

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(interactions) first")

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def recommend(self, users: Sequence[str] | None = None, k: int = 10, *, batch: int = 2048) -> pd.DataFrame:
        """user_id, item, score, rank (1 = best), known: the top k per user (users unknown at fit get none).

        Only items with a positive score are listed (a user with no similar users gets fewer).
        Items the user already has are dropped when known_weight is 0, else their score is
        multiplied by known_weight (1 keeps them as they are).
        """
        self._check_fitted()
        index = pd.Index(self.users_)
        wanted = self.users_ if users is None else np.asarray([str(u) for u in users])
        rows = index.get_indexer(wanted)
        rows = rows[rows >= 0]
        parts = []
        for lo in range(0, len(rows), batch):
            chunk = rows[lo:lo + batch]
            known = self.matrix_[chunk].toarray() > 0
            parts.append(self._ranked(self.users_[chunk], self._scores(chunk).astype(float), known, k))
        return self._joined(parts)

    def _ranked(self, users: np.ndarray, scores: np.ndarray, known: np.ndarray, k: int) -> pd.DataFrame:
        """The top k items of each row of ``scores`` (users x items), as ``recommend`` lists them."""
        if self.known_weight == 0:
            scores[known] = -np.inf
        else:
            scores = np.where(known, scores * self.known_weight, scores)
        kk = min(k, scores.shape[1])
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)  # best first; ties by item order (deterministic)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        part = pd.DataFrame({
            "user_id": np.repeat(users, kk),
            "item": self.items_[top.ravel()],
            "score": top_scores.ravel(),
            "rank": np.tile(np.arange(1, kk + 1), len(users)),
            "known": np.take_along_axis(known, top, axis=1).ravel(),
        })
        return part[np.isfinite(part["score"]) & (part["score"] > 0)]  # 0: nothing links them

    @staticmethod
    def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
        out = pd.concat(parts, ignore_index=True)
        out["rank"] = out.groupby("user_id").cumcount() + 1
        return out.astype({"user_id": "string", "item": "string"})[RECOMMENDATION_COLUMNS]


class CooccurrenceRecommender(_Base):
    """Cosine-similarity recommender (scikit-learn estimator contract).

    method='item': item-item cosine over the users that engage both (category co-occurrence);
    a user's score for j = sum over their items i of weight(u, i) * sim(i, j), keeping each item's
    ``neighbors`` most similar items (item-kNN).
    method='user': user-user cosine; the score for j = sum over the ``neighbors`` most similar
    users v of sim(u, v) * weight(v, j).
    Learned: users_, items_, matrix_ (log1p interest); similarity_ (sparse, item method) or unit_ (the
    rows of matrix_ at unit length, user method: ``user_similarity`` computes the asked users' rows).
    """

    def __init__(self, method: Literal["item", "user"] = "user", neighbors: int = 50, known_weight: float = 0.0,
                 shrink: float = 0.0) -> None:
        self.method = method
        self.neighbors = neighbors
        self.known_weight = known_weight
        self.shrink = shrink

    def fit(self, train: pd.DataFrame, y: Any = None) -> CooccurrenceRecommender:
        if self.method not in ("item", "user"):
            raise ValueError(f"unknown method {self.method!r}; use 'item' or 'user'")
        matrix = self._fit_matrix(train)
        if self.method == "item":
            self.similarity_ = _knn_cosine(matrix.T.tocsr(), self.neighbors, self.shrink)
        else:  # users x users does not fit in memory at a million users: rows are computed when asked
            self.unit_ = normalize(matrix, norm="l2", axis=1)
        return self

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        if self.method == "item":
            return np.asarray((self.matrix_[rows] @ self.similarity_).todense())
        return np.asarray((self.user_similarity(rows) @ self.matrix_).todense())

    def recommend_rows(self, rows: pd.DataFrame, k: int = 10) -> pd.DataFrame:
        """``recommend`` for users given by their own (user_id, item, interest) rows, their neighbours found among the
        users the model was fitted on (method='user'): a large log fits on a sample of users and still recommends
        to anyone. A user who is among the fitted users is not their own neighbour, so a fitted user's own rows
        give what ``recommend`` gives; items the fit never saw are left out."""
        self._check_fitted()
        if self.method != "user":
            raise ValueError("recommend_rows needs method='user'; use recommend for the item method")
        summed = (rows[rows["interest"] > 0].astype({"user_id": str, "item": str})
                  .groupby(["user_id", "item"], as_index=False)["interest"].sum())
        summed["weight"] = np.log1p(summed["interest"].to_numpy(float))
        # each user's length over all their items, those the fit never saw included (as a fit with them has it)
        length = np.sqrt((summed["weight"] ** 2).groupby(summed["user_id"]).sum())
        frame = summed[summed["item"].isin(self.items_)]
        if frame.empty:
            return self._joined([])
        users, u_idx = np.unique(frame["user_id"].to_numpy(dtype=str), return_inverse=True)
        i_idx = pd.Index(self.items_).get_indexer(frame["item"].to_numpy(dtype=str))
        matrix = sparse.csr_matrix((frame["weight"].to_numpy(float), (u_idx, i_idx)),
                                   shape=(len(users), len(self.items_)))
        unit = sparse.diags(1.0 / length.reindex(users).to_numpy(float)) @ matrix
        sim = (unit @ self.unit_.T).tocsr()
        fitted = pd.Index(self.users_).get_indexer(users)  # -1: not among the fitted users
        row_of = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))
        sim.data[sim.indices == fitted[row_of]] = 0.0
        if self.shrink > 0:
            factor = ((matrix > 0).astype(float) @ (self.matrix_ > 0).astype(float).T).tocsr()
            factor.data = factor.data / (factor.data + self.shrink)
            sim = sparse.csr_matrix(sim.multiply(factor))
        sim.eliminate_zeros()
        scores = np.asarray((_top_per_row(sim, self.neighbors) @ self.matrix_).todense()).astype(float)
        return self._joined([self._ranked(users, scores, matrix.toarray() > 0, k)])

    def user_similarity(self, rows: np.ndarray) -> sparse.csr_matrix:
        """Rows ``rows`` of the user-user kNN cosine (method='user'): the same values as computing the whole
        matrix (each row of a sparse product depends on that row only), at the cost of the rows asked."""
        self._check_fitted()
        rows = np.asarray(rows, dtype=np.int64)
        sim = (self.unit_[rows] @ self.unit_.T).tocsr()
        row_of = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))
        sim.data[sim.indices == rows[row_of]] = 0.0  # no user is their own neighbour
        if self.shrink > 0:
            binary = (self.matrix_ > 0).astype(float)
            factor = (binary[rows] @ binary.T).tocsr()
            factor.data = factor.data / (factor.data + self.shrink)
            sim = sparse.csr_matrix(sim.multiply(factor))
        sim.eliminate_zeros()
        return _top_per_row(sim, self.neighbors)

    def similar_items(self, item: str, k: int = 10) -> pd.DataFrame:
        """item, similarity: the items most like one item (method='item' only)."""
        self._check_fitted()
        if self.method != "item":
            raise ValueError("similar_items needs method='item'")
        pos = np.flatnonzero(self.items_ == str(item))
        if not pos.size:
            return pd.DataFrame(columns=["item", "similarity"])
        row = self.similarity_[pos[0]].toarray().ravel()
        top = np.argsort(-row, kind="stable")[:k]
        top = top[row[top] > 0]
        return pd.DataFrame({"item": self.items_[top], "similarity": row[top]})


class PopularityRecommender(_Base):
    """Baseline: the items most users engaged with in training, the same list for everyone."""

    def __init__(self, known_weight: float = 0.0) -> None:
        self.known_weight = known_weight

    def fit(self, train: pd.DataFrame, y: Any = None) -> PopularityRecommender:
        matrix = self._fit_matrix(train)
        users_per_item = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(float)
        # Ties broken by total interest, so the order is deterministic and meaningful.
        total = np.asarray(matrix.sum(axis=0)).ravel()
        self.popularity_ = users_per_item + total / (total.max() + 1.0)
        return self

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(rows), 1))


def _knn_cosine(vectors: sparse.csr_matrix, neighbors: int, shrink: float) -> sparse.csr_matrix:
    """Row-by-row cosine similarity, keeping the ``neighbors`` largest per row, diagonal removed.

    ``shrink`` damps similarities built on few co-occurrences: sim * n / (n + shrink).
    """
    unit = normalize(vectors, norm="l2", axis=1)
    sim = (unit @ unit.T).tocsr()
    sim.setdiag(0.0)
    if shrink > 0:
        binary = (vectors > 0).astype(float)
        factor = (binary @ binary.T).tocsr()
        factor.data = factor.data / (factor.data + shrink)
        sim = sparse.csr_matrix(sim.multiply(factor))
    sim.eliminate_zeros()
    return _top_per_row(sim, neighbors)


def _top_per_row(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    matrix = matrix.tocsr()
    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        if hi == lo:
            continue
        data, idx = matrix.data[lo:hi], matrix.indices[lo:hi]
        keep = np.argsort(-data, kind="stable")[:k] if hi - lo > k else np.arange(hi - lo)
        rows.append(np.full(keep.size, r))
        cols.append(idx[keep])
        vals.append(data[keep])
    if not rows:
        return sparse.csr_matrix(matrix.shape)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=matrix.shape)


# -- evaluation -------------------------------------------------------------------------------

def targets(train: pd.DataFrame, test: pd.DataFrame, *, new_only: bool = True) -> pd.DataFrame:
    """user_id, item: what each training user engaged with in the test window (new items only by default)."""
    frame = test.loc[test["interest"] > 0, ["user_id", "item"]].drop_duplicates()
    frame = frame[frame["user_id"].isin(set(train["user_id"]))]
    if new_only:
        seen = train.loc[train["interest"] > 0, ["user_id", "item"]].drop_duplicates()
        frame = frame.merge(seen, on=["user_id", "item"], how="left", indicator=True)
        frame = frame[frame["_merge"] == "left_only"].drop(columns="_merge")
    return frame.astype({"user_id": "string", "item": "string"}).reset_index(drop=True)


def ranking_metrics(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> dict[str, float]:
    """hit_rate, ndcg, precision, recall at k, averaged over the users in ``truth`` (binary relevance).

    A user with no recommendations counts as a miss; ideal DCG uses min(k, relevant items).
    """
    users = truth["user_id"].drop_duplicates()
    if users.empty:
        return {"hit_rate": float("nan"), "ndcg": float("nan"), "precision": float("nan"), "recall": float("nan"),
                "users": 0}
    top = recs[recs["rank"] <= k].merge(truth.assign(hit=True), on=["user_id", "item"], how="left")
    top["hit"] = top["hit"].fillna(False).astype(bool)
    top["gain"] = np.where(top["hit"], 1.0 / np.log2(top["rank"].to_numpy(float) + 1.0), 0.0)
    per_user = top.groupby("user_id").agg(hits=("hit", "sum"), dcg=("gain", "sum"))
    n_rel = truth.groupby("user_id").size()
    per_user = per_user.reindex(users, fill_value=0.0)
    ideal = np.array([np.sum(1.0 / np.log2(np.arange(2, min(k, int(n)) + 2))) for n in n_rel.reindex(users)])
    return {
        "hit_rate": float((per_user["hits"] > 0).mean()),
        "ndcg": float((per_user["dcg"].to_numpy() / ideal).mean()),
        "precision": float((per_user["hits"] / k).mean()),
        "recall": float((per_user["hits"].to_numpy() / n_rel.reindex(users).to_numpy()).mean()),
        "users": len(users),
    }


def evaluate(models: Mapping[str, _Base], train: pd.DataFrame, test: pd.DataFrame, *, k: int = 10,
             new_only: bool | None = None) -> pd.DataFrame:
    """model, hit_rate, ndcg, precision, recall, users: each fitted model scored on the test window.

    ``new_only`` (default: True when the models exclude known items) scores only items the
    user had not engaged with before the cutoff, which is what "next categories" means.
    """
    rows = []
    for name, model in models.items():
        only_new = (model.known_weight == 0) if new_only is None else new_only
        truth = targets(train, test, new_only=only_new)
        recs = model.recommend(truth["user_id"].drop_duplicates().tolist(), k=k)
        rows.append({"model": name, **ranking_metrics(recs, truth, k)})
    return pd.DataFrame(rows)


def time_split(source: EventsSource, cutoff: Any, *, level: Literal["category", "item"] = "category",
               test_end: Any = None, weights: BehaviorWeights = DEFAULT_WEIGHTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training interactions before ``cutoff`` and test interactions from it (to ``test_end``)."""
    train = interactions(source, level=level, end=cutoff, weights=weights)
    test = interactions(source, level=level, start=cutoff, end=test_end, weights=weights)
    return train, test
