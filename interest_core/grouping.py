"""Category grouping: top-K plus other, a user-supplied id-to-name map, or groups learned from
co-occurrence (categories engaged by the same users). Each returns a (category, group) frame
that ``panel.build_panel`` joins in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from interest_core.config import BehaviorWeights, GroupingSpec, PanelSpec
from interest_core.panel import EventsSource, category_totals, user_category_totals

OTHER = "other"
LEARNED_ABOVE = 50  # categories: past this many, top-K + other hides most interest, so learned groups are the default


def topk_map(totals: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep the k categories with most interest; fold the rest into 'other'."""
    ordered = totals.sort_values(["interest", "category"], ascending=[False, True])["category"].astype("string")
    groups = np.where(np.arange(len(ordered)) < k, ordered.to_numpy(), OTHER)
    return pd.DataFrame({"category": ordered.to_numpy(), "group": groups}).astype("string")


def name_map(categories: pd.Series, names: dict[str, str], unmapped: str = "keep") -> pd.DataFrame:
    """Rename categories with a user map (e.g. id -> 'Phones'); unmapped ids are kept or folded into 'other'."""
    cats = categories.astype("string").drop_duplicates()
    mapped = cats.map(names)
    fallback = cats if unmapped == "keep" else pd.Series(OTHER, index=cats.index, dtype="string")
    return pd.DataFrame({"category": cats.to_numpy(), "group": mapped.fillna(fallback).to_numpy()}).astype("string")


def group_name(members: Sequence[str], noun: str = "", shown: int = 2) -> str:
    """A group in plain words from its members, most engaged first: 'brand 911, 26288 +702'."""
    head = ", ".join(str(m) for m in members[:shown])
    rest = len(members) - shown
    return f"{noun + ' ' if noun else ''}{head}{f' +{rest:,}' if rest > 0 else ''}"


def learned_map(user_category: pd.DataFrame, n_groups: int, seed: int = 0, min_users: int = 3,
                noun: str = "", categories: Sequence[str] = ()) -> pd.DataFrame:
    """Cluster categories by the users they share (co-occurrence), name groups by their top members
    (``group_name``; ``noun`` says what a category is, e.g. 'brand').

    Each category is a vector over users (log interest, L2-normalised); a truncated SVD gives
    a dense embedding and k-means groups it. Categories with fewer than ``min_users`` users
    carry too little signal and go to 'other', and so do those of ``categories`` (every category of the
    log, when ``user_category`` holds a sample of its users) that ``user_category`` does not hold.
    """
    from scipy.sparse import csr_matrix
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize
    from threadpoolctl import threadpool_limits

    frame = user_category[user_category["interest"] > 0]
    users_per_cat = frame.groupby("category")["user_id"].nunique()
    keep = users_per_cat[users_per_cat >= min_users].index
    small = users_per_cat.index.difference(keep)
    kept = frame[frame["category"].isin(keep)]
    if kept["category"].nunique() <= n_groups:
        groups = pd.DataFrame({"category": kept["category"].unique(), "group": kept["category"].unique()})
    else:
        cats, cat_idx = np.unique(kept["category"].to_numpy(dtype=str), return_inverse=True)
        _, user_idx = np.unique(kept["user_id"].to_numpy(dtype=str), return_inverse=True)
        matrix = normalize(csr_matrix((np.log1p(kept["interest"].to_numpy(float)), (cat_idx, user_idx))))
        n_comp = max(2, min(32, matrix.shape[0] - 1, matrix.shape[1] - 1))
        # One thread: k-means on a few thousand points is 0.4 s that way, and 5-10 s when OpenMP threads
        # contend with other work on a busy 2-core machine (measured on the Tmall log).
        with threadpool_limits(1):
            embedding = normalize(TruncatedSVD(n_components=n_comp, random_state=seed).fit_transform(matrix))
            labels = KMeans(n_clusters=n_groups, n_init=4, random_state=seed).fit_predict(embedding)
        weight = kept.groupby("category")["interest"].sum().reindex(cats).to_numpy()
        names = {}
        for label in range(n_groups):
            members = np.flatnonzero(labels == label)
            names[label] = group_name(cats[members[np.argsort(-weight[members])]].tolist(), noun)
        groups = pd.DataFrame({"category": cats, "group": [names[lab] for lab in labels]})
    unseen = pd.Index([str(c) for c in categories], dtype=str).difference(users_per_cat.index.astype(str))
    rest = pd.DataFrame({"category": np.concatenate([np.asarray(small, dtype=str), np.asarray(unseen, dtype=str)]),
                         "group": OTHER})
    return pd.concat([groups, rest], ignore_index=True).astype("string")


@dataclass(frozen=True)
class UserPairs:
    """The (user, category) interest grouping learns and measures from: every user's, or on a large log the
    pairs of a stated seeded sample of users."""

    user_category: pd.DataFrame  # user_id, category, interest of the users read
    users_where: str | None = None  # the sample's SQL condition on user_id (None: every user)
    sampled_users: int = 0  # users in the sample (0: every user)
    pairs: int = 0  # (user, category) pairs of the whole log, when it was sampled
    categories: tuple[str, ...] = ()  # every category of the log, when it was sampled (the sample may miss some)


@dataclass(frozen=True)
class LearnedGroups(UserPairs):
    """A learned map and the pairs it was learned from."""

    category_map: pd.DataFrame = field(default_factory=pd.DataFrame)  # category, group: every category of the log


def user_pairs(source: EventsSource, weights: BehaviorWeights = BehaviorWeights(),
               max_pairs: int | None = None) -> UserPairs:
    """Every user's (user, category) interest; past ``max_pairs`` pairs (None: no bound) those of a seeded sample of
    users holding about that many (``panel.user_sample_where``, the page models' sample), so memory stays bounded
    (the 100 M-event log holds tens of millions of pairs)."""
    from interest_core.panel import SAMPLE_SCALE, user_category_pairs, user_sample_where

    pairs = user_category_pairs(source) if max_pairs is not None else 0
    if max_pairs is None or pairs <= max_pairs:
        return UserPairs(user_category_totals(source, weights))
    where = user_sample_where(max(1, int(SAMPLE_SCALE * max_pairs / pairs)))
    user_category = user_category_totals(source, weights, users_where=where)
    every = tuple(category_totals(source, weights)["category"].astype(str))
    return UserPairs(user_category, where, int(user_category["user_id"].nunique()), pairs, every)


def learn_from(read: UserPairs, n_groups: int, seed: int = 0, *, noun: str = "") -> LearnedGroups:
    """``learned_map`` of the pairs read; categories a sample did not see go to 'other'."""
    mapping = learned_map(read.user_category, n_groups, seed, noun=noun, categories=read.categories)
    return LearnedGroups(**{f.name: getattr(read, f.name) for f in fields(UserPairs)}, category_map=mapping)


def learn_groups(source: EventsSource, n_groups: int, seed: int = 0, *, noun: str = "",
                 weights: BehaviorWeights = BehaviorWeights(), max_pairs: int | None = None) -> LearnedGroups:
    """``learned_map`` of a log, bounded: past ``max_pairs`` pairs it learns from a seeded sample of users
    (``user_pairs``)."""
    return learn_from(user_pairs(source, weights, max_pairs), n_groups, seed, noun=noun)


@dataclass(frozen=True)
class CategoryChoice:
    """What a page shows of the categories: a grouping, the groups picked (empty: all of them) and
    whether 'other' is left out. Hashable, so caches can be keyed on it."""

    spec: GroupingSpec = field(default_factory=GroupingSpec)
    picked: tuple[str, ...] = ()
    drop_other: bool = False

    def apply(self, category_map: pd.DataFrame | None, categories: Sequence[str] = ()) -> pd.DataFrame | None:
        """``category_map`` with every group outside ``picked`` folded into 'other'. With no map (raw
        categories) ``categories`` lists the ids to map; None when nothing is grouped."""
        if not self.picked:
            return category_map
        base = category_map if category_map is not None else pd.DataFrame(
            {"category": list(categories), "group": list(categories)}).astype("string")
        keep = base["group"].isin(list(self.picked))
        return base.assign(group=base["group"].where(keep, OTHER)).astype("string")

    def filter(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The panel without 'other' rows when it is left out (shares recomputed over what stays)."""
        if not self.drop_other:
            return panel
        kept = panel[panel["category"] != OTHER].reset_index(drop=True)
        if "share" in kept and "interest" in kept:
            total = kept.groupby(["user_id", "period"], observed=True)["interest"].transform("sum")
            kept = kept.assign(share=(kept["interest"] / total.where(total > 0)).fillna(0.0))
        return kept


def category_map(source: EventsSource, spec: PanelSpec, *, end: Any = None) -> pd.DataFrame | None:
    """The grouping a PanelSpec asks for, learned only from events before ``end``."""
    grouping: GroupingSpec = spec.grouping
    if grouping.method == "none":
        return None
    if grouping.method == "topk":
        return topk_map(category_totals(source, spec.weights, end=end), grouping.k)
    if grouping.method == "map":
        cats = category_totals(source, spec.weights, end=end)["category"]
        return name_map(cats, dict(grouping.names), grouping.unmapped)
    return learned_map(user_category_totals(source, spec.weights, end=end), grouping.n_groups, grouping.seed)


def suggested_grouping(n_categories: int, n_groups: int = 12) -> GroupingSpec:
    """The default grouping for a log: learned groups above ``LEARNED_ABOVE`` categories, raw ones below."""
    if n_categories > LEARNED_ABOVE:
        return GroupingSpec(method="learned", n_groups=n_groups)
    return GroupingSpec(method="none")


@dataclass(frozen=True)
class GroupQuality:
    """How much more the categories of one group share users than random pairs of categories do.

    ``within`` / ``random``: mean cosine similarity of two categories' user sets, for pairs drawn inside
    a group and for pairs drawn at random among the grouped categories; ``lift`` = within / random
    (1 = no better than chance). ``other_share``: share of interest in categories left in 'other'.
    """

    within: float
    random: float
    lift: float
    n_pairs: int
    n_groups: int
    other_share: float
    sampled_users: int = 0  # measured on the pairs of this many sampled users (0: every user; learn_groups)


def group_quality(user_category: pd.DataFrame, category_map: pd.DataFrame, n_pairs: int = 20_000,
                  seed: int = 0) -> GroupQuality:
    """Co-occurrence inside the groups of ``category_map`` against random pairs (see GroupQuality)."""
    from scipy.sparse import csr_matrix
    from sklearn.preprocessing import normalize

    frame = user_category[user_category["interest"] > 0]
    groups = category_map.set_index("category")["group"].astype(str)
    group_of = frame["category"].astype(str).map(groups).fillna(frame["category"].astype(str))
    total = float(frame["interest"].sum())
    other_share = float(frame.loc[(group_of == OTHER).to_numpy(), "interest"].sum() / total) if total else float("nan")
    grouped = frame[(group_of != OTHER).to_numpy()]
    cats, cat_idx = np.unique(grouped["category"].to_numpy(dtype=str), return_inverse=True)
    _, user_idx = np.unique(grouped["user_id"].to_numpy(dtype=str), return_inverse=True)
    vectors = normalize(csr_matrix((np.ones(len(cat_idx)), (cat_idx, user_idx))).tocsr())
    labels = pd.Series(cats).map(groups).fillna(pd.Series(cats)).to_numpy(dtype=str)
    _, label_idx = np.unique(labels, return_inverse=True)
    rng = np.random.default_rng(seed)
    # Pairs inside groups: a random member, then a random other member of its group.
    sizes = np.bincount(label_idx)
    eligible = np.flatnonzero(sizes[label_idx] >= 2)
    if not len(eligible) or len(cats) < 2:
        return GroupQuality(float("nan"), float("nan"), float("nan"), 0, len(sizes), other_share)
    members = {g: np.flatnonzero(label_idx == g) for g in np.unique(label_idx[eligible])}
    first = rng.choice(eligible, n_pairs)
    second = np.array([rng.choice(members[label_idx[i]][members[label_idx[i]] != i]) for i in first])
    a, b = rng.integers(0, len(cats), n_pairs), rng.integers(0, len(cats), n_pairs)
    keep = a != b

    def cosine(i: np.ndarray, j: np.ndarray) -> float:
        return float(np.asarray(vectors[i].multiply(vectors[j]).sum(axis=1)).mean())

    within, random_ = cosine(first, second), cosine(a[keep], b[keep])
    lift = within / random_ if random_ > 0 else float("inf")
    return GroupQuality(within, random_, lift, n_pairs, len(sizes), other_share)


def interest_over_time(source: EventsSource, freq: str, category_map: pd.DataFrame | None, *,
                       drop_other: bool = False, weights: BehaviorWeights = BehaviorWeights()) -> pd.DataFrame:
    """period, category, interest: interest per period of each group of ``category_map`` (categories it does
    not list keep their id; None: raw categories), summed in the database; 'other' left out when asked."""
    from interest_core.panel import _weight_sql
    from interest_core.periods import FREQ_PART, check_freq

    part = FREQ_PART[check_freq(freq)]
    frames = {"ic_groups": category_map[["category", "group"]].astype("string")} if category_map is not None else {}
    label = "coalesce(g.\"group\", e.category)" if frames else "e.category"
    joined = "{events} e LEFT JOIN ic_groups g ON e.category = g.category" if frames else "{events} e"
    frame = source.query(
        f"""SELECT date_trunc('{part}', e.ts) AS period, {label} AS category, sum({_weight_sql(weights)}) AS interest
            FROM {joined} GROUP BY ALL ORDER BY period, category""", None, frames)
    frame["period"] = pd.to_datetime(frame["period"])
    return frame[frame["category"] != OTHER].reset_index(drop=True) if drop_other else frame
