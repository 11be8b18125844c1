"""Benchmark: LSTM training / inference and ARIMA fitting vs bare library calls in the same run.

Data: the real Tmall 2014 brand log (../shared/data, as the tests use it), ingested with Store,
weekly panel, training frames from interest_core.forecasting.series ending at the last complete week; the
project's demo data (data/demo/events.parquet) only when the log is absent. The output says which.

LSTM (engagement: one series per user x brand pair). Ours: ``LSTMForecaster(...).fit(frame, "W")``
for a fixed number of epochs (patience = epochs, so early stopping cannot cut either side short):
validation, feature windows, per-epoch validation loss, op determinism and conformal calibration
included. Reference: the same training arrays (``LSTMForecaster._training_arrays``, which ``_fit``
itself uses) fed to a bare Keras model of the same architecture (``LSTMForecaster._build``) with
``model.fit(x, y, validation_data=(x_val, y_val), batch_size, epochs)`` (the call ``_fit`` makes),
model build not timed. Training windows/s =
training windows x epochs run / seconds. Inference: ``LSTMForecaster._run`` (what ``predict``,
``predict_frame`` and calibration call) vs bare ``model.predict`` with the same batch size, on every
training + validation window, after one warm-up call on each side. TensorFlow's import is timed
apart and excluded from both sides.

ARIMA (category demand: the top N brands by interest). ``ArimaForecaster().fit`` with the order
search as the product runs it, n_jobs=1 vs n_jobs=2 (parallel speedup), and a fixed order (1,1,1)
vs a bare statsmodels loop ``SARIMAX(y, order=(1,1,1)).fit(disp=False)`` (statsmodels defaults; ours
passes maxiter=200) over the same series, one BLAS thread on both sides. N is at least
2 x FIT_SERIES_PER_WORKER, or n_jobs=2 would run serially.

Each measurement runs in a fresh spawned process, so its peak memory (ru_maxrss) is its own; ARIMA
worker processes report their own peak apart. Ours and the reference alternate; the best of
``--repeat`` runs counts for each.

    .venv/bin/python bench/forecast.py [--epochs 3] [--series 256] [--repeat 2] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fresh_process import in_fresh_process  # after the path above

TARGET_LSTM_RATIO = 0.8  # ours windows/s over bare Keras windows/s, training and inference
INFER_REPEAT = 5  # inference calls per process after the warm-up; the fastest counts
REFERENCE_FIGURES = ("ARCHITECTURE.md reference figures (another machine, not this run): Keras LSTM(32)->Dense(4) "
                     "CPU about 57k training / 143k inference windows/s; ARIMA(1,1,1) about 45 series/s per core")
ROOT = Path(__file__).resolve().parent.parent
TMALL = ROOT.parent / "shared" / "data" / "tmall-2014-brand-log" / "t_alibaba_data.csv.gz"
DEMO = ROOT / "data" / "demo" / "events.parquet"


# -- data (parent process, once) ------------------------------------------------------------------

def prepare(workdir: Path, n_series: int, pair_share: int) -> dict[str, Any]:
    """Training frames as Parquet in workdir: engagement (LSTM) and top-N category demand (ARIMA)."""
    import pandas as pd

    from interest_core.config import PanelSpec
    from interest_core.forecasting import series
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    source = TMALL if TMALL.exists() else DEMO
    t0 = time.perf_counter()
    with Store(workdir / "data.duckdb") as store:
        store.ingest(source, name="bench")
        panel = build_panel(events_source(store, "bench"), PanelSpec(freq="W"))
        data_end = pd.Timestamp(store.describe("bench").end)
    end = series.last_complete_period(panel["period"].max(), data_end, "W")
    engagement = series.training_frame(panel, "engagement", "W", end=end)
    if pair_share > 1:  # --quick: every pair_share-th user, so user totals stay whole
        users = engagement["user_id"].drop_duplicates().sort_values().iloc[::pair_share]
        engagement = engagement[engagement["user_id"].isin(users)]
    demand = series.training_frame(panel, "category_demand", "W", end=end)
    top = demand.groupby("unique_id")["y"].sum().nlargest(n_series).index
    demand = demand[demand["unique_id"].isin(top)]
    engagement.to_parquet(workdir / "engagement.parquet")
    demand.to_parquet(workdir / "demand.parquet")
    label = ("Tmall 2014 brand log, ../shared/data/tmall-2014-brand-log" if source == TMALL
             else "demo data, data/demo/events.parquet (Tmall log absent)")
    return {"source": label, "prepare_s": time.perf_counter() - t0, "end": str(end.date()),
            "periods": int(engagement["period"].nunique()), "pairs": int(engagement["unique_id"].nunique()),
            "arima_series": int(demand["unique_id"].nunique())}


# -- LSTM (child processes) -----------------------------------------------------------------------

def _tf_warm() -> float:
    """Import TensorFlow + Keras and list devices once, outside every timed region; returns seconds."""
    t0 = time.perf_counter()
    from interest_core.forecasting.forecasters import lstm

    lstm._keras()
    lstm._device()
    return time.perf_counter() - t0


def _lstm_params(p: dict[str, Any]) -> dict[str, Any]:
    return {"epochs": p["epochs"], "patience": p["epochs"], "seed": 0}


def _inference_windows(p: dict[str, Any]) -> tuple[Any, float]:
    """Every training + validation window of the frame, as _fit builds them, and the seconds building took."""
    import numpy as np
    import pandas as pd

    from interest_core.forecasting.forecasters.base import validate_training_frame
    from interest_core.forecasting.forecasters.lstm import LSTMForecaster

    frame = pd.read_parquet(p["engagement"])
    t0 = time.perf_counter()
    arrays = LSTMForecaster(**_lstm_params(p))._training_arrays(validate_training_frame(frame), "W")
    prep_s = time.perf_counter() - t0
    return np.concatenate([arrays.x_train, arrays.x_val]), prep_s


def _phases(t0: float, epoch_ends: list[float]) -> dict[str, float]:
    """Seconds to the first epoch's end (setup + graph tracing + epoch 1) and per later epoch."""
    n = len(epoch_ends)
    return {"first_epoch_s": epoch_ends[0] - t0,
            "later_epoch_s": (epoch_ends[-1] - epoch_ends[0]) / (n - 1) if n > 1 else float("nan")}


def _best_time(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _lstm_ours(p: dict[str, Any]) -> dict[str, Any]:
    import_s = _tf_warm()
    import pandas as pd

    from interest_core.forecasting.forecasters.lstm import PREDICT_BATCH, LSTMForecaster

    frame = pd.read_parquet(p["engagement"])
    marks: list[float] = []  # the progress callback (as the app and CLI pass one): each epoch's end, then done
    t0 = time.perf_counter()
    model = LSTMForecaster(**_lstm_params(p))
    model.fit(frame, "W", progress=lambda frac, msg: marks.append(time.perf_counter()))
    fit_s = time.perf_counter() - t0
    info = model.train_info_
    phases = {**_phases(t0, marks[:-1]), "after_last_epoch_s": marks[-1] - marks[-2]}
    x, prep_s = _inference_windows(p)
    model._run(x[:PREDICT_BATCH])  # warm-up (the fit's calibration already traced predict)
    infer_s = _best_time(lambda: model._run(x), INFER_REPEAT)
    t0 = time.perf_counter()
    forecast = model.predict(4, level=[80, 95])
    predict_s = time.perf_counter() - t0
    return {"import_s": import_s, "fit_s": fit_s, **phases, "prep_s": prep_s, "windows": info["windows_train"],
            "windows_val": info["windows_val"], "epochs": info["epochs_run"], "infer_s": infer_s,
            "infer_windows": len(x), "predict_s": predict_s,
            "predict_series": int(forecast["unique_id"].nunique()), "batch": model.batch_size,
            "window": model.window, "units": model.units, "channels": len(model.channels_)}


def _lstm_bare(p: dict[str, Any]) -> dict[str, Any]:
    import_s = _tf_warm()
    import numpy as np
    import pandas as pd

    from interest_core.forecasting.forecasters.base import validate_training_frame
    from interest_core.forecasting.forecasters.lstm import PREDICT_BATCH, LSTMForecaster, _keras

    keras = _keras()
    keras.utils.set_random_seed(0)
    forecaster = LSTMForecaster(**_lstm_params(p))
    arrays = forecaster._training_arrays(validate_training_frame(pd.read_parquet(p["engagement"])), "W")
    model = forecaster._build(len(forecaster.channels_), int(forecaster.horizon_train))
    batch, epochs = int(forecaster.batch_size), int(p["epochs"])
    ends: list[float] = []
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    t0 = time.perf_counter()
    # The product's own call: the same training and validation arrays (the validation loss drives
    # early stopping), so the ratio is what our code adds around model.fit.
    history = model.fit(arrays.x_train, arrays.y_train, validation_data=(arrays.x_val, arrays.y_val),
                        batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[stamp])
    fit_s = time.perf_counter() - t0
    x = np.concatenate([arrays.x_train, arrays.x_val])
    model.predict(x[:PREDICT_BATCH], batch_size=PREDICT_BATCH, verbose=0)  # warm-up: trace predict
    infer_s = _best_time(lambda: model.predict(x, batch_size=PREDICT_BATCH, verbose=0), INFER_REPEAT)
    return {"import_s": import_s, "fit_s": fit_s, **_phases(t0, ends), "windows": len(arrays.x_train),
            "epochs": len(history.history["loss"]), "infer_s": infer_s, "infer_windows": len(x)}


# -- ARIMA (child processes) ----------------------------------------------------------------------

def _sm_warm() -> None:
    import statsmodels.tsa.statespace.sarimax
    import statsmodels.tsa.stattools  # noqa: F401


def _arima_ours(p: dict[str, Any]) -> dict[str, Any]:
    _sm_warm()
    import pandas as pd

    from interest_core.forecasting.forecasters.arima import ArimaForecaster

    frame = pd.read_parquet(p["demand"])
    order = tuple(p["order"]) if p["order"] else None
    t0 = time.perf_counter()
    model = ArimaForecaster(order=order, n_jobs=p["n_jobs"])
    model.fit(frame, "W")
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(4, level=[80, 95])
    predict_s = time.perf_counter() - t0
    orders = [tuple(o) for o in model.orders_ if o is not None]
    return {"fit_s": fit_s, "predict_s": predict_s, "series": len(model.ids_), "fallback": model.n_fallback_,
            "distinct_orders": len(set(orders))}


def _arima_bare(p: dict[str, Any]) -> dict[str, Any]:
    _sm_warm()
    import pandas as pd
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    from threadpoolctl import threadpool_limits

    from interest_core.forecasting.forecasters.base import to_matrix

    matrix, _, _ = to_matrix(pd.read_parquet(p["demand"]))
    converged = 0
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for y in matrix:
            res = SARIMAX(y, order=(1, 1, 1)).fit(disp=False)
            converged += bool(res.mle_retvals.get("converged", False))
        fit_s = time.perf_counter() - t0
    return {"fit_s": fit_s, "series": len(matrix), "converged": converged}


# -- process plumbing -----------------------------------------------------------------------------

KINDS = {"lstm_ours": _lstm_ours, "lstm_bare": _lstm_bare, "arima_ours": _arima_ours, "arima_bare": _arima_bare}


def measure(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    return in_fresh_process(KINDS[kind], params)


def best_of(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    best = dict(min(runs, key=lambda r: r[key]))
    best["peak_gb"] = max(r["peak_gb"] for r in runs)  # memory: the worst run
    best["workers_peak_gb"] = max(r["workers_peak_gb"] for r in runs)
    return best


# -- report ---------------------------------------------------------------------------------------

NAME_WIDTH = 44


def row(name: str, ours: float, ref: float | None, unit: str, target: float | None = None) -> str:
    ref_s = f"{ref:>12,.0f}" if ref is not None else f"{'':>12}"
    ratio = f"{ours / ref:>6.2f}" if ref else f"{'':>6}"
    verdict = ""
    if target is not None and ref:
        verdict = f">= {target:.1f}  {'PASS' if ours / ref >= target else 'MISS'}"
    return f"{name:<{NAME_WIDTH}}{ours:>12,.1f} {ref_s}  {ratio}  {unit:<11}{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="LSTM epochs, the same on both sides")
    parser.add_argument("--series", type=int, default=256, help="ARIMA series (top brands); >= 128 for 2 workers")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs per side; the best counts")
    parser.add_argument("--quick", action="store_true",
                        help="about a minute: 1/4 of the users' pairs, 2 epochs, 128 ARIMA series, one run each")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    pair_share = 1
    if args.quick:
        args.epochs, args.series, args.repeat, pair_share = 2, 128, 1, 4
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-forecast-"))
    workdir.mkdir(parents=True, exist_ok=True)
    from interest_core.forecasting.forecasters.arima import FIT_SERIES_PER_WORKER

    if args.series < 2 * FIT_SERIES_PER_WORKER:
        print(f"note: under {2 * FIT_SERIES_PER_WORKER} series ArimaForecaster(n_jobs=2) fits in one process")
    data = prepare(workdir, args.series, pair_share)
    print(f"data: {data['source']}; weekly, {data['periods']} weeks to {data['end']} "
          f"(prepared in {data['prepare_s']:.1f}s, untimed)")
    base = {"engagement": str(workdir / "engagement.parquet"), "demand": str(workdir / "demand.parquet"),
            "epochs": args.epochs}

    lstm_runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
    for rep in range(args.repeat):
        for side in ("ours", "bare"):  # alternate so drift in machine load hits both
            out = measure(f"lstm_{side}", base)
            lstm_runs[side].append(out)
            print(f"run {rep + 1} LSTM {side}: fit {out['fit_s']:.2f}s ({out['epochs']} epochs; first ends at "
                  f"{out['first_epoch_s']:.2f}s, then {out['later_epoch_s']:.2f}s each)  "
                  f"inference {out['infer_s']:.2f}s  import {out['import_s']:.1f}s  peak {out['peak_gb']:.2f} GB")
    arima_cases: dict[str, dict[str, Any]] = {
        "search_1": {"order": None, "n_jobs": 1}, "search_2": {"order": None, "n_jobs": 2},
        "fixed_1": {"order": [1, 1, 1], "n_jobs": 1},
    }
    arima_runs: dict[str, list[dict[str, Any]]] = {k: [] for k in [*arima_cases, "bare"]}
    for rep in range(args.repeat):
        for case in [*arima_cases, "bare"]:
            out = (measure("arima_bare", base) if case == "bare"
                   else measure("arima_ours", {**base, **arima_cases[case]}))
            arima_runs[case].append(out)
            print(f"run {rep + 1} ARIMA {case}: fit {out['fit_s']:.2f}s  peak {out['peak_gb']:.2f} GB"
                  + (f", workers {out['workers_peak_gb']:.2f} GB" if case == "search_2" else ""))

    ours, bare = best_of(lstm_runs["ours"], "fit_s"), best_of(lstm_runs["bare"], "fit_s")
    ours_inf, bare_inf = best_of(lstm_runs["ours"], "infer_s"), best_of(lstm_runs["bare"], "infer_s")
    a = {k: best_of(v, "fit_s") for k, v in arima_runs.items()}
    n = a["search_1"]["series"]
    print(f"\nLSTM: engagement, {data['pairs']:,} user x brand pairs, {ours['windows']:,} training windows "
          f"(+{ours['windows_val']:,} validation), window {ours['window']} x {ours['channels']} channels, "
          f"LSTM({ours['units']}), batch {ours['batch']}, {args.epochs} epochs (ours ran {ours['epochs']}, "
          f"bare {bare['epochs']}); inference on {ours['infer_windows']:,} windows")
    print(f"ARIMA: category demand, top {n} brands by interest; order search fallbacks {a['search_1']['fallback']}, "
          f"{a['search_1']['distinct_orders']} distinct orders chosen; bare (1,1,1) converged "
          f"{a['bare']['converged']}/{a['bare']['series']}")
    print(f"\n{'measure':<{NAME_WIDTH}}{'ours':>12} {'reference':>12}  {'ratio':>6}  {'unit':<11}target")
    print(row("LSTM training (vs bare model.fit)", ours["windows"] * ours["epochs"] / ours["fit_s"],
              bare["windows"] * bare["epochs"] / bare["fit_s"], "windows/s", TARGET_LSTM_RATIO))
    print(row("LSTM training, later epochs only", ours["windows"] / ours["later_epoch_s"],
              bare["windows"] / bare["later_epoch_s"], "windows/s"))
    print(row("LSTM inference (vs bare model.predict)", ours_inf["infer_windows"] / ours_inf["infer_s"],
              bare_inf["infer_windows"] / bare_inf["infer_s"], "windows/s", TARGET_LSTM_RATIO))
    print(row("LSTM predict(h=4), end to end", ours["predict_series"] / ours["predict_s"], None, "series/s"))
    print(row("ARIMA order search, 2 workers vs 1", n / a["search_2"]["fit_s"], n / a["search_1"]["fit_s"],
              "series/s"))
    print(row("ARIMA (1,1,1), one core, vs bare SARIMAX", n / a["fixed_1"]["fit_s"], n / a["bare"]["fit_s"],
              "series/s"))
    print(row("ARIMA predict(h=4), order search", n / a["search_1"]["predict_s"], None, "series/s"))
    print(f"\nparallel speedup (order search, 2 workers on {mp.cpu_count()} cores): "
          f"{a['search_1']['fit_s'] / a['search_2']['fit_s']:.2f}x")
    print(f"LSTM fit, best run of each side: to the first epoch's end ours {ours['first_epoch_s']:.2f}s, "
          f"bare {bare['first_epoch_s']:.2f}s (ours: sorting, feature windows, which alone took "
          f"{ours['prep_s']:.2f}s; both: graph tracing); each later epoch ours {ours['later_epoch_s']:.2f}s, bare "
          f"{bare['later_epoch_s']:.2f}s (both validate on {ours['windows_val']:,} windows); "
          f"after the last epoch ours {ours['after_last_epoch_s']:.2f}s (best weights, conformal calibration)")
    print(f"TensorFlow import (excluded above): {ours['import_s']:.1f}s ours, {bare['import_s']:.1f}s bare")
    print("peak memory (ru_maxrss, worst run of each process):")
    print(f"  LSTM ours {ours['peak_gb']:.2f} GB, bare Keras {bare['peak_gb']:.2f} GB "
          f"(ratio {ours['peak_gb'] / bare['peak_gb']:.2f})")
    print(f"  ARIMA n_jobs=1 {a['search_1']['peak_gb']:.2f} GB; n_jobs=2 {a['search_2']['peak_gb']:.2f} GB "
          f"+ {a['search_2']['workers_peak_gb']:.2f} GB in the largest worker; "
          f"(1,1,1) {a['fixed_1']['peak_gb']:.2f} GB, bare SARIMAX {a['bare']['peak_gb']:.2f} GB")
    print(REFERENCE_FIGURES)
    print(f"total {time.perf_counter() - started:.0f}s; load average (1 min) {load0:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
