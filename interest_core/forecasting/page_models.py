"""Models behind the analytics pages, fitted once and saved: churn, promotions, segments, demand.

A page model is a ``kind`` (a function of the interest panel and JSON parameters) whose result is
saved beside the store (``page_models_root``: ``data/interest.page_models/<dataset>/`` for
``data/interest.duckdb``) in a folder named by a hash of the dataset's
fingerprint, the kind and the parameters (the frequency and the last complete period among them).
Every session, restart and the CLI ``prepare`` read the same folder, so a model is fitted once per
dataset, frequency and parameters. What is saved is the result a page draws (frames as Parquet,
the rest as JSON; never pickle), not the estimator: pages only show its output.

A fit that fails is saved too (``failed.json``: the error's class, problem and fix), so a page shows
the named error instead of fitting again on every rerun; ``forget_failure`` allows a retry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core import atomic
from interest_core.errors import FitFailedError, InterestCoreError, MalformedFileError

SUFFIX = ".page_models"
RESULT = "result.json"
FAILED = "failed.json"
Compute = Callable[[pd.DataFrame, Mapping[str, Any], Callable[[float, str], None]], Any]


@dataclass(frozen=True)
class PageModel:
    """One page model: what it is, for which dataset version, and with which parameters."""

    dataset: str
    fingerprint: str  # the dataset's fingerprint: a re-ingest under the same name is another model
    kind: str  # a key of KINDS
    params: tuple[tuple[str, Any], ...]  # sorted (name, JSON value) pairs; freq and last_period among them

    @classmethod
    def of(cls, dataset: str, fingerprint: str, kind: str, **params: Any) -> PageModel:
        if kind not in KINDS:
            raise FitFailedError(f"unknown page model {kind!r}", f"use one of {', '.join(sorted(KINDS))}")
        plain = json.loads(json.dumps(params, sort_keys=True, default=str))  # JSON values only, one spelling
        return cls(dataset, fingerprint, kind, tuple(sorted(plain.items())))

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def digest(self) -> str:
        text = json.dumps([self.fingerprint, self.kind, self.params], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def folder(self, root: str | Path) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.dataset)[:80]
        return Path(root) / safe / f"{self.kind}-{self.digest}"

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)


def page_models_root(store_path: str | Path) -> Path:
    """Where a store's page models live: ``<store stem>.page_models`` beside the database file, so every
    process using the store (the app, the CLI ``prepare``) finds them, and a test's temp store has its own."""
    path = Path(store_path)
    return path.with_name(path.stem + SUFFIX)


def jobs_root(root: str | Path) -> Path:
    """The background fits' job folders."""
    return Path(root) / ".jobs"


# -- what each kind computes (the same calls the pages made inline before) -------------------------

def _last(params: Mapping[str, Any]) -> pd.Timestamp:
    return pd.Timestamp(params["last_period"])


_ACTIVITY: list[tuple[Any, str, str, Any]] = []  # (weakref to the panel, freq, last period, Activity): one entry


def _churn_activity(panel: pd.DataFrame, p: Mapping[str, Any]) -> Any:
    """The panel's churn activity up to the last period, read once for the churn model and its backtest
    (``prepare`` fits both from the same panel frame; a weak reference, so a new frame is read again)."""
    from interest_core.analytics.churn_features import activity_from_panel

    key = (str(p["freq"]), str(p["last_period"]))
    memo = list(_ACTIVITY)  # a copy: another thread may clear it meanwhile
    if memo and memo[0][0]() is panel and memo[0][1:3] == key:
        return memo[0][3]
    activity = activity_from_panel(panel, p["freq"], last_period=_last(p))
    _ACTIVITY[:] = [(weakref.ref(panel), *key, activity)]
    # Released with its panel too, when the backtest never runs (already stored, or the fit failed).
    weakref.finalize(panel, _ACTIVITY.clear)
    return activity


def _churn_risk(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.analytics.churn import ChurnModel

    progress(0.1, "fitting the churn classifier")
    model = ChurnModel(freq=p["freq"], horizon=int(p["horizon"])).fit_activity(_churn_activity(panel, p))
    progress(0.8, "scoring active users")
    return model.predict_risk()


def _churn_backtest(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.views.ops import churn_backtest

    progress(0.1, "backtesting the churn classifier against recency")
    try:
        return churn_backtest(panel, p["freq"], int(p["horizon"]), _last(p), activity=_churn_activity(panel, p))
    finally:
        _ACTIVITY.clear()  # prepare fits the model first: nothing reads the activity after its backtest


def _engagement_scores(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.analytics.promotions import engagement_scores
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.views.ops import engagement_training

    train = engagement_training(panel, p["freq"], _last(p))
    progress(0.1, f"fitting {p['model']} on {len(train):,} rows")
    model = make_forecaster(p["model"]).fit(train, p["freq"], progress=lambda f, m: progress(0.1 + 0.8 * f, m))
    progress(0.9, "forecasting who engages with what")
    return engagement_scores(model.predict(int(p["horizon"])))


def _promotion_lift(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.views.ops import promotion_lift

    progress(0.1, f"backtesting the list for {p['category']} against a recency list")
    return promotion_lift(panel, p["model"], p["category"], p["freq"], int(p["horizon"]), _last(p))


def _segmentation(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.views.segments import segmentation

    progress(0.1, "clustering users")
    # ids as categories: the features are grouped by user once per window of the sizes chart; codes group fast
    panel = panel.astype({"user_id": "category", "category": "category"})
    return segmentation(panel, p["freq"], method=p["method"], k=p["k"], last=p["last"],
                        sizes_window=int(p["sizes_window"]))


def _demand(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.analytics.demand import demand_forecast

    return demand_forecast(panel, p["freq"], top_k=int(p["series"]), horizon=int(p["horizon"]),
                           models=tuple(p["models"]), min_users=int(p["min_users"]), last_period=_last(p),
                           progress=progress)


def _segment_demand(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    """``panel``: views.ops.segment_totals (a row per segment and period, not per user)."""
    from interest_core.views.ops import segment_demand

    progress(0.1, f"backtesting demand models on {len(p['segments'])} segments")
    return segment_demand(panel, list(p["segments"]), p["freq"], int(p["horizon"]), _last(p), progress)


@dataclass(frozen=True, eq=False)
class LearnedPromotion:
    """The Promotions page's learned list of one category and its backtest against a recency list."""

    promotion: Any  # views.ops.Promotion
    lift: pd.DataFrame  # analytics.promotions.learned_lift


def _learned_promotion(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    """``panel``: complete periods only. The model and its backtest share one FoldCache (as the page did)."""
    from interest_core.analytics.promotion_model import FoldCache, PromotionModel
    from interest_core.analytics.promotions import DEFAULT_LIST_SIZES, learned_lift
    from interest_core.views.ops import learned_promotion

    freq, horizon, category = p["freq"], int(p["horizon"]), str(p["category"])
    progress(0.05, "building the interest history at each cutoff")
    folds = FoldCache(panel, freq, history=26)
    progress(0.2, "learning who engages with what (users new to a category included)")
    model = PromotionModel(freq, horizon).fit(folds.panel, _last(p), folds)
    promotion = learned_promotion(model.score([category]), category)
    del model  # its fold (every pair of the window) is not needed by the backtest
    progress(0.5, f"backtesting the learned list for {category} against a recency list")
    lift = learned_lift(folds.panel, [category], freq=freq, horizon=horizon, list_sizes=DEFAULT_LIST_SIZES,
                        cache=folds)
    return LearnedPromotion(promotion, lift)


def _series_view(panel: pd.DataFrame, p: Mapping[str, Any], progress: Callable[[float, str], None]) -> Any:
    from interest_core.views.forecasts import series_view

    progress(0.1, f"backtesting {len(p['models'])} models on this series ({p['folds']} folds)")
    return series_view(panel, p["series"], p["key"], p["freq"], models=tuple(p["models"]), horizon=int(p["horizon"]),
                       folds=int(p["folds"]), data_end=pd.Timestamp(p["data_end"]), params=p["params"])


KINDS: dict[str, Compute] = {
    "churn_risk": _churn_risk, "churn_backtest": _churn_backtest, "engagement_scores": _engagement_scores,
    "promotion_lift": _promotion_lift, "segmentation": _segmentation, "demand": _demand,
    "series_view": _series_view, "learned_promotion": _learned_promotion, "segment_demand": _segment_demand,
}
TITLES = {"churn_risk": "churn model", "churn_backtest": "churn backtest", "engagement_scores":
          "engagement forecaster", "promotion_lift": "promotion backtest", "segmentation": "segmentation",
          "demand": "demand forecasts", "series_view": "backtest of this series",
          "learned_promotion": "promotion model and its backtest", "segment_demand": "demand forecasts by segment"}


# -- saving and reading results (frames as Parquet, the rest as JSON) -----------------------------

def _dataclasses() -> dict[str, type]:
    """The result classes a saved result may name (a closed list: nothing else is built from a file)."""
    from interest_core.analytics.demand import DemandForecast
    from interest_core.views.forecasts import SeriesView
    from interest_core.views.ops import ChurnBacktest, Promotion
    from interest_core.views.segments import Segmentation

    return {c.__name__: c for c in (ChurnBacktest, Segmentation, DemandForecast, SeriesView, Promotion,
                                    LearnedPromotion)}


def _encode(value: Any, folder: Path, name: str) -> Any:
    if isinstance(value, pd.DataFrame):
        if value.columns.is_unique and all(isinstance(c, str) for c in value.columns):
            value.to_parquet(folder / f"{name}.parquet")
            return {"$frame": f"{name}.parquet"}
        # Parquet wants unique text names: stored by position, the names kept beside
        value.set_axis([f"c{i}" for i in range(value.shape[1])], axis=1).to_parquet(folder / f"{name}.parquet")
        return {"$frame": f"{name}.parquet", "columns": [_encode(c, folder, "") for c in value.columns]}
    if isinstance(value, pd.Series):
        value.rename("value").to_frame().to_parquet(folder / f"{name}.parquet")
        return {"$series": f"{name}.parquet", "name": value.name}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__name__ not in _dataclasses():
            raise FitFailedError(f"cannot save a {type(value).__name__}", "add it to page_models._dataclasses")
        return {"$dataclass": type(value).__name__, "fields": {
            f.name: _encode(getattr(value, f.name), folder, f"{name}.{f.name}") for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, folder, f"{name}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, Mapping):  # keys may be ints (silhouette by k): kept as pairs
        return {"$pairs": [[k, _encode(v, folder, f"{name}.{i}")] for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, pd.Timestamp):
        return {"$ts": value.isoformat()}
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _decode(value: Any, folder: Path) -> Any:
    if isinstance(value, list):
        return [_decode(v, folder) for v in value]
    if not isinstance(value, dict):
        return value
    if "$frame" in value:
        frame = pd.read_parquet(folder / value["$frame"])
        return frame.set_axis([_decode(c, folder) for c in value["columns"]], axis=1) if "columns" in value else frame
    if "$series" in value:
        return pd.read_parquet(folder / value["$series"])["value"].rename(value.get("name"))
    if "$dataclass" in value:
        cls = _dataclasses().get(value["$dataclass"])
        if cls is None:
            raise MalformedFileError(f"{folder} names an unknown result {value['$dataclass']!r}",
                                     "delete the folder; the page fits the model again")
        return cls(**{k: _decode(v, folder) for k, v in value["fields"].items()})
    if "$tuple" in value:
        return tuple(_decode(v, folder) for v in value["$tuple"])
    if "$pairs" in value:
        return {k: _decode(v, folder) for k, v in value["$pairs"]}
    if "$ts" in value:
        return pd.Timestamp(value["$ts"])
    return {k: _decode(v, folder) for k, v in value.items()}


def save_result(model: PageModel, root: str | Path, value: Any) -> Path:
    """Write a result atomically (a temp folder renamed into place); clears a remembered failure."""
    folder = model.folder(root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        body = {"model": dataclasses.asdict(model), "value": _encode(value, tmp, "value")}
        atomic.write_json(tmp / RESULT, body, durable=False)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    forget_failure(model, root)
    return folder


def load_result(model: PageModel, root: str | Path) -> Any | None:
    """The saved result, or None when there is none yet."""
    folder = model.folder(root)
    try:
        body = json.loads((folder / RESULT).read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        raise MalformedFileError(f"{folder / RESULT} is not valid JSON",
                                 "delete the folder; the page fits the model again") from None
    return _decode(body["value"], folder)


def result_stamp(model: PageModel, root: str | Path) -> int | None:
    """mtime (ns) of the saved result, None when there is none: a cache key that changes with a refit."""
    try:
        return (model.folder(root) / RESULT).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _failure_path(model: PageModel, root: str | Path) -> Path:
    folder = model.folder(root)
    return folder.parent / f"{folder.name}.{FAILED}"


def save_failure(model: PageModel, root: str | Path, exc: BaseException) -> FitFailedError:
    """Remember why a fit failed; returns the error a page shows."""
    if isinstance(exc, InterestCoreError):
        record = {"error": exc.kind, "problem": exc.problem, "fix": exc.fix}
    else:
        record = {"error": type(exc).__name__, "problem": str(exc), "fix": None}
    path = _failure_path(model, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, record, durable=False)
    return _failure_error(model, record, path)


def _failure_error(model: PageModel, record: Mapping[str, Any], path: Path) -> FitFailedError:
    fix = record.get("fix") or "check the dataset and the page's settings"
    return FitFailedError(f"the {model.title} could not be fitted ({record.get('error')}: {record.get('problem')})",
                          f"{fix}; then press Retry", cause=str(record.get("error")), record=str(path))


def failure(model: PageModel, root: str | Path) -> FitFailedError | None:
    """The remembered failure of this model, or None."""
    path = _failure_path(model, root)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        record = {"error": "MalformedFileError", "problem": "the failure record is unreadable", "fix": None}
    return _failure_error(model, record if isinstance(record, dict) else {}, path)


def forget_failure(model: PageModel, root: str | Path) -> None:
    _failure_path(model, root).unlink(missing_ok=True)


def fit(model: PageModel, root: str | Path, panel: pd.DataFrame,
        progress: Callable[[float, str], None] | None = None) -> Any:
    """Compute and save a page model (the worker task and the CLI ``prepare`` both call this).

    A failure is saved before it is raised, so nobody fits it again until the failure is forgotten."""
    report = progress or (lambda fraction, message: None)
    try:
        value = KINDS[model.kind](panel, model.args, report)
    except Exception as exc:  # every failure is remembered: the page shows it instead of refitting
        raise save_failure(model, root, exc) from exc
    report(0.97, "saving")
    save_result(model, root, value)
    return value
