"""User segments: behaviour and category features per user, K-means (k by silhouette) or DBSCAN,
segments described in words, sizes over time, a 2-D projection and per-segment user lists.

    features = user_features(panel, "W")
    seg = UserSegmenter().fit(features)              # k chosen by silhouette in 2..8
    words = describe_segments(features, seg.labels_, "W")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from interest_core.ingest.privacy import DEFAULT_MIN_GROUP, suppress_small_groups
from interest_core.periods import PERIOD_LABEL, period_grid

BEHAVIOUR_FEATURES = ("recency", "frequency", "intensity", "buy_share", "action_share", "diversity")
SHARE_PREFIX = "share:"
NOISE = -1  # DBSCAN's label for users in no dense region
SILHOUETTE_SAMPLE = 3000  # silhouette is O(n^2): score a fixed sample on bigger data
FIT_SAMPLE = 20_000  # K-means learns its centres from a seeded sample of users on bigger data; all are assigned


def user_features(panel: pd.DataFrame, freq: str, *, start: Any = None, end: Any = None, top_k: int = 20,
                  categories: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per user active in [start, end] (inclusive period starts), indexed by user_id.

    recency   periods from the user's last active period to the window's last period (0 = active in it);
    frequency share of periods active, counted from the user's first active period in the window;
    intensity log(1 + events per active period);
    buy_share buys over all events;
    action_share favourites, carts and buys over all events (engagement beyond looking);
    diversity the effective number of categories, exp(Shannon entropy) of the user's shares over
              every category (1 = a single category);
    share:<c> the user's share of interest in category c over the window, for the ``top_k``
              categories with most interest (or the given ``categories``), the rest in share:other.
    """
    frame = panel
    if start is not None:
        frame = frame[frame["period"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["period"] <= pd.Timestamp(end)]
    if frame.empty:
        return pd.DataFrame(columns=list(BEHAVIOUR_FEATURES)).rename_axis("user_id")
    # Positions on the period grid; the window's last period is the reference for recency.
    last_period = frame["period"].max() if end is None else max(frame["period"].max(), _floor(end, frame))
    grid = period_grid(frame["period"].min(), last_period, freq)
    grid = grid[grid <= last_period]
    position = pd.Series(np.arange(len(grid)), index=grid)
    counts = [c for c in frame.columns if c.startswith("n_")]
    per_period = frame.groupby(["user_id", "period"], observed=True)[counts].sum()
    per_period["events"] = per_period.sum(axis=1)
    per_period["pos"] = position.reindex(per_period.index.get_level_values("period")).to_numpy()
    g = per_period.groupby(level="user_id", observed=True)
    first, last, active = g["pos"].min(), g["pos"].max(), g["pos"].count()
    events = g["events"].sum().astype(float)
    per_event = events.where(events > 0, 1.0)
    sums = g[counts].sum()
    actions = sum((sums[c] for c in ("n_fav", "n_cart", "n_buy") if c in sums), start=pd.Series(0.0, sums.index))
    totals_all = frame.groupby(["user_id", "category"], observed=True)["interest"].sum()
    p = totals_all / totals_all.groupby(level="user_id").transform("sum")
    entropy = (-(p * np.log(p.where(p > 0, 1.0)))).groupby(level="user_id").sum()
    out = pd.DataFrame({
        "recency": (len(grid) - 1 - last).astype(float),
        "frequency": active / (len(grid) - first),
        "intensity": np.log1p(events / active),
        "buy_share": sums["n_buy"] / per_event if "n_buy" in sums else 0.0,
        "action_share": actions / per_event,
        "diversity": np.exp(entropy.reindex(first.index).fillna(0.0)),
    })
    cats = list(categories) if categories is not None else _top(frame, top_k)
    wide = frame.assign(category=_fold_categories(frame["category"], cats))
    wide = wide.pivot_table(index="user_id", columns="category", values="interest", aggfunc="sum", fill_value=0.0,
                            observed=True)
    wide = wide.reindex(columns=[*cats, "other"], fill_value=0.0)
    totals = wide.sum(axis=1)
    shares = wide.div(totals.where(totals > 0, 1.0), axis=0)
    shares.columns = [f"{SHARE_PREFIX}{c}" for c in shares.columns]
    out = out.join(shares, how="left").fillna(0.0)
    out.index = out.index.astype("string").rename("user_id")
    return out.sort_index()


def _fold_categories(category: pd.Series, kept: Sequence[str]) -> pd.Series:
    """Each row's category as text, 'other' outside ``kept``. Categorical ids are folded on their categories
    (a few thousand) and stay codes: turning every row to text cost seconds a window on large panels."""
    if not isinstance(category.dtype, pd.CategoricalDtype):
        return category.astype("string").where(category.isin(kept), "other")
    names = pd.Index(category.cat.categories.astype("string"))
    folded = names.where(category.cat.categories.isin(kept), "other")
    labels = pd.Index([*folded.unique(), "other"]).unique()
    lookup = np.append(labels.get_indexer(folded), labels.get_loc("other"))  # code -1 (missing): 'other'
    codes = lookup[category.cat.codes.to_numpy()]
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels), index=category.index)


def _floor(when: Any, frame: pd.DataFrame) -> pd.Timestamp:
    """The last period start in the frame at or before ``when`` (window ends need not be aligned)."""
    periods = frame["period"][frame["period"] <= pd.Timestamp(when)]
    return pd.Timestamp(periods.max()) if not periods.empty else pd.Timestamp(frame["period"].min())


def _top(frame: pd.DataFrame, k: int) -> list[str]:
    totals = frame.groupby("category", observed=True)["interest"].sum().reset_index()
    totals = totals.sort_values(["interest", "category"], ascending=[False, True])
    return [str(c) for c in totals["category"].head(k)]


class UserSegmenter(ClusterMixin, BaseEstimator):
    """Segments users from ``user_features`` (scikit-learn estimator contract).

    method='kmeans': k = ``n_clusters``, or the best silhouette over ``k_range`` when None.
    method='dbscan': density clusters (``eps``, ``min_samples`` in scaled units); noise is -1.
    ``eps=None`` takes the median distance of users to their ``min_samples``-th neighbour (a
    dense region is then one where a typical user has that many neighbours); learned as eps_.
    Shares are square-rooted, then every feature is standardised; the category-share block is
    multiplied by ``category_weight`` (raise it to weigh tastes over habits).
    Learned: scaler_, model_, labels_, n_clusters_, silhouette_ (k -> score), feature_names_in_,
    centers_ (segment means in original units, one row per segment).
    Segments are numbered by size (0 = biggest). K-means runs single-threaded: the data is a
    few thousand rows, and OpenMP threads spinning on a busy shared machine made it 50x slower.
    """

    def __init__(self, method: Literal["kmeans", "dbscan"] = "kmeans", n_clusters: int | None = None,
                 k_range: tuple[int, int] = (2, 8), category_weight: float = 1.0, eps: float | None = None,
                 min_samples: int = 10, seed: int = 0) -> None:
        self.method = method
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.category_weight = category_weight
        self.eps = eps
        self.min_samples = min_samples
        self.seed = seed

    def _weights(self, columns: Sequence[str] | np.ndarray) -> np.ndarray:
        return np.array([self.category_weight if str(c).startswith(SHARE_PREFIX) else 1.0 for c in columns])

    def scaled(self, features: pd.DataFrame) -> np.ndarray:
        """The features as the model sees them: square-rooted shares, standardised, weighted."""
        self._check_fitted()
        x = _hellinger(features.reindex(columns=list(self.feature_names_in_), fill_value=0.0))
        return self.scaler_.transform(x) * self._weights(self.feature_names_in_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("UserSegmenter is not fitted; call fit(user_features(...)) first")

    def fit(self, features: pd.DataFrame, y: Any = None) -> UserSegmenter:
        if self.method not in ("kmeans", "dbscan"):
            raise ValueError(f"unknown method {self.method!r}; use 'kmeans' or 'dbscan'")
        if len(features) < 3:
            raise ValueError(f"{len(features)} users are too few to segment; widen the time window")
        self.feature_names_in_ = np.array(features.columns, dtype=object)
        self.scaler_ = StandardScaler().fit(_hellinger(features))
        x = self.scaler_.transform(_hellinger(features)) * self._weights(self.feature_names_in_)
        self.silhouette_: dict[int, float] = {}
        with threadpool_limits(1):
            self.model_ = self._cluster(x)
            # every user's raw segment (the sample's centres assign those K-means did not learn from)
            self.raw_labels_ = np.asarray(self.model_.labels_ if len(self.model_.labels_) == len(x)
                                          else self.model_.predict(x))
        self.labels_ = _relabel_by_size(self.raw_labels_)
        self.n_clusters_ = len(set(self.labels_) - {NOISE})
        means = features.assign(_segment=self.labels_).groupby("_segment").mean()
        self.centers_ = means.rename_axis("segment")
        return self

    def _cluster(self, x: np.ndarray) -> Any:
        if self.method == "dbscan":
            self.eps_ = self.eps if self.eps is not None else _median_knn_distance(x, self.min_samples)
            return DBSCAN(eps=self.eps_, min_samples=self.min_samples).fit(x)
        ks = [self.n_clusters] if self.n_clusters else range(self.k_range[0], self.k_range[1] + 1)
        rng = np.random.default_rng(self.seed)
        sample = rng.choice(len(x), min(len(x), SILHOUETTE_SAMPLE), replace=False)
        learn = x if len(x) <= FIT_SAMPLE else x[np.sort(rng.choice(len(x), FIT_SAMPLE, replace=False))]
        self.fit_users_ = len(learn)
        best: tuple[float, Any] | None = None
        for k in ks:
            k = min(int(k), len(x) - 1)
            model = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(learn)
            labels_k = model.labels_ if len(learn) == len(x) else model.predict(x)
            score = (float(silhouette_score(x[sample], labels_k[sample]))
                     if len(set(labels_k[sample])) > 1 else -1.0)
            self.silhouette_[k] = score
            if best is None or score > best[0]:
                best = (score, model)
        assert best is not None
        return best[1]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Segments of (new) users: nearest centre for K-means; for DBSCAN, the nearest core
        sample's segment when within eps, else noise (-1)."""
        x = self.scaled(features)
        if self.method == "kmeans":
            with threadpool_limits(1):
                raw = self.model_.predict(x)
        else:
            core = self.model_.components_
            if len(core) == 0:
                return np.full(len(x), NOISE)
            core_labels = self.model_.labels_[self.model_.core_sample_indices_]
            dist, nearest = NearestNeighbors(n_neighbors=1).fit(core).kneighbors(x)
            raw = np.where(dist[:, 0] <= self.eps_, core_labels[nearest[:, 0]], NOISE)
        return self._label_lookup()[raw]

    def _label_lookup(self) -> np.ndarray:
        """Raw model label -> size-ordered segment label (a lookup array; index -1 maps noise)."""
        raw = self.raw_labels_
        size = int(raw.max()) + 2 if raw.size else 1
        lookup = np.full(size, NOISE)
        kept = raw != NOISE
        lookup[raw[kept]] = self.labels_[kept]  # one size-ordered label per raw label
        return lookup


def _median_knn_distance(x: np.ndarray, k: int) -> float:
    k = max(1, min(k, len(x) - 1))
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)  # +1: each point is its own nearest
    return float(np.median(dist[:, -1]))


def _hellinger(features: pd.DataFrame) -> np.ndarray:
    """Features as floats with category shares square-rooted (the Hellinger embedding of a
    share vector: a 0.01 vs 0.04 difference counts like 0.25 vs 0.36, so small but telling
    shares are not drowned by the big ones)."""
    x = features.to_numpy(dtype=float).copy()
    shares = np.array([str(c).startswith(SHARE_PREFIX) for c in features.columns])
    x[:, shares] = np.sqrt(np.clip(x[:, shares], 0.0, None))
    return x


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Segment 0 is the biggest, 1 the next ... (stable across runs; noise stays -1)."""
    values, counts = np.unique(labels[labels != NOISE], return_counts=True)
    order = values[np.lexsort((values, -counts))]
    mapping = {v: i for i, v in enumerate(order)}
    return np.array([mapping.get(v, NOISE) for v in labels])


# -- words, sizes, projection, lists -----------------------------------------------------------

def _activity_words(frequency: float, freq: str) -> str:
    unit = PERIOD_LABEL.get(freq, "period")
    if frequency >= 0.6:
        return {"h": "active hourly", "D": "active daily", "W": "active weekly", "M": "active monthly"}.get(
            freq, "active every period")
    if frequency >= 0.3:
        return f"active most {unit}s" if frequency >= 0.45 else f"active every other {unit} or so"
    if frequency >= 0.1:
        return f"active now and then (1 {unit} in {round(1 / frequency)})"
    return "rarely active"


def describe_segments(features: pd.DataFrame, labels: Sequence[int] | np.ndarray, freq: str, *,
                      max_categories: int = 3, min_lift: float = 1.3) -> pd.DataFrame:
    """segment, users, share_of_users, description, top_categories, traits: each segment in words.

    Categories named are the segment's biggest shares among those at least ``min_lift`` times
    the population's share (what sets it apart, not just what everyone likes); behaviour words
    come from the features most above or below the population mean (in standard deviations).
    """
    labels = np.asarray(labels)
    frame = features.assign(_segment=labels)
    pop_mean = features.mean()
    pop_std = features.std(ddof=0).replace(0, 1.0)
    share_cols = [c for c in features.columns if c.startswith(SHARE_PREFIX) and c != f"{SHARE_PREFIX}other"]
    rows = []
    for seg, part in frame.groupby("_segment"):
        mean = part.drop(columns="_segment").mean()
        lift = mean[share_cols] / pop_mean[share_cols].replace(0, np.nan)
        distinct = mean[share_cols][lift >= min_lift].sort_values(ascending=False).head(max_categories)
        names = [c.removeprefix(SHARE_PREFIX) for c in distinct.index]
        z = (mean - pop_mean) / pop_std
        words = []
        if z.get("diversity", 0) >= 1.0:
            # Everything is "above average" for a user who likes everything a little: say so instead.
            words.append(f"broad interests (about {mean['diversity']:.0f} categories each)")
        elif names:
            covered = float(distinct.sum())
            lead = "mostly" if covered >= 0.5 else "leaning to"
            words.append(f"{lead} {_join(names)}")
        else:
            words.append("broad interests across many categories")
        if z.get("buy_share", 0) >= 0.5:
            words.append("buys often")
        elif z.get("buy_share", 0) <= -0.5 or z.get("action_share", 0) <= -0.5:
            words.append("mostly browses")
        if z.get("intensity", 0) >= 0.5:
            words.append("long sessions")
        words.append(_activity_words(float(mean.get("frequency", 0.0)), freq))
        if z.get("recency", 0) >= 0.5:
            unit = PERIOD_LABEL.get(freq, "period")
            words.append(f"lapsing (last seen {mean['recency']:.0f} {unit}s ago on average)")
        traits = z.drop(labels=[c for c in z.index if c.startswith(SHARE_PREFIX)]).round(2).to_dict()
        rows.append({
            "segment": int(seg), "users": len(part), "share_of_users": len(part) / len(frame),
            "description": ("Noise: " if seg == NOISE else "") + ", ".join(words),
            "top_categories": ", ".join(names), "traits": traits,
        })
    return pd.DataFrame(rows, columns=["segment", "users", "share_of_users", "description", "top_categories",
                                       "traits"])


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def segment_sizes_over_time(panel: pd.DataFrame, model: UserSegmenter, freq: str, *, window: int = 8,
                            step: int = 1, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """period, segment, users: users of each segment in rolling windows of ``window`` periods.

    Each window ending at ``period`` recomputes the features of the users active in it and
    assigns them with the fitted model (same scaling, same centres), so a segment growing means
    more users behave that way, not that the segments were redrawn.
    """
    if categories is None:
        categories = [c.removeprefix(SHARE_PREFIX) for c in model.feature_names_in_
                      if c.startswith(SHARE_PREFIX) and c != f"{SHARE_PREFIX}other"]
    grid = period_grid(panel["period"].min(), panel["period"].max(), freq)
    frame, periods = _window_source(panel)
    rows = []
    for i in range(window - 1, len(grid), step):
        start, end = grid[i - window + 1], grid[i]
        rows_in = frame.iloc[periods.searchsorted(start, "left"):periods.searchsorted(end, "right")]
        feats = user_features(rows_in, freq, start=start, end=end, categories=categories)
        if feats.empty:
            continue
        labels = model.predict(feats)
        seg, n = np.unique(labels, return_counts=True)
        rows.append(pd.DataFrame({"period": grid[i], "segment": seg, "users": n}))
    if not rows:
        return pd.DataFrame(columns=["period", "segment", "users"])
    return pd.concat(rows, ignore_index=True)


def _window_source(panel: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """The columns user_features reads, users as integer codes (only the counts per segment are kept), rows
    in period order (stable: each group's rows keep their order, so every sum is the same); and the periods,
    so a window is a slice, not a mask over every row."""
    counts = [c for c in panel.columns if c.startswith("n_")]
    frame = panel[["user_id", "period", "category", "interest", *counts]]
    frame = frame.assign(user_id=pd.factorize(frame["user_id"])[0])
    if not frame["period"].is_monotonic_increasing:
        frame = frame.sort_values("period", kind="stable")
    return frame, pd.Index(frame["period"])


def projection_2d(features: pd.DataFrame, labels: Sequence[int] | np.ndarray, model: UserSegmenter | None = None,
                  *, max_points: int = 5000, seed: int = 0) -> pd.DataFrame:
    """user_id, x, y, segment: a PCA projection of the (scaled) features for a scatter.

    Uses the model's scaling when given. At most ``max_points`` users (a fixed random sample),
    so the browser gets a small chart. attrs['explained_variance'] holds the two ratios.
    """
    labels = np.asarray(labels)
    x = model.scaled(features) if model is not None else StandardScaler().fit_transform(_hellinger(features))
    n_comp = min(2, x.shape[1], x.shape[0])
    pca = PCA(n_components=n_comp, random_state=seed).fit(x)
    xy = pca.transform(x)
    if n_comp < 2:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    out = pd.DataFrame({"user_id": features.index.astype("string"), "x": xy[:, 0], "y": xy[:, 1],
                        "segment": labels})
    if len(out) > max_points:
        out = out.sample(max_points, random_state=seed).sort_index()
    out = out.reset_index(drop=True)
    out.attrs["explained_variance"] = [float(v) for v in pca.explained_variance_ratio_]
    return out


def segment_users(features: pd.DataFrame, labels: Sequence[int] | np.ndarray, segment: int) -> pd.DataFrame:
    """user_id and the behaviour features of one segment's users, most active first."""
    labels = np.asarray(labels)
    part = features.loc[labels == segment, [c for c in BEHAVIOUR_FEATURES if c in features]]
    part = part.sort_values(["frequency", "intensity"], ascending=False)
    return part.reset_index()


def segment_table(descriptions: pd.DataFrame, min_users: int = DEFAULT_MIN_GROUP) -> tuple[pd.DataFrame, int]:
    """The description frame without segments smaller than ``min_users`` (aggregate views)."""
    return suppress_small_groups(descriptions, "users", min_users)
