"""Forecasting commands of the CLI, registered by ``cli._register_extra``: one function per command.

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

from interest_core.errors import ModelError

AddCommand = Callable[..., argparse.ArgumentParser]
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_TOP_K = {"category_demand": 20}
MODEL_GROUPS = ("baseline", "arima", "lstm", "last_value", "seasonal_naive", "window_mean", "recency_decay")


def register(add: AddCommand) -> None:
    """Add every forecasting command to the CLI (fit and score register beside backtest)."""
    _register_backtest(add)


# -- backtest ----------------------------------------------------------------------------------

def _register_backtest(add: AddCommand) -> None:
    p = add("backtest", cmd_backtest, "rolling-origin backtest of forecasters on a dataset; prints the leaderboard")
    p.add_argument("name", help="dataset name in the store")
    p.add_argument("--target", default="engagement", choices=["engagement", "user_total", "category_demand"])
    p.add_argument("--freq", default="W", choices=["h", "D", "W", "M"])
    p.add_argument("--horizon", type=int, default=4, help="periods ahead (default 4)")
    p.add_argument("--folds", type=int, default=3, help="rolling origins (default 3)")
    p.add_argument("--step", type=int, default=1, help="periods between cutoffs (default 1)")
    p.add_argument("--models", default="baseline", help=f"comma-separated: {', '.join(MODEL_GROUPS)}")
    p.add_argument("--top-k", type=int, default=None,
                   help="group categories into the top K plus other (default 20 for category_demand, else none)")
    p.add_argument("--jobs", type=int, default=0, help="ARIMA worker processes (0 = all cores)")
    p.add_argument("--models-dir", default=None, help="where backtests/ is written (default models/)")
    p.add_argument("--out", default=None, help="write the result JSON here instead")


def build_models(spec: str, target: str, jobs: int) -> tuple[list[Any], dict[str, str]]:
    """Forecasters for a --models list, and the names skipped with the reason."""
    from interest_core.forecasters import BASELINE_NAMES, make_forecaster

    models: list[Any] = []
    skipped: dict[str, str] = {}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ModelError("--models is empty", f"pass e.g. --models baseline,arima (from {', '.join(MODEL_GROUPS)})")
    for name in names:
        if name not in MODEL_GROUPS:
            raise ModelError(f"unknown model {name!r} in --models", f"use {', '.join(MODEL_GROUPS)}")
        if name == "baseline":
            models += [make_forecaster(n) for n in BASELINE_NAMES]
        elif name == "arima" and target == "engagement":
            skipped["arima"] = ("ARIMA fits one model per series, and engagement has one per user x category pair; "
                                "backtest it with --target user_total or --target category_demand")
        elif name == "arima":
            models.append(make_forecaster("arima", n_jobs=jobs))
        elif name == "lstm":
            try:
                models.append(make_forecaster("lstm"))
            except ModelError:
                raise ModelError("the LSTM forecaster is not available (interest_core.forecasters.lstm is missing)",
                                 "run the backtest without lstm, e.g. --models baseline,arima") from None
        else:
            models.append(make_forecaster(name))
    if not models:
        raise ModelError(f"no model left to backtest on {target} ({', '.join(skipped)} skipped)",
                         "add --models baseline, or pick --target user_total / category_demand for ARIMA")
    return models, skipped


def cmd_backtest(args: argparse.Namespace) -> dict[str, Any]:
    from interest_core import backtest
    from interest_core.cli import _progress, _store
    from interest_core.config import GroupingSpec, PanelSpec
    from interest_core.grouping import category_map
    from interest_core.panel import build_panel, events_source

    models, skipped = build_models(args.models, args.target, args.jobs if args.jobs > 0 else (os.cpu_count() or 1))
    top_k = args.top_k if args.top_k is not None else DEFAULT_TOP_K.get(args.target, 0)
    started = time.perf_counter()
    with _store(args) as store:
        source = events_source(store, args.name)
        panel = build_panel(source, PanelSpec(freq=args.freq))
        data_end = source.query("SELECT max(ts) AS last_ts FROM {events}")["last_ts"].iloc[0]
        map_fn = None
        if top_k > 0:
            grouping = PanelSpec(freq=args.freq, grouping=GroupingSpec(method="topk", k=top_k))

            def map_fn(train_end: Any) -> Any:  # learned from events before each fold's end only
                return category_map(source, grouping, end=train_end)

        result = backtest.run(panel, args.target, models, args.freq, args.horizon, args.folds, step=args.step,
                              data_end=data_end, category_map_fn=map_fn, progress=_progress(args))
    meta = {"dataset": args.name, "folds": args.folds, "step": args.step, "top_k": top_k,
            "models": [m.name for m in models], "skipped": skipped}
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
        out["message"] = (f"{args.target} backtest of {args.name} ({args.freq}, h={args.horizon}, cutoffs "
                          f"{', '.join(out['cutoffs'])})\n{table.round(4).to_string()}\nsaved to {path}"
                          + "".join(f"\nskipped {name}: {why}" for name, why in skipped.items()))
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return None if value != value else round(value, 6)  # NaN -> null in JSON
