"""Cached views of the User, Migration and Segments pages (assembled by ``interest_core.views``).

The analytics modules (scikit-learn, scipy) are imported on first use: pages that never ask for
them start faster.
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import pyarrow as pa
import streamlit as st

from interest_core.forecasting.page_frames import FLOWS_SHARE
from interest_core.forecasting.page_models import PageModel
from interest_core.grouping import CategoryChoice
from interest_core.views.migration import MigrationForecast, MigrationView, Mode
from interest_core.views.segments import SIZES_WINDOW, Segmentation
from interest_core.views.users import UserView
from ui import fits
from ui.queries import analytics_panel, data_end, user_rows
from ui.store import DatasetKey

FORECAST_MODELS: tuple[str, ...] = ("recency_decay", "window_mean", "last_value")


@st.cache_data(show_spinner="Reading the user's history...", max_entries=64)
def user_view(ds: DatasetKey, user: str, freq: str, top_k: int = 8, grouping: CategoryChoice | None = None) -> UserView:
    """One user's shares, long- vs short-term interest, changes, diversity and profile card."""
    from interest_core.config import PanelSpec
    from interest_core.periods import check_freq
    from interest_core.views.users import user_view as assemble

    return assemble(user_rows(ds, user, freq, grouping), PanelSpec(freq=check_freq(freq)), user, top_k=top_k)


@st.cache_data(show_spinner="Forecasting the user's next periods...", max_entries=64)
def user_forecast(ds: DatasetKey, user: str, freq: str, model: str = "recency_decay", h: int = 4,
                  grouping: CategoryChoice | None = None) -> pd.DataFrame:
    """History and an h-period forecast with 80/95% intervals of one user (trajectories.merge_forecast frame)."""
    from interest_core.views.users import user_forecast as forecast

    return forecast(user_rows(ds, user, freq, grouping), user, freq, data_end(ds), model=model, h=h)


@st.cache_data(show_spinner=False, max_entries=32, ttl=60)
def _recommender_freq(ds: DatasetKey) -> str | None:
    """The smallest stored panel (monthly first: the closest to the user x category totals), None when none is.
    On a large log (that panel over the page models' cap) the recommender finds neighbours among its sample."""
    from interest_core.derived import panel_relation
    from ui.queries import whole_dataset

    if not whole_dataset(ds):
        return None
    return next((f for f in ("M", "W", "D") if panel_relation(ds.store(), ds.name, f) is not None), None)


def _recommender_sample(ds: DatasetKey) -> Any:
    freq = _recommender_freq(ds)
    return None if freq is None else fits.model_sample(ds, freq)


@st.cache_resource(show_spinner="Learning which categories go together...", max_entries=8)
def _recommender(ds: DatasetKey, level: str, known_weight: float) -> Any:
    from interest_core.analytics import recommendations as rec

    sample = _recommender_sample(ds)
    if sample is not None:
        train = _interactions(ds, level, sample.where())
    elif level == "category":  # the user x category totals the grouping reads too (one scan of the events)
        from ui.grouping import user_category

        train = user_category(ds).rename(columns={"category": "item"}).astype({"user_id": "string", "item": "string"})
    else:
        train = rec.interactions(ds.source(), level=level)  # type: ignore[arg-type]
    return rec.CooccurrenceRecommender(known_weight=known_weight).fit(train)


def _interactions(ds: DatasetKey, level: str, where: str) -> pd.DataFrame:
    """user_id, item, interest of the users ``where`` keeps: categories summed from the stored monthly panel, items
    from the events."""
    from interest_core.analytics import recommendations as rec
    from interest_core.derived_panel import stored_source, user_category_totals
    from interest_core.forecasting.page_frames import not_stored
    from interest_core.panel import EventsSource

    if level != "category":
        events = ds.source()
        return rec.interactions(EventsSource(events.con, f"(SELECT * FROM {events.relation} WHERE {where})"),
                                level=level)  # type: ignore[arg-type]
    freq = _recommender_freq(ds)
    source = stored_source(ds.store(), ds.name, freq, where=where) if freq is not None else None
    if source is None:
        raise not_stored(ds.name, str(freq))
    return user_category_totals(source).rename(columns={"category": "item"}).astype(
        {"user_id": "string", "item": "string"})


def _recommend(ds: DatasetKey, users: list[str], k: int, level: str, known_weight: float) -> pd.DataFrame:
    fitted = _recommender(ds, level, known_weight)
    if _recommender_sample(ds) is not None:
        quoted = ", ".join("'" + str(u).replace("'", "''") + "'" for u in users)
        return fitted.recommend_rows(_interactions(ds, level, f"user_id IN ({quoted or 'NULL'})"), k=k)
    return fitted.recommend(users, k=k)


@st.cache_data(show_spinner=False, max_entries=64)  # a large log asks DuckDB for the user's rows: not on each rerun
def recommendations(ds: DatasetKey, user: str, k: int = 10, level: str = "category",
                    known_weight: float = 0.0) -> pd.DataFrame:
    """item, score, rank, known: the user's top k next categories (or items) by user-user cosine."""
    return _recommend(ds, [user], k, level, known_weight).drop(columns="user_id")


@st.cache_data(show_spinner=False, max_entries=16)
def recommendations_of(ds: DatasetKey, users: list[str], k: int = 10) -> pd.DataFrame:
    """user_id, item, score, rank, known: ``recommendations`` of several users in one call."""
    return _recommend(ds, users, k, "category", 0.0)


def recommender_note(ds: DatasetKey) -> str | None:
    """What the User page says of its recommendations on a large log, None on a small one."""
    freq = _recommender_freq(ds)
    said = "Recommendations come from the most similar users among"
    return None if freq is None else fits.sample_note(ds, freq, said)


@st.cache_data(show_spinner=False, max_entries=32)
def segment_members(ds: DatasetKey, freq: str, method: str, k: int | None, last: int | None,
                    grouping: CategoryChoice, segment: int) -> pd.DataFrame:
    """One segment's users (segment_profiles.member_table) with a link to each one's User page ('open')."""
    from urllib.parse import quote

    from interest_core.analytics.segment_profiles import member_table

    seg = segmentation(ds, freq, method, k, last, grouping=grouping)
    users = member_table(seg.features, seg.labels.to_numpy(), segment, freq)
    name = quote(ds.name)
    return users.assign(open=[f"user?user={quote(str(u))}&dataset={name}" for u in users["user_id"]])


def segmentation(ds: DatasetKey, freq: str, method: str = "kmeans", k: int | None = None, last: int | None = None,
                 sizes_window: int = SIZES_WINDOW, grouping: CategoryChoice | None = None) -> Segmentation:
    """Features, labels, descriptions, projection, silhouette and sizes over time of one segmentation; category
    features by ``grouping`` (default: the dataset's suggested grouping, learned groups above 50 categories).

    Fitted once by the background worker and saved (ui.fits); raises ModelFitting while it runs."""
    spec, choice = segmentation_model(ds, freq, method, k, last, sizes_window, grouping)
    return cast(Segmentation, fits.fitted(spec, lambda: fits.model_frame(ds, freq, spec, choice)))


def segmentation_model(ds: DatasetKey, freq: str, method: str = "kmeans", k: int | None = None,
                       last: int | None = None, sizes_window: int = SIZES_WINDOW,
                       grouping: CategoryChoice | None = None) -> tuple[PageModel, CategoryChoice]:
    """The page model of ``segmentation`` and the grouping of its category features."""
    from ui.grouping import suggested_choice

    choice = grouping if grouping is not None else suggested_choice(ds)
    return fits.basis(ds, freq).segmentation(method, k, last, sizes_window, choice), choice


def _segment_members(ds: DatasetKey, freq: str, segment: int | None) -> list[str] | None:
    """Users of one segment of the default segmentation (the Segments page's first view); None: everyone."""
    return None if segment is None else segmentation(ds, freq).members(segment)


# A resource, not data: the transitions (a row per user, period pair and flow; 3 M rows on a 10 M-event log) are
# shared as they are, where cache_data would copy them on every read; callers only aggregate or filter them. Over
# the stored panel ("periods" mode) they stay an Arrow table that DuckDB aggregates (migration_sql).
@st.cache_resource(show_spinner="Finding how interest moved...", max_entries=8)
def _transitions(ds: DatasetKey, freq: str, grouping: CategoryChoice, mode: str, start: str, end: str,
                 split: str | None) -> pd.DataFrame | pa.Table:
    from interest_core.analytics.migration_sql import transitions_table
    from interest_core.derived_panel import grouped_source
    from interest_core.grouping import OTHER
    from interest_core.views.migration import transitions
    from ui.grouping import panel_map
    from ui.queries import panel_periods

    sample = fits.model_sample(ds, freq, FLOWS_SHARE)  # a large log: the users of a stated sample only
    if mode == "periods":  # the coupling in DuckDB over the stored panel (pandas merges took 5-10 s at 10 M events)
        source = grouped_source(ds.store(), ds.name, freq, panel_map(ds, grouping), ds.window,
                                drop=OTHER if grouping.drop_other else None,
                                where=sample.where() if sample is not None else None)
        if source is not None:
            return transitions_table(source, freq, start=start, end=end)

    # Only the periods of the selection: transitions never look outside [start, end].
    rows = panel_periods(ds, freq, grouping, start, end)
    if sample is not None:
        rows = rows[rows["user_id"].isin(_sample_users(ds, freq))]
    return transitions(rows, freq, cast(Mode, mode), start, end, split)


def _sample_users(ds: DatasetKey, freq: str) -> pd.Index:
    """The user ids of the Migration page's sample on a large log (fits.model_sample)."""
    from interest_core.derived import users_relation
    from interest_core.panel import EventsSource

    sample, relation = fits.model_sample(ds, freq, FLOWS_SHARE), users_relation(ds.store(), ds.name, freq)
    if sample is None or relation is None:
        return pd.Index([])
    return pd.Index(EventsSource(ds.store(), relation).query(
        f"SELECT user_id FROM {{events}} WHERE {sample.where()}")["user_id"].astype("string"))


@st.cache_data(show_spinner="Summing the flows...", max_entries=64)
def migration_view(ds: DatasetKey, freq: str, grouping: CategoryChoice, mode: str, start: str, end: str,
                   split: str | None = None, segment: int | None = None, min_users: int = 5) -> MigrationView:
    """Matrix, Sankey links, net flows, users and period pairs of one selection; ``segment`` restricts
    it to the users of one segment of the default segmentation."""
    from interest_core.analytics.migration import net_flows
    from interest_core.analytics.migration_sql import view_tables
    from interest_core.views.migration import SANKEY_LAST_PAIRS, SANKEY_MAX_CATEGORIES, of_users
    from interest_core.views.migration import migration_view as assemble

    tr = _transitions(ds, freq, grouping, mode, start, end, split)
    members = _segment_members(ds, freq, segment)
    if isinstance(tr, pd.DataFrame):
        return assemble(of_users(tr, members), min_users=min_users)
    t = view_tables(tr, members, min_users=min_users, top_k=SANKEY_MAX_CATEGORIES, last_pairs=SANKEY_LAST_PAIRS)
    return MigrationView(matrix=t.matrix, hidden=t.hidden, links=t.links, links_hidden=t.links_hidden,
                         net=net_flows(t.matrix), users=t.users, pairs=t.pairs)


@st.cache_data(show_spinner=False, max_entries=64)
def flow_users(ds: DatasetKey, freq: str, grouping: CategoryChoice, mode: str, start: str, end: str, split: str | None,
               segment: int | None, from_category: str, to_category: str) -> pd.DataFrame:
    """The users behind one flow of a migration_view selection, biggest flow first."""
    from interest_core.analytics import migration_sql
    from interest_core.analytics.migration import flow_users as users_of
    from interest_core.views.migration import of_users

    tr = _transitions(ds, freq, grouping, mode, start, end, split)
    members = _segment_members(ds, freq, segment)
    if isinstance(tr, pd.DataFrame):
        return users_of(of_users(tr, members), from_category, to_category)
    return migration_sql.flow_users(tr, members, from_category, to_category)


@st.cache_data(show_spinner="Forecasting where interest will move...", max_entries=32)
def migration_forecast(ds: DatasetKey, freq: str, grouping: CategoryChoice, t: str, model: str = "recency_decay",
                       min_users: int = 5) -> MigrationForecast:
    """Forecast from data up to t only; the implied t -> t+1 matrix, against the actual one when known."""
    from interest_core.views.migration import migration_forecast as forecast

    return forecast(_migration_panel(ds, freq, grouping), freq, t, model=model, min_users=min_users)


def _migration_panel(ds: DatasetKey, freq: str, grouping: CategoryChoice) -> pd.DataFrame:
    """The grouped panel the migration forecast reads: on a large log only the Migration page's sample's users."""
    from interest_core.forecasting.page_frames import sampled_panel
    from ui.grouping import panel_map

    sample = fits.model_sample(ds, freq, FLOWS_SHARE)
    if sample is None:
        return analytics_panel(ds, freq, grouping)
    return grouping.filter(sampled_panel(ds.store(), ds.name, freq, sample, panel_map(ds, grouping)))
