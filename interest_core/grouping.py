"""Category grouping: top-K plus other, a user-supplied id-to-name map, or groups learned from
co-occurrence (categories engaged by the same users). Each returns a (category, group) frame
that ``panel.build_panel`` joins in the database.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interest_core.config import GroupingSpec, PanelSpec
from interest_core.panel import EventsSource, category_totals, user_category_totals

OTHER = "other"


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


def learned_map(user_category: pd.DataFrame, n_groups: int, seed: int = 0, min_users: int = 3) -> pd.DataFrame:
    """Cluster categories by the users they share (co-occurrence), name groups by their top members.

    Each category is a vector over users (log interest, L2-normalised); a truncated SVD gives
    a dense embedding and k-means groups it. Categories with fewer than ``min_users`` users
    carry too little signal and go to 'other'.
    """
    from scipy.sparse import csr_matrix
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

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
        embedding = normalize(TruncatedSVD(n_components=n_comp, random_state=seed).fit_transform(matrix))
        labels = KMeans(n_clusters=n_groups, n_init=4, random_state=seed).fit_predict(embedding)
        weight = kept.groupby("category")["interest"].sum().reindex(cats).to_numpy()
        names = {}
        for label in range(n_groups):
            members = np.flatnonzero(labels == label)
            top = cats[members[np.argsort(-weight[members])][:3]]
            names[label] = f"G{label + 1}: " + ", ".join(top)
        groups = pd.DataFrame({"category": cats, "group": [names[lab] for lab in labels]})
    rest = pd.DataFrame({"category": np.asarray(small, dtype=str), "group": OTHER})
    return pd.concat([groups, rest], ignore_index=True).astype("string")


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
