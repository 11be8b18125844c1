"""Score a new events file against a saved model: who will engage with what in the next h periods.

The file goes through the same validation as any ingest (``Store.ingest`` into a throw-away
DuckDB file), then through the panel spec the model was trained with. Categories the model
never saw are folded into ``other`` and counted; users it never saw are scored from their own
new history with the training category-popularity prior blended in, and flagged cold-start.
A drift table compares the file with the training profile saved beside the model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interest_core.config import IngestOptions, PanelSpec
from interest_core.errors import ModelError
from interest_core.forecasting import series
from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.forecasters.registry import entry, registry_name
from interest_core.forecasting.persist import SavedModel, load_model
from interest_core.grouping import OTHER
from interest_core.ingest import pipeline
from interest_core.ingest.formats import BEHAVIORS, ColumnMapping
from interest_core.ingest.report import RejectReport
from interest_core.panel import EventsSource, build_panel, events_source, period_bounds
from interest_core.store import IngestResult, Store
from interest_core.text import counted, percent

PROFILE_TOP_CATEGORIES = 50  # categories kept by name in the drift profile (the rest pooled)
COLD_START_WEIGHT = 0.5  # weight of the training popularity prior for users the model never saw
PSI_MODERATE, PSI_SHIFT = 0.1, 0.25  # the usual population-stability thresholds
DRIFT_COLUMNS = ("aspect", "item", "training", "scored", "difference", "psi", "flag")
# Above this share of new users, or of events in categories the model never saw, the model does
# not fit the file: its scores are mostly the training popularity prior or the 'other' group.
DOMINANT_SHARE = 0.5


@dataclass(frozen=True)
class ScoringResult:
    scores: pd.DataFrame  # user_id, category, p_engage, yhat (sum over h), cold_start
    top_k: pd.DataFrame  # user_id, rank, category, p_engage, yhat, cold_start
    forecasts: pd.DataFrame  # the long Forecasts frame (one row per pair and future period)
    counts: dict[str, int]
    drift: pd.DataFrame  # DRIFT_COLUMNS
    report: RejectReport | None = None  # the scored file's ingest report: rejected rows by reason
    shares: dict[str, float] = field(default_factory=dict)  # users_new, events_unseen_categories (0..1)
    warnings: tuple[str, ...] = ()  # why the scores may not fit the file, in words (empty when they do)


# -- the training profile (saved in state.json as extra["profile"]) --------------------------------

def _event_counts(panel: pd.DataFrame) -> pd.Series:
    """Events per panel row (the n_<behaviour> counts summed)."""
    cols = [f"n_{b}" for b in BEHAVIORS if f"n_{b}" in panel.columns]
    return panel[cols].sum(axis=1).astype(float)


def _behavior_mix(panel: pd.DataFrame) -> pd.Series:
    totals = pd.Series({b: float(panel[f"n_{b}"].sum()) if f"n_{b}" in panel.columns else 0.0 for b in BEHAVIORS})
    return totals / max(float(totals.sum()), 1.0)


def _activity(panel: pd.DataFrame) -> dict[str, float]:
    events = panel.assign(_n=_event_counts(panel))
    per_user = events.groupby("user_id", observed=True)["_n"].sum()
    per_user_period = events.groupby(["user_id", "period"], observed=True)["_n"].sum()
    return {"users": float(len(per_user)), "events_per_user_mean": float(per_user.mean()),
            "events_per_user_median": float(per_user.median()), "events_per_user_p90": float(per_user.quantile(0.9)),
            "events_per_active_period": float(per_user_period.mean())}


def training_profile(panel: pd.DataFrame, spec: PanelSpec, category_map: pd.DataFrame | None = None
                     ) -> dict[str, Any]:
    """What scoring needs to know about the training panel: users, categories, priors, mixes.

    Built from the panel alone (its n_<behaviour> counts), so any code that fits a model from a
    panel can save it: ``save_model(..., extra={"profile": training_profile(panel, spec)})``.
    ``category_map`` (category -> group) is the grouping the panel was built with, if any.
    """
    events = _event_counts(panel)
    per_cat = events.groupby(panel["category"].astype(str)).sum()
    top = per_cat.sort_values(ascending=False, kind="stable").head(PROFILE_TOP_CATEGORIES)
    users_per_cat = panel.groupby(panel["category"].astype(str))["user_id"].nunique()
    n_users = int(panel["user_id"].nunique())
    total = max(float(per_cat.sum()), 1.0)
    return {
        "target": "engagement", "freq": spec.freq,
        "users": sorted(panel["user_id"].astype(str).unique().tolist()),
        # Cold-start prior: share of training users who engaged with each (grouped) category.
        "category_prior": {str(c): float(n / max(n_users, 1)) for c, n in users_per_cat.items()},
        "category_map": None if category_map is None else dict(zip(category_map["category"].astype(str),
                                                                    category_map["group"].astype(str), strict=True)),
        "behavior_mix": {str(b): float(v) for b, v in _behavior_mix(panel).items()},
        "category_mix": {**{str(c): float(n / total) for c, n in top.items()},
                         "__rest__": float(per_cat.drop(top.index).sum() / total)},
        "activity": _activity(panel),
        "n_events": float(per_cat.sum()),
    }


# -- scoring ---------------------------------------------------------------------------------------

def _known_category_map(source: EventsSource, profile: dict[str, Any] | None
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(category -> group frame for build_panel, per-category events of unseen categories)."""
    cats = source.query("SELECT category, count(*) AS events FROM {events} GROUP BY 1")
    cats["category"] = cats["category"].astype(str)
    mapping = (profile or {}).get("category_map")
    if profile is None:
        group = cats["category"]
    elif mapping:
        group = cats["category"].map(mapping)
    else:
        known = set(profile["category_prior"])
        group = cats["category"].where(cats["category"].isin(known))
    unseen = cats[group.isna()]
    frame = pd.DataFrame({"category": cats["category"], "group": group.fillna(OTHER)}).astype("string")
    return frame, unseen


def _psi(expected: pd.Series, actual: pd.Series) -> float:
    """Population stability index between two share vectors over the same items (floored at 1e-4)."""
    e, a = np.clip(expected.to_numpy(float), 1e-4, None), np.clip(actual.to_numpy(float), 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _flag(psi: float) -> str:
    return "shift" if psi >= PSI_SHIFT else "moderate" if psi >= PSI_MODERATE else "stable"


def drift_report(profile: dict[str, Any], panel: pd.DataFrame, unseen_events: float) -> pd.DataFrame:
    """Behaviour mix, category mix and activity per user: training profile vs the scored file's panel."""
    per_cat = _event_counts(panel).groupby(panel["category"].astype(str)).sum()
    return drift_table(profile, _behavior_mix(panel), per_cat, _activity(panel), unseen_events)


def drift_table(profile: dict[str, Any], behavior_mix: pd.Series, per_cat: pd.Series, activity: dict[str, float],
                unseen_events: float) -> pd.DataFrame:
    """``drift_report`` from the scored panel's aggregates (what an engine such as Spark computes)."""
    rows: list[dict[str, Any]] = []
    train_b = pd.Series(profile["behavior_mix"], dtype=float)
    new_b = behavior_mix.reindex(train_b.index, fill_value=0.0)
    for b in train_b.index:
        rows.append({"aspect": "behavior_mix", "item": b, "training": train_b[b], "scored": new_b[b]})
    psi_b = _psi(train_b, new_b)
    rows.append({"aspect": "behavior_mix", "item": "PSI", "psi": psi_b, "flag": _flag(psi_b)})

    total = max(float(per_cat.sum()), 1.0)
    train_c = pd.Series(profile["category_mix"], dtype=float)
    named = [c for c in train_c.index if c != "__rest__"]
    new_c = (per_cat / total).reindex(named, fill_value=0.0)
    new_c["__rest__"] = max(0.0, 1.0 - float(new_c.sum()))
    psi_c = _psi(train_c, new_c[train_c.index])
    rows.append({"aspect": "category_mix", "item": "PSI (top categories + rest)", "psi": psi_c, "flag": _flag(psi_c)})
    share_unseen = float(unseen_events / total)
    flag = "shift" if share_unseen >= 0.25 else "moderate" if share_unseen >= 0.05 else "stable"
    rows.append({"aspect": "category_mix", "item": "share of events in unseen categories", "training": 0.0,
                 "scored": share_unseen, "flag": flag})

    new_a = activity
    for key, value in profile["activity"].items():
        rows.append({"aspect": "activity", "item": key, "training": value, "scored": new_a[key]})
    out = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
    out["difference"] = out["scored"] - out["training"]
    return out


def _as_saved(model: SavedModel | str | Path) -> SavedModel:
    return model if isinstance(model, SavedModel) else load_model(model)


def in_memory(model: Forecaster, panel_spec: PanelSpec, profile: dict[str, Any]) -> SavedModel:
    """Wrap a fitted, unsaved model so it can be scored exactly as a saved one is."""
    from interest_core.forecasting.manifest import Manifest, ModelRef

    manifest = Manifest(ModelRef(registry_name(model), type(model).__name__, model.get_params()), {}, "",
                        panel_spec.to_dict(), {}, "", {})
    return SavedModel(model, manifest, {"profile": profile}, Path("<in-memory>"))


def _forecast(model: Forecaster, frame: pd.DataFrame, freq: str, h: int) -> pd.DataFrame:
    if entry(registry_name(model)).scores_unseen:  # a global model: apply the learned weights to the new history
        return model.predict_frame(frame, h)  # type: ignore[attr-defined, no-any-return]
    # Local models (baselines, ARIMA) learn nothing but the history itself: fit them on the new one.
    return model.clone().fit(frame, freq).predict(h)


def resolve(model: SavedModel | str | Path, h: int | None) -> tuple[SavedModel, dict[str, Any] | None, PanelSpec, int]:
    """The loaded model, its training profile, panel spec and the horizon to score (checked)."""
    saved = _as_saved(model)
    profile: dict[str, Any] | None = saved.extra.get("profile")
    target = (profile or {}).get("target") or saved.extra.get("target", "engagement")
    if target != "engagement":
        raise ModelError(f"this model was trained on {target!r}, not user x category engagement",
                         "score with a model fitted on the engagement target (fit NAME --target engagement)")
    spec = PanelSpec.from_dict(saved.panel_spec)
    # Default horizon: what the model was trained for (LSTM) or saved with (extra["horizon"]).
    default_h: Any = getattr(saved.model, "horizon_train", None) or saved.extra.get("horizon") or 4
    horizon = int(h if h is not None else default_h)
    if horizon < 1:
        raise ModelError(f"horizon h={horizon} must be at least 1", "ask for h >= 1 periods")
    return saved, profile, spec, horizon


def score(model: SavedModel | str | Path, path: str | Path, h: int | None = None, k: int = 5, *,
          fmt: str = "auto", mapping: ColumnMapping | None = None, year: int = 2013,
          options: IngestOptions | None = None, cold_start_weight: float = COLD_START_WEIGHT) -> ScoringResult:
    """Engagement probability and intensity for every (user, category) pair of the file.

    A model saved without a training profile still scores, but then nothing is flagged
    cold-start, no category is folded into 'other' and the drift table is empty. ``options``
    are the ingest options (e.g. the duplicates policy) the file is validated with.
    """
    saved, profile, spec, horizon = resolve(model, h)
    with tempfile.TemporaryDirectory(prefix="ic-score-") as tmp, Store(Path(tmp) / "score.duckdb") as store:
        result = pipeline.ingest(store, path, name="scoring", fmt=fmt, mapping=mapping, year=year, options=options)
        source = events_source(store, result.name)
        cmap, unseen = _known_category_map(source, profile)
        panel = build_panel(source, spec, category_map=cmap)
        _, last = period_bounds(source, spec.freq)
        data_end = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
    cutoff = series.last_complete_period(last, data_end, spec.freq)
    frame = series.training_frame(panel, "engagement", spec.freq, end=cutoff)
    if frame.empty:
        raise ModelError("the file has no complete period to score from",
                         f"give a file covering at least one whole {spec.freq} period")
    forecasts = _forecast(saved.model, frame, spec.freq, horizon)
    unseen_events = float(unseen["events"].sum())
    drift = drift_report(profile, panel, unseen_events) if profile else pd.DataFrame(columns=list(DRIFT_COLUMNS))
    return result_of(result, forecasts, profile, drift, cmap, unseen, horizon=horizon, k=k,
                     cold_start_weight=cold_start_weight)


def result_of(ingested: IngestResult, forecasts: pd.DataFrame, profile: dict[str, Any] | None, drift: pd.DataFrame,
              category_map: pd.DataFrame, unseen: pd.DataFrame, *, horizon: int, k: int,
              cold_start_weight: float = COLD_START_WEIGHT) -> ScoringResult:
    """The ScoringResult of a file's forecasts, on any engine: pair scores, top-K, counts, shares, warnings.

    ``category_map`` and ``unseen`` are ``_known_category_map``'s frames (every category of the
    file; the unseen ones with their events).
    """
    forecasts = forecasts.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)
    scores = _pair_scores(forecasts, profile, cold_start_weight)
    events, unseen_events = int(ingested.summary["rows"]), int(unseen["events"].sum())
    counts = {
        "events": events, "rows_rejected": int(ingested.report.rows_rejected),
        "users": int(scores["user_id"].nunique()), "pairs": len(scores),
        "users_cold_start": int(scores.loc[scores["cold_start"], "user_id"].nunique()),
        "categories": len(category_map), "categories_unseen": len(unseen), "events_unseen_categories": unseen_events,
        "horizon": horizon,
    }
    shares = {"users_new": counts["users_cold_start"] / max(counts["users"], 1),
              "events_unseen_categories": unseen_events / max(events, 1)}
    return ScoringResult(scores, top_k_per_user(scores, k), forecasts, counts, drift, ingested.report, shares,
                         fit_warnings(counts, shares))


def fit_warnings(counts: dict[str, int], shares: dict[str, float]) -> tuple[str, ...]:
    """Sentences saying why the model does not fit the file, when new users or unseen categories dominate."""
    out = []
    if shares["users_new"] > DOMINANT_SHARE:
        out.append(f"{counts['users_cold_start']:,} of {counts['users']:,} users ({percent(shares['users_new'])}) "
                   "are new to the model: their scores rest mostly on how popular each category was in training, "
                   "not on what the model learned about them.")
    if shares["events_unseen_categories"] > DOMINANT_SHARE:
        out.append(f"{percent(shares['events_unseen_categories'])} of the events are in "
                   f"{counted(counts['categories_unseen'], 'category')} the model never saw; "
                   f"they are all scored as one group, '{OTHER}'.")
    if out:
        out.append("The model was trained on different data: train one on data like this file before using "
                   "these scores.")
    return tuple(out)


def top_k_per_user(scores: pd.DataFrame, k: int) -> pd.DataFrame:
    top = scores.sort_values(["user_id", "p_engage", "yhat", "category"], ascending=[True, False, False, True],
                             kind="stable")
    top = top.assign(rank=top.groupby("user_id").cumcount() + 1)
    return top[top["rank"] <= k][["user_id", "rank", "category", "p_engage", "yhat", "cold_start"]].reset_index(
        drop=True)


def _pair_scores(forecasts: pd.DataFrame, profile: dict[str, Any] | None, cold_start_weight: float) -> pd.DataFrame:
    """One row per pair: p_engage, yhat summed over the horizon, cold-start users blended with the prior."""
    per_pair = forecasts.groupby("unique_id", sort=True).agg(p_engage=("p_engage", "first"), yhat=("yhat", "sum"))
    ids = series.split_pair_id(per_pair.index.to_series())
    scores = pd.DataFrame({"user_id": ids["user_id"].to_numpy(), "category": ids["category"].to_numpy(),
                           "p_engage": per_pair["p_engage"].to_numpy(), "yhat": per_pair["yhat"].to_numpy()})
    if profile is None:
        scores["cold_start"] = False
    else:
        scores["cold_start"] = ~scores["user_id"].isin(set(profile["users"]))
        prior = pd.Series(profile["category_prior"], dtype=float)
        # A category folded into 'other' that training never had: the typical category's prior.
        fallback = float(prior.get(OTHER, prior.median() if len(prior) else 0.0))
        priors = scores["category"].map(prior).fillna(fallback)
        blended = (1 - cold_start_weight) * scores["p_engage"] + cold_start_weight * priors
        scores["p_engage"] = np.where(scores["cold_start"], blended, scores["p_engage"])
    return scores.sort_values(["user_id", "category"], kind="stable").reset_index(drop=True)
