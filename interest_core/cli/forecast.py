"""Forecasting commands of the CLI, registered by ``cli.main._register_extra``: one function per command.

``register(add)`` wires each command; ``add(name, handler, help)`` returns its argparse subparser
(with --json and --db already there) and each handler returns a dict that the CLI prints.

Decisions for ``backtest``:
- ``--models baseline`` expands to every naive baseline; ``lstm`` loads the LSTM lazily.
- ``arima`` is skipped on the engagement target (and says so under ``skipped``): it is one model
  per series, and engagement has a series per user x category pair. Backtest ARIMA on
  ``--target user_total`` or ``--target category_demand``, its aggregates.
- category_demand groups categories into the top 20 (learned before each cutoff) plus ``other``
  unless ``--top-k`` says otherwise; 0 keeps raw categories.
- The result is written atomically to models/backtests/NAME-TARGET-FREQ.json (the Forecasts
  page shows the latest one); ``--out`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interest_core.cli.common import add_engine_options, open_store, parse_pairs, progress_bar
from interest_core.errors import ModelError
from interest_core.forecasting.forecasters import BASELINE_NAMES, REGISTRY, make_forecaster, names
from interest_core.forecasting.request import DEFAULT_TOP_K, TrainRequest
from interest_core.periods import FREQS

AddCommand = Callable[..., argparse.ArgumentParser]
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_GROUPS: tuple[str, ...] = ("baseline", *names())  # "baseline" expands to every model of that kind


def register(add: AddCommand) -> None:
    """Add every forecasting command to the CLI (fit and score register beside backtest)."""
    from interest_core.cli import next_interest

    _register_backtest(add)
    _register_fit_score(add)
    next_interest.register(add)


# -- backtest ----------------------------------------------------------------------------------

def _register_backtest(add: AddCommand) -> None:
    p = add("backtest", cmd_backtest, "rolling-origin backtest of forecasters on a dataset; prints the leaderboard")
    p.add_argument("name", help="dataset name in the store")
    p.add_argument("--target", default="engagement",
                   choices=["engagement", "user_total", "category_demand", "next_interest"])
    p.add_argument("--freq", default="W", choices=list(FREQS))
    p.add_argument("--horizon", type=int, default=4, help="periods ahead (default 4)")
    p.add_argument("--folds", type=int, default=3, help="rolling origins (default 3)")
    p.add_argument("--step", type=int, default=None,
                   help="periods between cutoffs (default: the horizon, so test windows do not overlap)")
    p.add_argument("--lookback", type=int, default=4,
                   help="ranking targets: candidates are users active in this many periods before the cutoff "
                        "(0: every user since the log began)")
    p.add_argument("--models", default="baseline", help=f"comma-separated: {', '.join(MODEL_GROUPS)}")
    p.add_argument("--top-k", type=int, default=None,
                   help="group categories into the top K plus other (default 20 for category_demand, else none)")
    p.add_argument("--jobs", type=int, default=0, help="ARIMA worker processes (0 = all cores)")
    p.add_argument("--models-dir", default=None, help="where backtests/ is written (default models/)")
    p.add_argument("--out", default=None, help="write the result JSON here instead")


def build_models(spec: str, target: str, jobs: int) -> tuple[list[Any], dict[str, str]]:
    """Forecasters for a --models list, and the names skipped with the reason."""
    models: list[Any] = []
    skipped: dict[str, str] = {}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ModelError("--models is empty", f"pass e.g. --models baseline,arima (from {', '.join(MODEL_GROUPS)})")
    if target == "next_interest":  # models that rank every category per user: their own registry
        from interest_core.forecasting.next_interest import NEXT_INTEREST_BASELINES, make_next_interest

        expanded = [m for n in names for m in (NEXT_INTEREST_BASELINES if n == "baseline" else (n,))]
        return [make_next_interest(n) for n in expanded], skipped
    for name in names:
        if name not in MODEL_GROUPS:
            raise ModelError(f"unknown model {name!r} in --models", f"use {', '.join(MODEL_GROUPS)}")
        if name == "baseline":
            models += [make_forecaster(n) for n in BASELINE_NAMES]
        elif REGISTRY[name].per_series and target == "engagement":
            skipped[name] = (f"{name} fits one model per series, and engagement has one per user x category pair; "
                             "backtest it with --target user_total or --target category_demand")
        elif name == "arima":
            models.append(make_forecaster("arima", n_jobs=jobs))
        elif REGISTRY[name].needs_tensorflow:
            try:
                models.append(make_forecaster(name))
            except ModelError:
                raise ModelError(f"the {name} forecaster is not available (TensorFlow is missing)",
                                 "run the backtest without it, e.g. --models baseline,arima") from None
        else:
            models.append(make_forecaster(name))
    if not models:
        raise ModelError(f"no model left to backtest on {target} ({', '.join(skipped)} skipped)",
                         "add --models baseline, or pick --target user_total / category_demand for ARIMA")
    return models, skipped


def cmd_backtest(args: argparse.Namespace) -> dict[str, Any]:
    from interest_core.config import GroupingSpec, PanelSpec
    from interest_core.forecasting import backtest
    from interest_core.forecasting.page_frames import cli_panel
    from interest_core.grouping import category_map
    from interest_core.panel import events_source

    models, skipped = build_models(args.models, args.target, args.jobs if args.jobs > 0 else (os.cpu_count() or 1))
    top_k = args.top_k if args.top_k is not None else DEFAULT_TOP_K.get(args.target, 0)
    started = time.perf_counter()
    with open_store(args) as store:
        source = events_source(store, args.name)
        panel, sample = cli_panel(store, args.name, args.freq, args.target)
        data_end = source.query("SELECT max(ts) AS last_ts FROM {events}")["last_ts"].iloc[0]
        map_fn = None
        if top_k > 0:
            grouping = PanelSpec(freq=args.freq, grouping=GroupingSpec(method="topk", k=top_k))

            def map_fn(train_end: Any) -> Any:  # learned from events before each fold's end only
                return category_map(source, grouping, end=train_end)

        if args.target == "next_interest":
            from interest_core.forecasting.next_interest.evaluate import run_next_interest

            result = run_next_interest(panel, models, args.freq, args.horizon, args.folds, step=args.step,
                                       lookback=args.lookback or None, data_end=data_end, progress=progress_bar(args))
        else:
            result = backtest.run(panel, args.target, models, args.freq, args.horizon, args.folds, step=args.step,
                                  lookback=args.lookback or None, data_end=data_end, category_map_fn=map_fn,
                                  progress=progress_bar(args))
    meta = {"dataset": args.name, "folds": args.folds, "step": result.step, "lookback": result.lookback,
            "top_k": top_k,
            "models": [m.name for m in models], "skipped": skipped,
            "sample": None if sample is None else sample.describe()}
    path = Path(args.out) if args.out else backtest.backtest_path(
        args.models_dir or DEFAULT_MODELS_DIR, args.name, args.target, args.freq)
    backtest.write_json(backtest.result_to_json(result, meta), path)
    table = backtest.leaderboard_table(result)
    out: dict[str, Any] = {
        **meta, "target": args.target, "freq": args.freq, "horizon": args.horizon,
        "cutoffs": [str(c.date()) for c in result.cutoffs],
        "leaderboard": {model: {k: _num(v) for k, v in row.items()} for model, row in table.iterrows()},
        "saved": str(path), "seconds": round(time.perf_counter() - started, 1),
    }
    if not args.json:
        out["message"] = (f"{args.target} backtest of {args.name} ({args.freq}, h={args.horizon}, step {result.step}, "
                          + (f"candidates: users active in the last {result.lookback} periods, "
                             if result.lookback else "")
                          + f"cutoffs {', '.join(out['cutoffs'])})\n{table.round(4).to_string()}\nsaved to {path}"
                          + "".join(f"\nskipped {name}: {why}" for name, why in skipped.items())
                          + (f"\nusers: {sample.describe()}" if sample is not None else ""))
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return None if value != value else round(value, 6)  # NaN -> null in JSON


# -- fit and score -----------------------------------------------------------------------------

def _register_fit_score(add: AddCommand) -> None:
    p = add("fit", cmd_fit, "backtest a model, fit it on all complete periods and save it to a folder")
    p.add_argument("name", help="dataset name in the store")
    p.add_argument("--model", default="lstm", help="forecaster name (lstm, arima, recency_decay, ...); "
                   "next_interest: lstm, item_cf, recency_decay, popularity")
    p.add_argument("--out", required=True, help="model folder to write, e.g. models/tmall-lstm")
    p.add_argument("--target", default="engagement",
                   choices=["engagement", "user_total", "category_demand", "next_interest"])
    p.add_argument("--freq", default="W", choices=list(FREQS))
    p.add_argument("--horizon", type=int, default=4, help="periods ahead (default 4; the LSTM trains for it)")
    p.add_argument("--folds", type=int, default=3, help="backtest folds recorded in the manifest (default 3)")
    p.add_argument("--step", type=int, default=1, help="periods between backtest cutoffs (default 1)")
    p.add_argument("--compare", default="recency_decay",
                   help="comma-separated models backtested beside it (default recency_decay; '' for none)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter, e.g. --param epochs=10 --param units=16 (values read as JSON)")
    p = add("score", cmd_score, "score an events file against a saved model: engagement per user x category",
            db=False)
    p.add_argument("model_dir", help="folder written by fit")
    p.add_argument("path", help="events file (any supported format)")
    p.add_argument("--out", required=True, help="CSV (or .parquet) of every (user, category) score")
    p.add_argument("--top-out", default=None, help="CSV of the top-K categories per user")
    p.add_argument("--h", type=int, default=None, help="periods ahead (default: the model's horizon)")
    p.add_argument("--k", type=int, default=5, help="categories per user in the top-K (default 5)")
    p.add_argument("--format", default="auto", help="auto, taobao, tmall2014, retailrocket, rees46")
    p.add_argument("--year", type=int, default=2013, help="tmall2014: year of the M-D dates")
    p.add_argument("--duplicates", default="auto", choices=["auto", "keep", "drop"],
                   help="exact duplicate rows of the file: the format's default (auto), keep or drop")
    p.add_argument("--register", default=None, metavar="NAME",
                   help="record the --out Parquet in the store (--db) as scores NAME: DuckDB reads it as view sc_NAME")
    p.add_argument("--db", help="DuckDB store for --register (default $INTEREST_DB or data/interest.duckdb)")
    add_engine_options(p)


def _model_params(pairs: list[str]) -> dict[str, Any]:
    import json


    out: dict[str, Any] = {}
    for key, text in parse_pairs(pairs, "param").items():
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text  # a bare word, e.g. --param method=css
    return out


def cmd_fit(args: argparse.Namespace) -> dict[str, Any]:
    """Through tasks.train, like the Forecasts page: backtest, fit on all complete periods, save."""
    import json

    from interest_core.forecasting import tasks
    from interest_core.forecasting.page_frames import cli_panel
    from interest_core.panel import events_source

    params = _model_params(args.param)
    if args.target == "next_interest":  # its own models and fit (cli/next_interest.py)
        from interest_core.cli.next_interest import fit_next_interest

        return fit_next_interest(args, params)
    compare = [n.strip() for n in args.compare.split(",") if n.strip() and n.strip() != args.model]
    out = Path(args.out)
    started = time.perf_counter()
    with open_store(args) as store:
        source = events_source(store, args.name)
        data_end = source.query("SELECT max(ts) AS last_ts FROM {events}")["last_ts"].iloc[0]
        sha = store.describe(args.name).sha256
        request = TrainRequest.build(dataset=args.name, dataset_sha256=sha, target=args.target, freq=args.freq,
                                     horizon=args.horizon, folds=args.folds, step=args.step, model=args.model,
                                     model_dir=out, data_end=data_end, compare=compare, params=params)
        panel, sample = cli_panel(store, args.name, args.freq, args.target)  # raw categories: the task groups them
    params = dict(request.params)
    result = tasks.train(request, {"panel": panel}, progress_bar(args) or (lambda _f, _m: None))
    state = json.loads((out / "state.json").read_text(encoding="utf-8"))["state"]
    summary = {
        "model_dir": str(out), "model": args.model, "params": params, "target": args.target, "freq": args.freq,
        "horizon": args.horizon, "metrics": {k: _num(v) for k, v in result["metrics"].items()},
        "backtest": result["backtest_path"], "device": state.get("device_"), "train_info": state.get("train_info_"),
        "seconds": round(time.perf_counter() - started, 1), "sample": None if sample is None else sample.describe(),
    }
    if not args.json:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in summary["metrics"].items()
                          if v is not None and k in ("auc", "hit_rate@5", "mae", "mae_user_total"))
        summary["message"] = (f"saved {args.model} ({args.target}, {args.freq}, h={args.horizon}) to {out} in "
                              f"{summary['seconds']} s" + (f"; backtest: {shown}" if shown else "")
                              + (f"\nusers: {sample.describe()}" if sample is not None else ""))
    return summary


def cmd_score(args: argparse.Namespace) -> dict[str, Any]:
    import json

    from interest_core.config import IngestOptions
    from interest_core.export import safe_csv
    from interest_core.forecasting.scoring import score

    out = Path(args.out)
    if args.register and out.suffix != ".parquet":
        raise ModelError(f"--register records Parquet, not {out.name}", "write the scores with --out NAME.parquet")
    started = time.perf_counter()
    options = IngestOptions(duplicates=args.duplicates)
    if args.engine == "spark":
        from interest_core.engines.spark_scoring import score as spark_score

        result = spark_score(args.model_dir, args.path, h=args.h, k=args.k, fmt=args.format, year=args.year,
                             options=options, master=args.spark_master)
    else:
        result = score(args.model_dir, args.path, h=args.h, k=args.k, fmt=args.format, year=args.year,
                       options=options)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        result.scores.to_parquet(out, index=False)
    else:
        out.write_bytes(safe_csv(result.scores))
    if args.top_out:
        Path(args.top_out).write_bytes(safe_csv(result.top_k))
    drift = json.loads(result.drift.to_json(orient="records"))
    summary: dict[str, Any] = {
        "out": str(out), "top_out": args.top_out, "counts": result.counts,
        "shares": {k: round(v, 6) for k, v in result.shares.items()}, "warnings": list(result.warnings),
        "rejected": dict(result.report.rejected) if result.report else {}, "drift": drift,
        "top_k": json.loads(result.top_k.head(20).to_json(orient="records")),
    }
    if args.register:
        summary["registered"] = _register(args, result)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if not args.json:
        c = result.counts
        flags = result.drift.dropna(subset=["flag"])
        shifted = [f"{r.aspect}: {r.item}" for r in flags.itertuples() if r.flag != "stable"]
        summary["message"] = (
            f"scored {c['pairs']:,} pairs of {c['users']:,} users ({c['users_cold_start']:,} cold-start) for "
            f"{c['horizon']} periods -> {out}\n{c['categories_unseen']:,} unseen categories "
            f"({c['events_unseen_categories']:,} events) folded into 'other'; drift: "
            + (", ".join(shifted) if shifted else "stable")
            + "".join(f"\nwarning: {w}" for w in result.warnings)
            + (f"\nregistered as {args.register!r}: DuckDB view {summary['registered']['view']}"
               if args.register else ""))
    return summary


def _register(args: argparse.Namespace, result: Any) -> dict[str, Any]:
    from interest_core.forecasting.scoring_catalog import register_scores

    model = str(result.forecasts["model"].iloc[0]) if len(result.forecasts) else ""
    with open_store(args) as store:
        entry = register_scores(store, args.register, args.out, model_dir=str(Path(args.model_dir).resolve()),
                                model=model, source_name=Path(args.path).name,
                                counts=result.counts, warnings=result.warnings)
    return {"name": entry.name, "view": entry.view, "location": entry.location}
