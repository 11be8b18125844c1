"""The pages' models with the settings a page opens with, and fitting them ahead of time.

``ModelBasis`` names a page model the same way in the app (ui/fits.py) and in the CLI ``prepare``
(``prepare_page_models``), so what ``prepare`` saves is exactly what a page looks for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.errors import FitFailedError
from interest_core.forecasting.page_models import PageModel, fit, page_models_root, result_stamp

DEMAND_GROUPS, DEMAND_HORIZON, DEMAND_MIN_USERS = 12, 4, 5  # the Demand page's defaults
DEMAND_SERIES = 41  # most groups the widget makes (40 learned + 'other'); raw categories: the 41 most engaged
CATEGORY_NOUN = {"tmall2014": "brand"}  # what learned groups are named after (as ui.grouping.CATEGORY_NOUN)
SERIES_HORIZON, SERIES_FOLDS = 4, 8  # the Forecasts page's predicted-vs-actual defaults (all users together)
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ModelBasis:
    """What every model of one page view stands on: the dataset version, the period and its last complete one."""

    dataset: str
    fingerprint: str
    freq: str
    last_period: pd.Timestamp

    def model(self, kind: str, **params: Any) -> PageModel:
        return PageModel.of(self.dataset, self.fingerprint, kind, freq=self.freq,
                            last_period=pd.Timestamp(self.last_period).isoformat(), **params)

    def churn(self, kind: str, horizon: int) -> PageModel:
        return self.model(kind, horizon=int(horizon))

    def engagement(self, model: str, horizon: int) -> PageModel:
        return self.model("engagement_scores", model=model, horizon=int(horizon))

    def lift(self, model: str, horizon: int, category: str) -> PageModel:
        return self.model("promotion_lift", model=model, horizon=int(horizon), category=str(category))

    def segmentation(self, method: str = "kmeans", k: int | None = None, last: int | None = None,
                     sizes_window: int | None = None, grouping: Any = None) -> PageModel:
        """``grouping``: the CategoryChoice whose groups are the category features (part of the name)."""
        from interest_core.views.segments import SIZES_WINDOW

        return self.model("segmentation", method=method, k=k, last=last,
                          sizes_window=int(SIZES_WINDOW if sizes_window is None else sizes_window),
                          grouping=_choice(grouping))

    def demand(self, series: int = DEMAND_SERIES, horizon: int = DEMAND_HORIZON, models: Sequence[str] | None = None,
               min_users: int = DEMAND_MIN_USERS, grouping: Any = None) -> PageModel:
        """``series``: how many demand series are forecast; ``grouping``: the CategoryChoice of the panel."""
        from interest_core.analytics.demand import DEFAULT_MODELS

        return self.model("demand", series=int(series), horizon=int(horizon),
                          models=list(DEFAULT_MODELS if models is None else models), min_users=int(min_users),
                          grouping=_choice(grouping))

    def series(self, kind: str, key: str | None, models: Sequence[str], params: Mapping[str, Any], horizon: int,
               folds: int, data_end: pd.Timestamp) -> PageModel:
        """A fresh backtest of one series of the Forecasts page (interest_core.views.forecasts.series_view)."""
        return self.model("series_view", series=kind, key=key, models=list(models), params=dict(params),
                          horizon=int(horizon), folds=int(folds), data_end=pd.Timestamp(data_end).isoformat())


def _choice(grouping: Any) -> Any:
    """A CategoryChoice as plain JSON (None stays None)."""
    import dataclasses

    return None if grouping is None else dataclasses.asdict(grouping)


def default_choices(n_categories: int) -> tuple[Any, Any]:
    """The CategoryChoice the Segments and the Demand page open with (ui.widgets.category_grouping's defaults)."""
    from interest_core.config import GroupingSpec
    from interest_core.grouping import CategoryChoice, suggested_grouping

    segments = CategoryChoice(suggested_grouping(n_categories))
    if segments.spec.method == "learned":
        return segments, CategoryChoice(GroupingSpec(method="learned", n_groups=DEMAND_GROUPS))
    return segments, CategoryChoice(GroupingSpec(method="topk", k=min(DEMAND_GROUPS, max(2, min(50, n_categories)))))


def churn_horizon(freq: str) -> int:
    from interest_core.analytics.churn import DEFAULT_HORIZON

    return int(DEFAULT_HORIZON.get(freq, 1))


def last_complete(source: Any, freq: str, end: Any = None) -> pd.Timestamp:
    """The last complete period of a dataset (as ui.queries.last_complete_period reads it); ``end``: its last
    event's time when already read (``panel.kpis``)."""
    from interest_core import panel
    from interest_core.forecasting.series import last_complete_period

    _, hi = panel.period_bounds(source, freq)
    end = panel.kpis(source)["end"] if end is None else end
    return last_complete_period(pd.Timestamp(hi), pd.Timestamp(end), freq)


def suggested_freq(source: Any) -> str:
    """The period the app opens a dataset with (the frame's default)."""
    from interest_core import panel
    from interest_core.ingest.uploads import suggest_freq

    span = panel.time_window(source)
    return suggest_freq(span["start"], span["end"])


def interest_panel(store: Any, dataset: str, freq: str, grouping: Any = None) -> pd.DataFrame:
    """The analytics panel the pages fit on (as ui.queries.analytics_panel builds it for a CategoryChoice
    without picked groups): the stored one when ``prepare`` built it, else aggregated from the events."""
    from interest_core import panel
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.grouping import category_map, learned_map
    from interest_core.periods import check_freq

    source = panel.events_source(store, dataset)
    spec = PanelSpec(freq=check_freq(freq)) if grouping is None else PanelSpec(freq=check_freq(freq),
                                                                              grouping=grouping.spec)
    if spec.grouping.method == "learned":  # named as the app names them
        noun = CATEGORY_NOUN.get(store.describe(dataset).format or "", "")
        groups = learned_map(panel.user_category_totals(source, spec.weights), spec.grouping.n_groups,
                             spec.grouping.seed, noun=noun)
    else:
        groups = category_map(source, spec)
    stored = stored_panel(store, dataset, spec, groups)
    built = stored if stored is not None else panel.build_panel(source, spec, category_map=groups)
    return built if grouping is None else grouping.filter(built)


def prepare_page_models(store: Any, dataset: str, *, root: str | Path | None = None, freqs: Sequence[str] | None = None,
                        progress: Progress | None = None) -> list[dict[str, Any]]:
    """Fit every page's default models for ``dataset`` (one row per model: kind, freq, state, seconds, error).

    A failure is remembered (page_models.save_failure) and reported, not raised: the pages show it.
    ``freqs`` None: the period the app opens the dataset with; ``root`` None: beside the store."""
    import time

    from interest_core import panel
    from interest_core.forecasting.forecasters import BASELINE_NAMES
    from interest_core.views.ops import promotion_horizons, recent_categories

    report = progress or (lambda fraction, message: None)
    folder = Path(root) if root is not None else page_models_root(store.path)
    source = panel.events_source(store, dataset)
    fingerprint = store.fingerprint(dataset)
    rows: list[dict[str, Any]] = []
    chosen = list(freqs) if freqs else [suggested_freq(source)]

    def step(model: PageModel, frame: pd.DataFrame) -> None:
        of_freq = sum(r["freq"] == model.args["freq"] for r in rows)  # up to 6 models a frequency
        done = (chosen.index(model.args["freq"]) + min(of_freq, 5) / 6) / len(chosen)
        report(done, f"fitting the {model.title} ({model.args['freq']})")
        started, error = time.perf_counter(), None
        if result_stamp(model, folder) is None:
            try:
                fit(model, folder, frame)
            except FitFailedError as exc:
                error = str(exc)
        rows.append({"kind": model.kind, "freq": model.args["freq"], "state": "failed" if error else "ready",
                     "seconds": round(time.perf_counter() - started, 2), "error": error})

    # the two figures of panel.kpis the defaults need, in one scan for every frequency (kpis also counts
    # distinct users, items and buyers: seconds on 10 M events)
    row = source.query('SELECT count(DISTINCT category) AS categories, max(ts) AS "end" FROM {events}').iloc[0]
    end = pd.Timestamp(row["end"])
    segments, demand = default_choices(int(row["categories"]))
    for freq in chosen:
        basis = ModelBasis(dataset, fingerprint, freq, last_complete(source, freq, end))
        horizon = churn_horizon(freq)
        if segments.spec.method != "none":  # the grouped panel first, so it and the full one are never both held
            grouped = interest_panel(store, dataset, freq, segments)
            step(basis.segmentation(grouping=segments), grouped)
            if demand == segments:  # the same grouped panel (learned groups on large logs): read once
                step(basis.demand(grouping=demand), grouped)
            del grouped
        full = interest_panel(store, dataset, freq)
        for model in [basis.churn("churn_risk", horizon), basis.churn("churn_backtest", horizon)]:
            step(model, full)
        if segments.spec.method == "none":
            step(basis.segmentation(grouping=segments), full)
        complete = full[full["period"] <= basis.last_period]
        horizons = promotion_horizons(complete, freq)
        if horizons:  # the Promotions page opens on the longest horizon and the most engaged category lately
            step(basis.model("learned_promotion", horizon=horizons[-1], category=recent_categories(complete)[0]),
                 complete)
        del complete
        step(basis.series("aggregate", None, BASELINE_NAMES, {}, SERIES_HORIZON, SERIES_FOLDS, end), full)
        del full
        if demand != segments:
            step(basis.demand(grouping=demand), interest_panel(store, dataset, freq, demand))
    report(1.0, "page models ready")
    return rows


def _prepare_step(store: Any, dataset: str, freqs: tuple[str, ...], progress: Progress) -> None:
    """The ``prepare`` step (derived.register_step): the page models of the period the app opens the dataset
    with when it is among ``freqs``, else of every one of ``freqs``; saved under $INTEREST_MODELS_DIR."""
    from interest_core import panel

    opening = suggested_freq(panel.events_source(store, dataset))
    chosen = [opening] if opening in freqs else list(freqs)
    prepare_page_models(store, dataset, freqs=chosen, progress=progress)


def register_prepare_step() -> None:
    """Join ``python -m interest_core prepare`` (and derived.prepare): fit the page models after the tables."""
    from interest_core.derived import PrepareStep, register_step

    register_step(PrepareStep("page models", _prepare_step, weight=2.0))


register_prepare_step()
