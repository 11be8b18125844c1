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
from interest_core.forecasting.page_frames import SAMPLED_KINDS, UserSample
from interest_core.forecasting.page_models import PageModel, fit, load_result, page_models_root, result_stamp

DEMAND_GROUPS, DEMAND_HORIZON, DEMAND_MIN_USERS = 12, 4, 5  # the Demand page's defaults
DEMAND_FOLDS = 3  # the rolling folds analytics.demand.demand_forecast backtests its candidates on
DEMAND_HORIZON_CHOICES = (1, 2, 4, 8, 12)
DEMAND_SERIES = 41  # most groups the widget makes (40 learned + 'other'); raw categories: the 41 most engaged
SERIES_HORIZON, SERIES_FOLDS = 4, 8  # the Forecasts page's predicted-vs-actual defaults (all users together)
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ModelBasis:
    """What every model of one page view stands on: the dataset version, the period and its last complete one."""

    dataset: str
    fingerprint: str
    freq: str
    last_period: pd.Timestamp
    sample: UserSample | None = None  # the users models of users read on a large log (page_frames.user_sample)

    def model(self, kind: str, **params: Any) -> PageModel:
        if self.sample is not None and kind in SAMPLED_KINDS:  # another sample is another model
            params = {**params, "user_sample": self.sample.per_million}
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

    def segment_demand(self, segmentation: PageModel, segments: Sequence[str], horizon: int) -> PageModel:
        """Each segment's demand forecast: named by the segmentation whose segments it sums (its digest)."""
        return self.model("segment_demand", segmentation=segmentation.digest, segments=list(segments),
                          horizon=int(horizon))

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


def demand_horizons(n_complete: int, wanted: int = DEMAND_HORIZON) -> tuple[list[int], int]:
    """The forecast horizons a demand backtest (DEMAND_FOLDS folds, each with its training periods) can hold over
    ``n_complete`` complete periods, and the default: ``wanted`` fitted to the span (periods.fit_backtest), so an
    8-week range starts on 2 weeks instead of an error."""
    from interest_core.forecasting.backtest import MIN_TRAIN_PERIODS
    from interest_core.periods import fit_backtest

    longest = max(1, n_complete - DEMAND_FOLDS - MIN_TRAIN_PERIODS + 1)
    default = min(fit_backtest(n_complete, wanted, DEMAND_FOLDS)[0], longest)
    return sorted({h for h in DEMAND_HORIZON_CHOICES if h <= longest} | {default}), default


@dataclass(frozen=True)
class SpanDefaults:
    """The defaults pages fit to the data's span (as ui.frame and ui.planning choose them for the whole span)."""

    churn_horizon: int  # analytics.churn.span_horizon: DEFAULT_HORIZON shortened to what the span can label
    series_horizon: int  # periods.fit_backtest of the Forecasts page's (SERIES_HORIZON, SERIES_FOLDS)
    series_folds: int
    demand_horizon: int  # demand_horizons' default, as the Demand and Forecasts pages open


def span_defaults(store: Any, dataset: str, freq: str, last: pd.Timestamp) -> SpanDefaults:
    """What the Churn and Forecasts pages open with on the whole dataset: on the 9-day Taobao log at daily periods,
    churn 1 day ahead (7 leave no labelled cutoff) and the series backtest 2 ahead over 5 folds, not 4 over 8."""
    from interest_core import derived_results, panel
    from interest_core.analytics.churn import horizon_for_span, span_periods
    from interest_core.errors import ModelError
    from interest_core.periods import fit_backtest, partial_periods, period_grid, period_start

    found = derived_results.load(store, dataset, "time_window")
    span = derived_results.row_dict(found) if found is not None else panel.time_window(panel.events_source(store,
                                                                                                          dataset))
    grid = period_grid(period_start(span["main_first"], freq), period_start(span["main_last"], freq), freq)
    partial = set(partial_periods(list(grid), freq, span["bulk_first"], span["bulk_last"]))
    n_complete = sum(p not in partial for p in grid)
    try:
        horizon = horizon_for_span(freq, span_periods(pd.Timestamp(span["start"]), last, freq))
    except ModelError:  # too short to label churn: the page says so; the fit's failure is remembered the same
        horizon = churn_horizon(freq)
    series_h, series_folds = fit_backtest(n_complete, SERIES_HORIZON, SERIES_FOLDS)
    return SpanDefaults(horizon, series_h, series_folds, demand_horizons(n_complete)[1])


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


def interest_panel(store: Any, dataset: str, freq: str, grouping: Any = None, *, sample: UserSample | None = None,
                   totals_until: Any = None) -> pd.DataFrame:
    """The analytics panel the pages fit on (as ui.queries.analytics_panel builds it for a CategoryChoice
    without picked groups): the stored one when ``prepare`` built it, else aggregated from the events.

    On a large log (page_frames): ``sample`` reads only the sample's users; ``totals_until`` (the last
    complete period) reads the panel summed per category and period instead (the frame of TOTALS_KINDS)."""
    from interest_core import panel
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.forecasting.page_frames import category_totals_panel, sampled_panel
    from interest_core.grouping import category_map
    from interest_core.periods import check_freq

    source = panel.events_source(store, dataset)
    spec = PanelSpec(freq=check_freq(freq)) if grouping is None else PanelSpec(freq=check_freq(freq),
                                                                              grouping=grouping.spec)
    groups = learned_groups(store, dataset, spec) if spec.grouping.method == "learned" else category_map(source, spec)
    if totals_until is not None:
        built = category_totals_panel(store, dataset, spec.freq, groups, totals_until)
    elif sample is not None:
        built = sampled_panel(store, dataset, spec.freq, sample, groups)
    else:
        stored = stored_panel(store, dataset, spec, groups)
        built = stored if stored is not None else panel.build_panel(source, spec, category_map=groups)
    return built if grouping is None else grouping.filter(built)


def learned_groups(store: Any, dataset: str, spec: Any) -> pd.DataFrame:
    """The learned (category, group) map of a PanelSpec, named as the app names it: the one ``prepare``'s page
    summaries stored (derived_results) when there is one, else learned from the events (as ui.grouping)."""
    from interest_core import derived_results, panel
    from interest_core.config import BehaviorWeights
    from interest_core.forecasting.page_frames import max_model_rows
    from interest_core.grouping import learn_groups

    noun = derived_results.category_noun(store.describe(dataset).format)
    key = derived_results.result_key("learned_map", spec.grouping.n_groups, spec.grouping.seed, noun)
    found = derived_results.load(store, dataset, key) if spec.weights == BehaviorWeights() else None
    if found is not None:
        return found.frame
    source = panel.events_source(store, dataset)
    return learn_groups(source, spec.grouping.n_groups, spec.grouping.seed, noun=noun, weights=spec.weights,
                        max_pairs=max_model_rows()).category_map


def prepare_page_models(store: Any, dataset: str, *, root: str | Path | None = None, freqs: Sequence[str] | None = None,
                        progress: Progress | None = None) -> list[dict[str, Any]]:
    """Fit every page's default models for ``dataset`` (one row per model: kind, freq, state, seconds, error).

    A failure is remembered (page_models.save_failure) and reported, not raised: the pages show it.
    ``freqs`` None: the period the app opens the dataset with; ``root`` None: beside the store."""
    import time

    from interest_core import panel
    from interest_core.forecasting.page_frames import user_sample

    report = progress or (lambda fraction, message: None)
    folder = Path(root) if root is not None else page_models_root(store.path)
    source = panel.events_source(store, dataset)
    fingerprint = store.fingerprint(dataset)
    rows: list[dict[str, Any]] = []
    chosen = list(freqs) if freqs else [suggested_freq(source)]

    def step(model: PageModel, frame: pd.DataFrame) -> None:
        of_freq = sum(r["freq"] == model.args["freq"] for r in rows)  # up to 7 models a frequency
        done = (chosen.index(model.args["freq"]) + min(of_freq, 6) / 7) / len(chosen)
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
        sample = user_sample(store, dataset, freq)
        basis = ModelBasis(dataset, fingerprint, freq, last_complete(source, freq, end), sample)
        if sample is None:
            _fit_whole(store, basis, segments, demand, end, step)
        else:
            report(chosen.index(freq) / len(chosen), f"models of users read {sample.describe()} ({freq})")
            _fit_large(store, basis, segments, demand, end, step)
        _fit_segment_demand(store, basis, segments, folder, step)
    report(1.0, "page models ready")
    return rows


def _fit_segment_demand(store: Any, basis: ModelBasis, segments: Any, folder: Path,
                        step: Callable[[PageModel, pd.DataFrame], None]) -> None:
    """The Demand page's forecast per segment of its default segmentation (fitted just before; nothing to do
    when that failed): each segment's interest summed per period, in DuckDB over the stored panel."""
    from interest_core.forecasting.page_frames import segment_totals_panel
    from interest_core.views.ops import segment_members, segment_names, segment_totals

    seg_model = basis.segmentation(grouping=segments)
    seg = load_result(seg_model, folder)
    if seg is None:
        return
    dataset, freq, last = basis.dataset, basis.freq, basis.last_period
    horizon = span_defaults(store, dataset, freq, last).demand_horizon
    model = basis.segment_demand(seg_model, list(segment_names(seg.descriptions).values()), horizon)
    if result_stamp(model, folder) is not None:  # saved: step records it without the sums
        step(model, pd.DataFrame())
        return
    members = segment_members(seg.labels, seg.descriptions)
    totals = segment_totals_panel(store, dataset, freq, members, last,
                                  where=basis.sample.where() if basis.sample is not None else None)
    if totals is None:
        full = interest_panel(store, dataset, freq)
        totals = segment_totals(full[full["period"] <= last], members)
    step(model, totals)


def _fit_whole(store: Any, basis: ModelBasis, segments: Any, demand: Any, end: pd.Timestamp,
               step: Callable[[PageModel, pd.DataFrame], None]) -> None:
    """The page models of a log whose panel is read whole (page_frames.MAX_MODEL_ROWS rows or fewer)."""
    from interest_core.forecasting.forecasters import BASELINE_NAMES
    from interest_core.views.ops import promotion_horizons, recent_categories

    dataset, freq = basis.dataset, basis.freq
    fitted = span_defaults(store, dataset, freq, basis.last_period)
    horizon = fitted.churn_horizon
    if segments.spec.method != "none":  # the grouped panel first, so it and the full one are never both held
        grouped = interest_panel(store, dataset, freq, segments)
        step(basis.segmentation(grouping=segments), grouped)
        if demand == segments:  # the same grouped panel (learned groups on large logs): read once
            step(basis.demand(horizon=fitted.demand_horizon, grouping=demand), grouped)
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
    step(basis.series("aggregate", None, BASELINE_NAMES, {}, fitted.series_horizon, fitted.series_folds, end), full)
    del full
    if demand != segments:
        step(basis.demand(horizon=fitted.demand_horizon, grouping=demand), interest_panel(store, dataset, freq, demand))


def _fit_large(store: Any, basis: ModelBasis, segments: Any, demand: Any, end: pd.Timestamp,
               step: Callable[[PageModel, pd.DataFrame], None]) -> None:
    """The page models of a large log (page_frames): models of users on the sample's panel rows, models of
    totals on the panel summed per category and period; the Promotions page's defaults counted over every user
    in DuckDB (as the page counts them)."""
    from interest_core.derived_panel import period_count, recent_categories, stored_source
    from interest_core.forecasting.forecasters import BASELINE_NAMES
    from interest_core.views.ops import horizons_for

    dataset, freq, last = basis.dataset, basis.freq, basis.last_period
    fitted = span_defaults(store, dataset, freq, last)
    horizon = fitted.churn_horizon
    full = interest_panel(store, dataset, freq, sample=basis.sample)
    for model in [basis.churn("churn_risk", horizon), basis.churn("churn_backtest", horizon)]:
        step(model, full)
    if segments.spec.method == "none":
        step(basis.segmentation(grouping=segments), full)
    source = stored_source(store, dataset, freq)
    horizons = horizons_for(period_count(source, last)) if source is not None else []
    if horizons and source is not None:
        step(basis.model("learned_promotion", horizon=horizons[-1], category=recent_categories(source, last)[0]),
             full[full["period"] <= last])
    del full
    if segments.spec.method != "none":
        step(basis.segmentation(grouping=segments), interest_panel(store, dataset, freq, segments,
                                                                   sample=basis.sample))
    step(basis.demand(horizon=fitted.demand_horizon, grouping=demand),
         interest_panel(store, dataset, freq, demand, totals_until=last))
    step(basis.series("aggregate", None, BASELINE_NAMES, {}, fitted.series_horizon, fitted.series_folds, end),
         interest_panel(store, dataset, freq, totals_until=last))


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
