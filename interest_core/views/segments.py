"""What the Segments page shows: one segmentation of a dataset's users, with the window its
features are read over and the rolling windows its sizes over time are counted in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from interest_core.analytics import segment_profiles as profiles
from interest_core.analytics import segments as seg

SIZES_WINDOW = 8  # periods in each rolling window of the sizes-over-time chart
MAX_SIZE_WINDOWS = 24  # each window refits features: ~25 windows take seconds, one per period a minute
SIZE_USER_WINDOWS = 500_000  # users x windows the sizes chart reads (100 k users: 5 windows; Tmall: 24)


@dataclass(frozen=True, eq=False)
class Segmentation:
    features: pd.DataFrame  # one row per user (index user_id)
    labels: pd.Series  # segment per user, same index
    descriptions: pd.DataFrame  # segment, name, users, share_of_users, description, top_categories, traits
    projection: pd.DataFrame  # 2-D points per user with their segment
    silhouette: Mapping[int, float]  # k -> silhouette (k-means), empty otherwise
    sizes: pd.DataFrame  # period, segment, users
    # segment x trait (behaviour and category shares), SDs from the mean, plain names; empty in a result saved
    # before it existed (the page then draws the behaviour traits of ``descriptions``)
    traits: pd.DataFrame = field(default_factory=pd.DataFrame)
    # users K-means learned its centres from: every user, or a seeded sample on bigger logs (seg.FIT_SAMPLE;
    # every user is then assigned to the nearest centre); 0 in a result saved before it was recorded
    fitted_on: int = 0

    @property
    def n_segments(self) -> int:
        """Segments found (noise not counted)."""
        return int((self.descriptions["segment"] >= 0).sum())

    @property
    def names(self) -> dict[int, str]:
        """Segment -> its short name ("Heavy buyers of Phones")."""
        return dict(zip(self.descriptions["segment"].astype(int), self.descriptions["name"], strict=True))

    @property
    def separation_warning(self) -> str | None:
        """Plain words when the segments barely separate (silhouette under 0.25), else None."""
        return profiles.separation_warning(self.silhouette, self.n_segments)

    def members(self, segment: int) -> list[str]:
        """The user ids of one segment."""
        return [str(u) for u in self.labels.index[self.labels == segment]]


def feature_start(panel: pd.DataFrame, last: int | None) -> pd.Timestamp | None:
    """First period of the last ``last`` periods (None: features over all the data)."""
    if not last:
        return None
    periods = panel["period"].drop_duplicates().sort_values()
    return pd.Timestamp(periods.iloc[max(0, len(periods) - last)])


def sizes_step(n_periods: int, window: int = SIZES_WINDOW, users: int = 0) -> int:
    """Step between the rolling windows of the sizes chart: at most about MAX_SIZE_WINDOWS + 1 windows, and
    fewer on logs of many ``users`` (about SIZE_USER_WINDOWS / users, at least 4): each window reads them all."""
    windows = MAX_SIZE_WINDOWS if users <= 0 else max(4, min(MAX_SIZE_WINDOWS, SIZE_USER_WINDOWS // users))
    return max(1, (n_periods - window) // windows)


def segmentation(panel: pd.DataFrame, freq: str, *, method: Literal["kmeans", "dbscan"] = "kmeans",
                 k: int | None = None, last: int | None = None, sizes_window: int = SIZES_WINDOW) -> Segmentation:
    """Segment the panel's users on features of the last ``last`` periods (all when None); k None: by silhouette."""
    features = seg.user_features(panel, freq, start=feature_start(panel, last))
    model = seg.UserSegmenter(method=method, n_clusters=k).fit(features)
    step = sizes_step(int(panel["period"].nunique()), sizes_window, users=len(features))
    descriptions = seg.describe_segments(features, model.labels_, freq)
    names = profiles.segment_names(features, model.labels_)
    descriptions.insert(1, "name", descriptions["segment"].astype(int).map(names))
    return Segmentation(
        features=features,
        labels=pd.Series(model.labels_, index=features.index, name="segment"),
        descriptions=descriptions,
        traits=profiles.trait_matrix(features, model.labels_, freq),
        projection=seg.projection_2d(features, model.labels_, model),
        silhouette=dict(model.silhouette_),
        sizes=seg.segment_sizes_over_time(panel, model, freq, window=sizes_window, step=step),
        fitted_on=int(getattr(model, "fit_users_", len(features))),
    )
