"""Every st.cache_data / st.cache_resource of the app, and nothing else caches.

Keys:

- the store (one DuckDB connection per process and database path): ``cache_resource`` on the
  resolved path, so tests with their own ``$INTEREST_DB`` get their own store;
- the demo dataset: ingested once per process and store path (``cache_resource``);
- data queries: ``cache_data`` on (store path, dataset name, the dataset's fingerprint, the
  query's own arguments). The fingerprint is read from the catalog on every call (one small
  query), so deleting or re-ingesting a dataset under the same name changes the key;
- uploads: ``cache_data`` on the sha256 of the uploaded bytes (never on a frame's hash).

Cached functions return small aggregates (``cache_data`` hands each caller a copy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from interest_core import panel
from interest_core.charts import category_colors as _palette
from interest_core.ingest.uploads import Inspection, code_counts, ensure_demo, inspect_file, save_upload, sha256_bytes
from interest_core.store import DatasetInfo, Store, default_db_path

TOP_K = 8


# -- store --------------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> Store:
    return Store(Path(path))


@st.cache_resource(show_spinner="Preparing the demo dataset (first start only)...")
def _demo_once(path: str) -> bool:
    """Ingest data/demo/events.parquet as 'demo' when this store lacks it; once per process and store."""
    ensure_demo(_store_at(path))
    return True


def db_path() -> str:
    return str(default_db_path().resolve())


def store() -> Store:
    """The app's store ($INTEREST_DB or data/interest.duckdb), with the demo ingested on first use."""
    path = db_path()
    found = _store_at(path)
    _demo_once(path)
    return found


def fingerprint(name: str) -> str:
    return store().fingerprint(name)


def _source(path: str, name: str) -> panel.EventsSource:
    return panel.events_source(_store_at(path), name)


# -- dataset queries (keyed on path, name, fingerprint) -----------------------------------------

@st.cache_data(show_spinner=False, max_entries=64)
def _describe(path: str, name: str, fp: str) -> DatasetInfo:
    return _store_at(path).describe(name)


@st.cache_data(show_spinner=False, max_entries=64)
def _kpis(path: str, name: str, fp: str) -> dict[str, Any]:
    return panel.kpis(_source(path, name))


@st.cache_data(show_spinner=False, max_entries=64)
def _window(path: str, name: str, fp: str) -> dict[str, Any]:
    return panel.time_window(_source(path, name))


@st.cache_data(show_spinner=False, max_entries=128)
def _activity(path: str, name: str, fp: str, freq: str) -> pd.DataFrame:
    return panel.activity_over_time(_source(path, name), freq)


@st.cache_data(show_spinner=False, max_entries=64)
def _funnel(path: str, name: str, fp: str) -> pd.DataFrame:
    return panel.funnel(_source(path, name))


@st.cache_data(show_spinner=False, max_entries=128)
def _top_categories(path: str, name: str, fp: str, freq: str, k: int) -> pd.DataFrame:
    return panel.top_categories_over_time(_source(path, name), freq, k=k)


@st.cache_data(show_spinner=False, max_entries=64)
def _colors(path: str, name: str, fp: str, n: int) -> dict[str, str]:
    ranked = panel.category_totals(_source(path, name))["category"].astype(str).head(n).tolist()
    return _palette(ranked)


@st.cache_data(show_spinner=False, max_entries=32)
def _report(path: str, name: str, fp: str) -> pd.DataFrame:
    return _store_at(path).report(name).to_frame()


@st.cache_data(show_spinner=False, max_entries=16)
def _rejected_rows(path: str, name: str, fp: str) -> pd.DataFrame:
    return _store_at(path).rejected_rows(name)


def describe(name: str) -> DatasetInfo:
    return _describe(db_path(), name, fingerprint(name))


def kpis(name: str) -> dict[str, Any]:
    return _kpis(db_path(), name, fingerprint(name))


def window(name: str) -> dict[str, Any]:
    """Where most events are in time (start, end, outside, first, last): time axes show this span."""
    return _window(db_path(), name, fingerprint(name))


def activity(name: str, freq: str) -> pd.DataFrame:
    return _activity(db_path(), name, fingerprint(name), freq)


def funnel(name: str) -> pd.DataFrame:
    return _funnel(db_path(), name, fingerprint(name))


def top_categories(name: str, freq: str, k: int = TOP_K) -> pd.DataFrame:
    return _top_categories(db_path(), name, fingerprint(name), freq, k)


def colors(name: str, n: int = 64) -> dict[str, str]:
    """One colour per category for every chart of this dataset (its n most engaged categories ranked)."""
    return _colors(db_path(), name, fingerprint(name), n)


def report(name: str) -> pd.DataFrame:
    return _report(db_path(), name, fingerprint(name))


def rejected_rows(name: str) -> pd.DataFrame:
    return _rejected_rows(db_path(), name, fingerprint(name))


def datasets() -> pd.DataFrame:
    """The catalog (not cached: one small query, and it must show an ingest or delete at once)."""
    return store().list()


# -- uploads (keyed on the sha256 of the bytes) -------------------------------------------------

def upload(data: bytes, filename: str) -> tuple[str, Path]:
    """sha256 of an upload and the content-addressed file holding it (written once)."""
    sha = sha256_bytes(data)
    return sha, save_upload(data, filename)


@st.cache_data(show_spinner="Reading the file...", max_entries=16)
def _inspect(sha: str, path: str) -> Inspection:
    return inspect_file(Path(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _codes(sha: str, path: str, column: str) -> pd.DataFrame:
    return code_counts(Path(path), column)


def inspect_upload(sha: str, path: Path) -> Inspection:
    return _inspect(sha, str(path))


def upload_codes(sha: str, path: Path, column: str) -> pd.DataFrame:
    return _codes(sha, str(path), column)


# -- interest analytics: the User, Migration and Segments pages --------------------------------
# The analytics modules (scikit-learn, scipy) are imported on first use: pages that never ask
# for them start faster.

@st.cache_data(show_spinner="Building the interest panel...", max_entries=16)
def _analytics_panel(path: str, name: str, fp: str, freq: str, top_k: int | None) -> pd.DataFrame:
    """The weekly (or other) interest panel, categories past the top_k folded into 'other' when asked."""
    from interest_core.config import GroupingSpec, PanelSpec
    from interest_core.grouping import category_map
    from interest_core.periods import check_freq

    source = _source(path, name)
    grouping = GroupingSpec(method="topk", k=top_k) if top_k else GroupingSpec()
    spec = PanelSpec(freq=check_freq(freq), grouping=grouping)
    return panel.build_panel(source, spec, category_map=category_map(source, spec))


def analytics_panel(name: str, freq: str, top_k: int | None = None) -> pd.DataFrame:
    return _analytics_panel(db_path(), name, fingerprint(name), freq, top_k)


@st.cache_data(show_spinner=False, max_entries=64)
def _search_users(path: str, name: str, fp: str, text: str, limit: int) -> pd.DataFrame:
    return panel.search_users(_source(path, name), text, limit)


def search_users(name: str, text: str = "", limit: int = 50) -> pd.DataFrame:
    """user_id, events, last_seen of users whose id contains ``text``, most active first."""
    return _search_users(db_path(), name, fingerprint(name), text.strip(), limit)


@st.cache_data(show_spinner="Reading the user's history...", max_entries=64)
def _user_view(path: str, name: str, fp: str, user: str, freq: str, top_k: int) -> dict[str, Any]:
    from interest_core.analytics import trajectories as traj
    from interest_core.config import PanelSpec
    from interest_core.periods import check_freq
    from interest_core.transforms import interest_profile

    spec = PanelSpec(freq=check_freq(freq))
    rows = panel.build_panel(_source(path, name), spec, users=[user])
    profile = interest_profile(rows, spec)
    return {
        "shares": traj.stacked_shares(rows, user, freq, top_k=top_k),
        "long_short": traj.long_short_interest(rows, spec, user, top_k=3),
        # Change points of the raw shares, and of the short- and long-term (smoothed) shares.
        "changes": {col: traj.change_points(profile if col != "share" else rows, share_col=col)
                    for col in ("share", "short_share", "long_share")},
        "diversity": traj.diversity(rows),
        "card": traj.profile_card(rows, user, freq),
        "spec": {"long": spec.long_half_life, "short": spec.short_half_life},
    }


def user_view(name: str, user: str, freq: str, top_k: int = 8) -> dict[str, Any]:
    """One user's frames for the User page: shares, long_short, changes, diversity, card."""
    return _user_view(db_path(), name, fingerprint(name), user, freq, top_k)


@st.cache_resource(show_spinner="Learning which categories go together...", max_entries=8)
def _recommender(path: str, name: str, fp: str, level: str, known_weight: float) -> Any:
    from interest_core.analytics import recommendations as rec

    train = rec.interactions(_source(path, name), level=level)  # type: ignore[arg-type]
    return rec.CooccurrenceRecommender(known_weight=known_weight).fit(train)


def recommendations(name: str, user: str, k: int = 10, level: str = "category",
                    known_weight: float = 0.0) -> pd.DataFrame:
    """item, score, rank, known: the user's top k next categories (or items) by user-user cosine."""
    model = _recommender(db_path(), name, fingerprint(name), level, known_weight)
    return model.recommend([user], k=k).drop(columns="user_id")


@st.cache_data(show_spinner="Finding how interest moved...", max_entries=32)
def _transitions(path: str, name: str, fp: str, freq: str, top_k: int, mode: str, start: str, end: str,
                 split: str | None) -> pd.DataFrame:
    from interest_core.analytics import migration as mig

    frame = _analytics_panel(path, name, fp, freq, top_k)
    if mode == "windows" and split is not None:
        from interest_core.periods import PERIOD_OFFSETS

        before_end = pd.Timestamp(split) - PERIOD_OFFSETS[freq]
        return mig.window_transitions(frame, (start, before_end), (split, end), entry_exit=True)
    if mode == "top":
        return mig.top_category_transitions(frame, freq, start=start, end=end)
    return mig.share_transitions(frame, freq, start=start, end=end, entry_exit=True)


def transitions(name: str, freq: str, top_k: int, mode: str, start: str, end: str,
                split: str | None = None) -> pd.DataFrame:
    """Per-user transitions (migration.TRANSITION_COLUMNS) for mode 'periods', 'windows' or 'top'."""
    return _transitions(db_path(), name, fingerprint(name), freq, top_k, mode, start, end, split)


@st.cache_data(show_spinner="Segmenting users...", max_entries=16)
def _segmentation(path: str, name: str, fp: str, freq: str, method: str, k: int | None, last: int | None,
                  sizes_window: int) -> dict[str, Any]:
    from interest_core.analytics import segments as seg

    frame = _analytics_panel(path, name, fp, freq, None)
    start = None
    if last:
        periods = frame["period"].drop_duplicates().sort_values()
        start = periods.iloc[max(0, len(periods) - last)]
    features = seg.user_features(frame, freq, start=start)
    model = seg.UserSegmenter(method=method, n_clusters=k).fit(features)  # type: ignore[arg-type]
    n_periods = frame["period"].nunique()
    step = max(1, (n_periods - sizes_window) // 24)  # at most ~25 windows: a few seconds, not a minute
    return {
        "features": features,
        "labels": pd.Series(model.labels_, index=features.index, name="segment"),
        "descriptions": seg.describe_segments(features, model.labels_, freq),
        "projection": seg.projection_2d(features, model.labels_, model),
        "silhouette": dict(model.silhouette_),
        "sizes": seg.segment_sizes_over_time(frame, model, freq, window=sizes_window, step=step),
    }


def segmentation(name: str, freq: str, method: str = "kmeans", k: int | None = None, last: int | None = None,
                 sizes_window: int = 8) -> dict[str, Any]:
    """Features, labels, descriptions, projection, silhouette and sizes over time of one segmentation."""
    return _segmentation(db_path(), name, fingerprint(name), freq, method, k, last, sizes_window)


@st.cache_data(show_spinner=False, max_entries=64)
def _period_list(path: str, name: str, fp: str, freq: str) -> list[pd.Timestamp]:
    from interest_core.periods import period_grid

    lo, hi = panel.period_bounds(_source(path, name), freq)
    return list(period_grid(lo, hi, freq))


def period_list(name: str, freq: str) -> list[pd.Timestamp]:
    """Every period start of the dataset at this frequency, oldest first."""
    return _period_list(db_path(), name, fingerprint(name), freq)


def _segment_users(path: str, name: str, fp: str, freq: str, segment: int | None) -> list[str] | None:
    if segment is None:
        return None
    labels = _segmentation(path, name, fp, freq, "kmeans", None, None, 8)["labels"]
    return [str(u) for u in labels.index[labels == segment]]


@st.cache_data(show_spinner="Summing the flows...", max_entries=64)
def _migration_view(path: str, name: str, fp: str, freq: str, top_k: int, mode: str, start: str, end: str,
                    split: str | None, segment: int | None, min_users: int) -> dict[str, Any]:
    from interest_core.analytics import migration as mig

    tr = _transitions(path, name, fp, freq, top_k, mode, start, end, split)
    members = _segment_users(path, name, fp, freq, segment)
    if members is not None:
        tr = tr[tr["user_id"].isin(members)]
    matrix, hidden = mig.flow_matrix(tr, min_users=min_users)
    # At most 4 period pairs and 8 categories with no arrival/departure nodes: a Sankey stays legible.
    links, links_hidden = mig.sankey_links(tr, min_users=min_users, top_k=min(top_k, 8), last_pairs=4,
                                           entry_exit=False)
    return {"matrix": matrix, "hidden": hidden, "links": links, "links_hidden": links_hidden,
            "net": mig.net_flows(matrix), "users": int(tr["user_id"].nunique()),
            "pairs": int(tr[["period", "to_period"]].drop_duplicates().shape[0])}


def migration_view(name: str, freq: str, top_k: int, mode: str, start: str, end: str, split: str | None = None,
                   segment: int | None = None, min_users: int = 5) -> dict[str, Any]:
    """matrix (+ hidden count), Sankey links (+ hidden), net flows, users and period pairs of one selection.

    ``segment`` restricts to the users of one segment of the default segmentation (Segments page).
    """
    return _migration_view(db_path(), name, fingerprint(name), freq, top_k, mode, start, end, split, segment,
                           min_users)


@st.cache_data(show_spinner=False, max_entries=64)
def _flow_users(path: str, name: str, fp: str, freq: str, top_k: int, mode: str, start: str, end: str,
                split: str | None, segment: int | None, from_category: str, to_category: str) -> pd.DataFrame:
    from interest_core.analytics import migration as mig

    tr = _transitions(path, name, fp, freq, top_k, mode, start, end, split)
    members = _segment_users(path, name, fp, freq, segment)
    if members is not None:
        tr = tr[tr["user_id"].isin(members)]
    return mig.flow_users(tr, from_category, to_category)


def flow_users(name: str, freq: str, top_k: int, mode: str, start: str, end: str, split: str | None,
               segment: int | None, from_category: str, to_category: str) -> pd.DataFrame:
    """The users behind one flow of a migration_view selection, biggest flow first."""
    return _flow_users(db_path(), name, fingerprint(name), freq, top_k, mode, start, end, split, segment,
                       from_category, to_category)


FORECAST_MODELS: tuple[str, ...] = ("recency_decay", "window_mean", "last_value")


def _last_complete(path: str, name: str, fp: str, freq: str, last_period: pd.Timestamp) -> pd.Timestamp:
    from interest_core.forecasting.series import last_complete_period

    return last_complete_period(last_period, pd.Timestamp(_kpis(path, name, fp)["end"]), freq)


@st.cache_data(show_spinner="Forecasting the user's next periods...", max_entries=64)
def _user_forecast(path: str, name: str, fp: str, user: str, freq: str, model: str, h: int) -> pd.DataFrame:
    from interest_core.analytics import trajectories as traj
    from interest_core.config import PanelSpec
    from interest_core.periods import check_freq

    rows = panel.build_panel(_source(path, name), PanelSpec(freq=check_freq(freq)), users=[user])
    if rows.empty:
        return traj.merge_forecast(rows, pd.DataFrame(columns=["unique_id", "period", "model", "yhat"]), user)
    end = _last_complete(path, name, fp, freq, rows["period"].max())
    return traj.forecast_user(rows, user, freq, model=model, h=h, end=end)


def user_forecast(name: str, user: str, freq: str, model: str = "recency_decay", h: int = 4) -> pd.DataFrame:
    """History and an h-period forecast with 80/95% intervals of one user (trajectories.merge_forecast frame)."""
    return _user_forecast(db_path(), name, fingerprint(name), user, freq, model, h)


@st.cache_data(show_spinner="Forecasting where interest will move...", max_entries=32)
def _migration_forecast(path: str, name: str, fp: str, freq: str, top_k: int, t: str, model: str,
                        min_users: int) -> dict[str, Any]:
    """Forecast from data up to t only; the implied t -> t+1 matrix, against the actual one when known."""
    from interest_core.analytics import migration as mig
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.forecasting.series import training_frame

    frame = _analytics_panel(path, name, fp, freq, top_k)
    train = training_frame(frame, "engagement", freq, end=pd.Timestamp(t))
    forecasts = make_forecaster(model).fit(train, freq).predict(1)
    compared = mig.backtest_transitions(frame, forecasts, freq, min_users=min_users)
    implied, hidden = mig.flow_matrix(mig.forecast_transitions(frame, forecasts, freq), min_users=min_users)
    return {"compared": compared, "l1": mig.relative_l1(compared), "implied": implied, "hidden": hidden}


def migration_forecast(name: str, freq: str, top_k: int, t: str, model: str = "recency_decay",
                       min_users: int = 5) -> dict[str, Any]:
    """compared (forecast vs actual cells, t -> t+1), l1, and the implied matrix (+ hidden cells)."""
    return _migration_forecast(db_path(), name, fingerprint(name), freq, top_k, t, model, min_users)


def last_complete_period(name: str, freq: str) -> str:
    """The last period whose whole span has data (forecasts of the next period start after it)."""
    last = period_list(name, freq)[-1]
    return f"{_last_complete(db_path(), name, fingerprint(name), freq, last):%Y-%m-%d}"


# -- churn, promotions and demand: the Churn, Promotions and Demand pages -----------------------
# Fitted models are cache_resource (shared, never refitted on a rerun); the frames drawn from them
# are cache_data. Every model learns from complete periods only (a partial last period would read
# as everyone slowing down).

OPS_HISTORY = 26  # periods of (user, category) history the engagement forecaster learns from


@st.cache_data(show_spinner=False, max_entries=64)
def _ops_last_period(path: str, name: str, fp: str, freq: str) -> pd.Timestamp:
    from interest_core.forecasting.series import last_complete_period

    frame = _analytics_panel(path, name, fp, freq, None)
    return last_complete_period(frame["period"].max(), pd.Timestamp(_kpis(path, name, fp)["end"]), freq)


def ops_last_period(name: str, freq: str) -> pd.Timestamp:
    """The last complete period of the dataset at this frequency (what churn and forecasts stand on)."""
    return _ops_last_period(db_path(), name, fingerprint(name), freq)


@st.cache_resource(show_spinner="Training the churn model...", max_entries=16)
def _churn_model(path: str, name: str, fp: str, freq: str, horizon: int) -> Any:
    from interest_core.analytics.churn import ChurnModel

    frame = _analytics_panel(path, name, fp, freq, None)
    return ChurnModel(freq=freq, horizon=horizon).fit(frame, last_period=_ops_last_period(path, name, fp, freq))


@st.cache_data(show_spinner="Scoring churn risk...", max_entries=16)
def _churn_risk(path: str, name: str, fp: str, freq: str, horizon: int) -> pd.DataFrame:
    return _churn_model(path, name, fp, freq, horizon).predict_risk()


def churn_risk(name: str, freq: str, horizon: int) -> pd.DataFrame:
    """Users active lately with risk, recency, reasons and features, riskiest first (ChurnModel.predict_risk)."""
    return _churn_risk(db_path(), name, fingerprint(name), freq, horizon)


@st.cache_data(show_spinner="Backtesting the churn model against recency...", max_entries=16)
def _churn_backtest(path: str, name: str, fp: str, freq: str, horizon: int) -> dict[str, Any]:
    from interest_core.analytics.churn import evaluate_churn

    frame = _analytics_panel(path, name, fp, freq, None)
    ev = evaluate_churn(frame, freq=freq, horizon=horizon, last_period=_ops_last_period(path, name, fp, freq))
    return {"summary": ev.summary(), "brier_base_rate": ev.brier_base_rate, "reliability": ev.reliability,
            "per_cutoff": ev.per_cutoff}


def churn_backtest(name: str, freq: str, horizon: int) -> dict[str, Any]:
    """summary (ROC/PR-AUC of model and recency, Brier), reliability table and per-cutoff figures."""
    return _churn_backtest(db_path(), name, fingerprint(name), freq, horizon)


@st.cache_resource(show_spinner="Fitting the engagement forecaster...", max_entries=8)
def _engagement_model(path: str, name: str, fp: str, freq: str, model: str) -> Any:
    from interest_core.forecasting import series
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.periods import PERIOD_OFFSETS

    frame = _analytics_panel(path, name, fp, freq, None)
    last = _ops_last_period(path, name, fp, freq)
    start = last - PERIOD_OFFSETS[freq] * (OPS_HISTORY - 1)
    train = series.training_frame(frame[frame["period"] <= last], "engagement", freq, start=start, end=last)
    return make_forecaster(model).fit(train, freq)


@st.cache_data(show_spinner="Forecasting who engages with what...", max_entries=16)
def _engagement_scores(path: str, name: str, fp: str, freq: str, model: str, horizon: int) -> pd.DataFrame:
    from interest_core.analytics.promotions import engagement_scores

    return engagement_scores(_engagement_model(path, name, fp, freq, model).predict(horizon))


def promotion_categories(name: str, freq: str, model: str, horizon: int) -> list[str]:
    """Categories with a forecast, by how many users are expected to engage with them."""
    scores = _engagement_scores(db_path(), name, fingerprint(name), freq, model, horizon)
    return scores.groupby("category")["p_engage"].sum().sort_values(ascending=False).index.astype(str).tolist()


@st.cache_data(show_spinner="Ranking users...", max_entries=64)
def _promotion(path: str, name: str, fp: str, freq: str, model: str, horizon: int, category: str,
               max_churn_risk: float | None, churn_horizon: int) -> dict[str, pd.DataFrame]:
    from interest_core.analytics import promotions as promo

    scores = _engagement_scores(path, name, fp, freq, model, horizon).assign(yhat=0.0)
    churn = _churn_risk(path, name, fp, freq, churn_horizon)
    ranked = promo.promotion_list(scores, category, churn=churn, max_churn_risk=max_churn_risk)
    return {"ranked": ranked, "curve": promo.reach_curve(ranked)}


def promotion(name: str, freq: str, model: str, horizon: int, category: str, max_churn_risk: float | None,
              churn_horizon: int) -> dict[str, pd.DataFrame]:
    """ranked (the full list, best first) and curve (expected reach by list size) for one category."""
    return _promotion(db_path(), name, fingerprint(name), freq, model, horizon, category, max_churn_risk,
                      churn_horizon)


@st.cache_data(show_spinner="Backtesting the list against a recency list...", max_entries=32)
def _promotion_lift(path: str, name: str, fp: str, freq: str, model: str, horizon: int, category: str
                    ) -> pd.DataFrame:
    from interest_core.analytics.promotions import backtest_lift
    from interest_core.forecasting.forecasters import make_forecaster

    frame = _analytics_panel(path, name, fp, freq, None)
    result = backtest_lift(frame, lambda: make_forecaster(model), category, freq=freq, horizon=horizon,
                           last_period=_ops_last_period(path, name, fp, freq), history=OPS_HISTORY)
    return result.table.assign(cutoffs=len(result.cutoffs))


def promotion_lift(name: str, freq: str, model: str, horizon: int, category: str) -> pd.DataFrame:
    """list_size, model_hits, recency_hits, random_hits, lifts: summed over the last 3 backtest cutoffs."""
    return _promotion_lift(db_path(), name, fingerprint(name), freq, model, horizon, category)


@st.cache_data(show_spinner="Backtesting demand models and forecasting...", max_entries=16)
def _demand(path: str, name: str, fp: str, freq: str, top_k: int, horizon: int, models: tuple[str, ...],
            min_users: int) -> dict[str, Any]:
    from interest_core.analytics.demand import demand_forecast

    frame = _analytics_panel(path, name, fp, freq, top_k)
    result = demand_forecast(frame, freq, top_k=top_k + 1, horizon=horizon, models=models, min_users=min_users,
                             last_period=_ops_last_period(path, name, fp, freq))
    return {"best": result.best_model, "metric": result.metric, "hidden": result.hidden,
            "history": result.history, "forecast": result.forecast, "leaderboard": result.leaderboard,
            "categories": list(result.categories)}


def demand(name: str, freq: str, top_k: int, horizon: int, models: tuple[str, ...], min_users: int = 5
           ) -> dict[str, Any]:
    """Demand of the top_k categories (+ 'other'): best model by backtest, its forecast and the leaderboard."""
    return _demand(db_path(), name, fingerprint(name), freq, top_k, horizon, tuple(models), min_users)


@st.cache_data(show_spinner=False, max_entries=32)
def _trends(path: str, name: str, fp: str, freq: str, top_k: int | None, recent: int, previous: int,
            min_users: int) -> tuple[pd.DataFrame, int]:
    from interest_core.analytics.demand import rising_falling

    frame = _analytics_panel(path, name, fp, freq, top_k)
    return rising_falling(frame, freq, recent=recent, previous=previous, min_users=min_users,
                          last_period=_ops_last_period(path, name, fp, freq))


def trends(name: str, freq: str, top_k: int | None, recent: int = 4, previous: int = 4, min_users: int = 5
           ) -> tuple[pd.DataFrame, int]:
    """Rising / falling categories (demand.rising_falling) and how many were hidden under min_users."""
    return _trends(db_path(), name, fingerprint(name), freq, top_k, recent, previous, min_users)


# -- forecasts and scoring: the Forecasts and Scoring pages --------------------------------------
# Saved models load once per folder and manifest sha (cache_resource: shared, never refitted on a
# rerun); a re-save changes the sha and so the key. Training runs in spawned worker processes whose
# handles sit in one registry per process and models folder, so any rerun or browser tab sees them.

JOB_POLL_S = 1.0  # how often a page with a running job reads its status.json


def models_dir() -> Path:
    """Where models, backtests and jobs live ($INTEREST_MODELS_DIR or models/)."""
    from interest_core.forecasting.catalog import default_models_dir

    return default_models_dir().resolve()


@st.cache_data(show_spinner=False, max_entries=256)
def _model_info(folder: str, sha: str) -> dict[str, Any]:
    from interest_core.forecasting.catalog import model_info

    return model_info(folder)


def saved_models(dataset: str | None = None) -> pd.DataFrame:
    """Saved models, newest first (the list is read each run so a new model shows at once; rows are cached)."""
    from interest_core.errors import ArtifactError
    from interest_core.forecasting.catalog import manifest_sha, model_folders, models_table

    rows = []
    for folder in model_folders(models_dir()):
        try:
            rows.append(_model_info(str(folder), manifest_sha(folder)))
        except ArtifactError:
            continue  # being replaced right now, or not a model this code can read: not offered
    table = models_table(rows)
    return table if dataset is None else table[table["dataset"] == dataset].reset_index(drop=True)


@st.cache_resource(show_spinner="Loading the saved model...", max_entries=16)
def _saved_model(folder: str, sha: str) -> Any:
    from interest_core.forecasting import persist

    return persist.load_model(folder)  # verifies every file's hash before parsing anything


def saved_model(folder: str) -> Any:
    """The persist.SavedModel in ``folder``, loaded once per manifest sha."""
    from interest_core.forecasting.catalog import manifest_sha

    return _saved_model(folder, manifest_sha(folder))


@st.cache_resource(show_spinner="Forecasting with the saved model...", max_entries=16)
def _saved_predictions(folder: str, sha: str, h: int) -> pd.DataFrame:
    return _saved_model(folder, sha).model.predict(h, level=(80, 95))


def saved_future(folder: str, h: int, unique_id: str) -> pd.DataFrame:
    """A saved model's forecast of one series for its next h periods (empty if it has no such series)."""
    from interest_core.forecasting.catalog import manifest_sha
    from interest_core.views.forecasts import future_of

    return future_of(_saved_predictions(folder, manifest_sha(folder), h), unique_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _backtest_file(path: str, stamp: tuple[int, int]) -> Any:
    from interest_core.forecasting.saved_backtest import read_saved_backtest

    return read_saved_backtest(path)


def latest_backtest(name: str, target: str, freq: str) -> Any:
    """The latest saved backtest (saved_backtest.SavedBacktest) of a dataset, target and frequency, or None."""
    from interest_core.forecasting.backtest import backtest_path

    path = backtest_path(models_dir(), name, target, freq)
    if not path.is_file():
        return None
    info = path.stat()  # written by atomic rename: a new result is a new (mtime, size)
    return _backtest_file(str(path), (info.st_mtime_ns, info.st_size))


def _series_top_k(kind: str) -> int | None:
    from interest_core.forecasting.request import DEFAULT_TOP_K

    return DEFAULT_TOP_K["category_demand"] if kind == "category" else None


@st.cache_data(show_spinner=False, max_entries=64)
def _series_choices(path: str, name: str, fp: str, freq: str) -> list[str]:
    frame = _analytics_panel(path, name, fp, freq, _series_top_k("category"))
    return frame.groupby("category")["interest"].sum().sort_values(ascending=False).index.astype(str).tolist()


def category_choices(name: str, freq: str) -> list[str]:
    """Categories (the top 20 + other, as the demand backtests group them), most engaged first."""
    return _series_choices(db_path(), name, fingerprint(name), freq)


@st.cache_data(show_spinner="Backtesting this series...", max_entries=64)
def _series_view(path: str, name: str, fp: str, freq: str, kind: str, key: str | None, models: tuple[str, ...],
                 params_json: str, horizon: int, folds: int, saved_stamp: tuple[int, int] | None) -> dict[str, Any]:
    import json

    from interest_core.forecasting.series import last_complete_period
    from interest_core.views import forecasts as fv

    frame = _analytics_panel(path, name, fp, freq, _series_top_k(kind))
    data_end = pd.Timestamp(_kpis(path, name, fp)["end"])
    last = last_complete_period(frame["period"].max(), data_end, freq)
    history = fv.series_history(frame, kind, key, freq, end=last)  # type: ignore[arg-type]
    saved = latest_backtest(name, fv.KIND_TARGET[kind], freq) if saved_stamp else None
    rows = fv.backtest_forecasts(saved, fv.series_id(kind, key)) if saved else None  # type: ignore[arg-type]
    if rows is not None and saved is not None:
        source = f"the saved backtest of {saved.meta.created_at[:16]} UTC"
    else:
        result = fv.series_backtest(frame, kind, key, models, freq, horizon, folds,  # type: ignore[arg-type]
                                    data_end=data_end, params=json.loads(params_json))
        rows, source = result.forecasts, f"a backtest of this series ({folds} folds, {horizon} ahead)"
    return {"history": history, "forecasts": rows, "ranked": fv.rank_by_mae(rows), "source": source,
            "last": last}


def series_view(name: str, freq: str, kind: str, key: str | None, models: tuple[str, ...],
                params: dict[str, dict[str, Any]], horizon: int, folds: int, use_saved_backtest: bool = True
                ) -> dict[str, Any]:
    """history, forecasts (one series' backtest: the saved one's when it has the series), ranked models, source."""
    import json

    from interest_core.forecasting.backtest import backtest_path
    from interest_core.views.forecasts import KIND_TARGET

    saved = backtest_path(models_dir(), name, KIND_TARGET[kind], freq)
    # The saved backtest's (mtime, size) is part of the key: a re-train's new result shows at once.
    stamp = (saved.stat().st_mtime_ns, saved.stat().st_size) if use_saved_backtest and saved.is_file() else None
    return _series_view(db_path(), name, fingerprint(name), freq, kind, key, tuple(models),
                        json.dumps(params, sort_keys=True), horizon, folds, stamp)


class JobRegistry:
    """Training jobs launched by this server process (newest first), shared by every session."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._entries: list[Any] = []

    def add(self, entry: Any) -> None:
        with self._lock:
            if all(e.job.id != entry.job.id for e in self._entries):  # a second start returns the running job
                self._entries.insert(0, entry)

    def entries(self, dataset: str | None = None) -> list[Any]:
        with self._lock:
            return [e for e in self._entries if dataset is None or e.dataset == dataset]


@st.cache_resource(show_spinner=False)
def _job_registry(models_root: str) -> JobRegistry:
    return JobRegistry()


def jobs(name: str | None = None) -> list[Any]:
    """Training jobs (jobs.JobEntry: job, dataset, target, model, freq, ...) of a dataset, newest first."""
    return _job_registry(str(models_dir())).entries(name)


def launch_training(name: str, target: str, model: str, freq: str, horizon: int, folds: int) -> Any:
    """Start tasks.train in a spawned worker (one per model folder, capped): backtest, then fit and save ``model``."""
    import time

    from interest_core.forecasting import jobs as job_runner
    from interest_core.forecasting.catalog import jobs_dir
    from interest_core.views.forecasts import train_payload

    info = describe(name)
    request = train_payload(dataset=name, dataset_sha256=info.sha256, target=target, freq=freq,
                            horizon=horizon, folds=folds, model=model, models_dir=models_dir(),
                            data_end=pd.Timestamp(kpis(name)["end"]))
    frame = _analytics_panel(db_path(), name, fingerprint(name), freq, None)  # raw categories: the task groups
    job = job_runner.runner(jobs_dir(models_dir())).start("train", request.to_dict(), frames={"panel": frame},
                                                          key=request.model_dir)
    entry = job_runner.JobEntry(job, name, target, model, freq, horizon, folds, time.time(), request.model_dir)
    _job_registry(str(models_dir())).add(entry)
    return entry


@st.cache_data(show_spinner="Writing a Taobao-like sample from the dataset...", max_entries=8)
def _scoring_sample(path: str, name: str, fp: str) -> bytes:
    from interest_core.forecasting.scoring_sample import taobao_like

    return taobao_like(_source(path, name))


def scoring_sample(name: str) -> bytes:
    """CSV bytes in Taobao layout: the dataset's latest weeks, some users new, one category unseen."""
    return _scoring_sample(db_path(), name, fingerprint(name))


@st.cache_data(show_spinner="Scoring the file against the model...", max_entries=16)
def _score(sha: str, path: str, folder: str, model_sha: str, h: int, k: int, mapping_json: str | None) -> Any:
    import json

    from interest_core.forecasting import scoring
    from interest_core.ingest.formats import ColumnMapping

    mapping = ColumnMapping.from_dict(json.loads(mapping_json)) if mapping_json else None
    return scoring.score(_saved_model(folder, model_sha), path, h=h, k=k, fmt="generic" if mapping else "auto",
                         mapping=mapping)


def score_upload(sha: str, path: Path, folder: str, h: int, k: int, mapping: Any = None) -> Any:
    """scoring.ScoringResult of an uploaded file (keyed on its sha256) against a saved model (its manifest sha)."""
    import json

    from interest_core.forecasting.catalog import manifest_sha

    mapping_json = json.dumps(mapping.to_dict(), sort_keys=True) if mapping is not None else None
    return _score(sha, str(path), folder, manifest_sha(folder), h, k, mapping_json)
