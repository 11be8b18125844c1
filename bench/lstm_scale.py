"""Benchmark: the engagement LSTM at a million users - train on a sample of users, score every user in batches.

Speed (a generated log): ``--users`` users (default 1,000,000), each with ``--pairs`` categories out of
``--categories`` (popularity Zipf-like), ``--periods`` weekly periods of Poisson interest with long dormant
stretches. Training: ``LSTMForecaster(max_users=S)`` fitted on the frame of a seeded sample of S users
(``--sample``, default 20,000), a fixed number of epochs (patience = epochs); training windows/s = training
windows x epochs / fit seconds. Scoring: every user, ``--sample`` users at a time (the model's category
features were learnt on a population of that size), ``predict_frame`` on each batch's frame; scoring
windows/s = series scored / seconds inside ``predict_frame`` (frame generation timed apart). Memory is one
batch's frame plus the model: the process's peak RSS is printed after each phase.

Accuracy cost of sampling (``--accuracy``): on the real Tmall log (884 users, weekly, horizon 4, 2 folds
step 4, users active in the last 4 weeks), the LSTM trained on every user vs on ``--accuracy-sample``
users (``max_users``, features from all users, every user scored): per-user AUC (gauc) and recall@10.

    .venv/bin/python bench/lstm_scale.py [--users 1000000] [--sample 20000] [--epochs 2] [--accuracy]

``--target next_interest``: the next_interest LSTM (``SequenceLSTM``) instead. A generated panel of ``--users``
users (``--pairs`` categories each of ``--categories``, Zipf-like, interest in ~40 % of the periods) is written
to a DuckDB file in ``--workdir``; training reads the cells of a seeded sample of ``--sample`` users from it
(training windows/s = training windows x epochs / fit seconds); scoring reads ``--batch`` users at a time from
DuckDB and ranks every category for each (``top_categories_in``; scoring windows/s = users / seconds spent
scoring, reads timed apart). Peak RSS after each phase. The cost of sampling on Tmall (recall@10) is
asserted in tests/test_next_interest_cli.py (slow) and recorded to accuracy.json.

    .venv/bin/python bench/lstm_scale.py --target next_interest --users 200000 --sample 20000 --epochs 2
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.forecast import TMALL  # after the path above
from interest_core.forecasting.series import PAIR_SEP

START = pd.Timestamp("2024-01-01")


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB on Linux


def users_frame(user_ids: np.ndarray, n_categories: int, pairs: int, periods: int, seed: int) -> pd.DataFrame:
    """Dense long engagement frame for ``user_ids``: ``pairs`` categories each, dormant spells, Poisson interest."""
    rng = np.random.default_rng([seed, int(user_ids[0]) if len(user_ids) else 0])
    n = len(user_ids)
    weights = 1.0 / np.arange(1, n_categories + 1) ** 0.8
    cats = rng.choice(n_categories, size=(n, pairs), p=weights / weights.sum())
    rate = rng.gamma(0.6, 1.5, size=(n, pairs))[:, :, None]
    awake = rng.random((n, 1, periods)) < rng.beta(2.0, 2.0, size=(n, 1, 1))  # whole-user dormancy per period
    y = rng.poisson(rate * awake * (rng.random((n, pairs, periods)) < 0.5)).astype(float)
    user = np.repeat(user_ids.astype(str), pairs * periods)
    category = np.repeat(np.char.add("c", cats.astype(str)).ravel(), periods)
    return pd.DataFrame({
        "unique_id": np.char.add(np.char.add(user, PAIR_SEP), category), "user_id": user, "category": category,
        "period": np.tile(pd.date_range(START, periods=periods, freq="W-MON").to_numpy(), n * pairs),
        "y": y.ravel()})


def speed(args: argparse.Namespace) -> None:
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.forecasting.forecasters.lstm import _device, _keras

    t0 = time.perf_counter()
    _keras()
    print(f"TensorFlow import and device ({_device()}): {time.perf_counter() - t0:.1f} s, not timed below")
    rng = np.random.default_rng(args.seed)
    sample = np.sort(rng.choice(args.users, size=min(args.sample, args.users), replace=False))
    frame = users_frame(sample, args.categories, args.pairs, args.periods, args.seed)
    model = make_forecaster("lstm", epochs=args.epochs, patience=args.epochs, max_users=args.sample)
    started = time.perf_counter()
    model.fit(frame, "W")
    fit_s = time.perf_counter() - started
    info = model.train_info_
    windows = info["windows_train"] * info["epochs_run"]
    print(f"training: {len(sample):,} sampled users of {args.users:,} ({info['users_trained']:,} with training "
          f"windows), {info['windows_train']:,} windows x {info['epochs_run']} epochs in {fit_s:.1f} s (features, "
          f"validation and calibration included) = {windows / fit_s:,.0f} windows/s; peak RSS {peak_gb():.2f} GB")
    scored = 0
    predict_s = generate_s = 0.0
    for start in range(0, args.users, args.sample):
        t0 = time.perf_counter()
        batch = users_frame(np.arange(start, min(start + args.sample, args.users)), args.categories, args.pairs,
                            args.periods, args.seed + 1)
        t1 = time.perf_counter()
        out = model.predict_frame(batch, h=4)
        t2 = time.perf_counter()
        generate_s += t1 - t0
        predict_s += t2 - t1
        scored += out["unique_id"].nunique()
        del batch, out
    print(f"scoring: {args.users:,} users, {scored:,} series (one window each) in batches of {args.sample:,} users: "
          f"{predict_s:.1f} s in predict_frame = {scored / predict_s:,.0f} windows/s (+ {generate_s:.1f} s "
          f"generating the frames); peak RSS {peak_gb():.2f} GB")


def next_interest_panel(args: argparse.Namespace) -> Any:
    """A DuckDB file of (user_no, user_id, category, period, interest) cells, generated inside DuckDB."""
    import duckdb

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"ni-{args.users}-{args.categories}-{args.pairs}-{args.periods}.duckdb"
    con = duckdb.connect(str(path))
    if "cells" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
        con.execute(f"SELECT setseed({0.5 / (1 + args.seed)})")
        con.execute(f"""
            CREATE TABLE cells AS
            WITH pairs AS (
              SELECT u.range AS user_no,
                     'c' || CAST(floor(pow(random(), 2.5) * {args.categories}) AS BIGINT) AS category
              FROM range({args.users}) u, range({args.pairs}) p)
            SELECT user_no, 'u' || user_no AS user_id, category,
                   TIMESTAMP '{START.date()}' + INTERVAL 7 DAY * t.range AS period,
                   CAST(1 + floor(-ln(random() + 1e-12) * 2) AS DOUBLE) AS interest
            FROM pairs, range({args.periods}) t WHERE random() < 0.4""")
    return con


def next_interest_speed(args: argparse.Namespace) -> None:
    from interest_core.forecasting.forecasters.lstm import _device, _keras
    from interest_core.forecasting.next_interest import make_next_interest
    from interest_core.forecasting.next_interest.history import history_from_cells

    t0 = time.perf_counter()
    con = next_interest_panel(args)
    n_cells = con.execute("SELECT count(*) FROM cells").fetchall()[0][0]
    print(f"panel: {args.users:,} users, {n_cells:,} cells in DuckDB ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    _keras()
    print(f"TensorFlow import and device ({_device()}): {time.perf_counter() - t0:.1f} s, not timed below")
    categories = np.array([f"c{i}" for i in range(args.categories)])
    periods = pd.date_range(START, periods=args.periods, freq="W-MON")
    rng = np.random.default_rng(args.seed)
    con.register("sample_users", pd.DataFrame(
        {"user_no": np.sort(rng.choice(args.users, size=min(args.sample, args.users), replace=False))}))
    t0 = time.perf_counter()
    cells = con.execute("SELECT user_id, category, period, interest FROM cells WHERE user_no IN "
                        "(SELECT user_no FROM sample_users)").df()
    history = history_from_cells(cells, categories, periods)
    del cells
    read_s = time.perf_counter() - t0
    model = make_next_interest("lstm", epochs=args.epochs, patience=args.epochs, max_users=args.sample)
    started = time.perf_counter()
    model.fit(history, 4)
    fit_s = time.perf_counter() - started
    info = model.train_info_
    windows = info["examples_train"] * info["epochs_run"]
    print(f"training: {len(history.users):,} sampled users of {args.users:,} (read in {read_s:.1f} s), "
          f"{info['examples_train']:,} windows x {info['epochs_run']} epochs (+ {info['examples_val']:,} held out) in "
          f"{fit_s:.1f} s (blend weights included) = {windows / fit_s:,.0f} windows/s; peak RSS {peak_gb():.2f} GB",
          flush=True)
    scored, score_s, read_s = 0, 0.0, 0.0
    for start in range(0, args.users, args.batch):
        t0 = time.perf_counter()
        cells = con.execute("SELECT user_id, category, period, interest FROM cells WHERE user_no >= ? AND "
                            "user_no < ?", [start, start + args.batch]).df()
        batch = history_from_cells(cells, categories, periods)
        t1 = time.perf_counter()
        top = model.top_categories_in(batch, k=10)
        score_s += time.perf_counter() - t1
        read_s += t1 - t0
        scored += len(batch.users)
        del cells, batch, top
        print(f"  scored {scored:,} users: {scored / score_s:,.0f} windows/s so far, peak RSS {peak_gb():.2f} GB",
              flush=True)
    print(f"scoring: {scored:,} users (one window each, {args.categories:,} categories ranked) in batches of "
          f"{args.batch:,}: {score_s:.1f} s = {scored / score_s:,.0f} windows/s (+ {read_s:.1f} s reading batches "
          f"from DuckDB); peak RSS {peak_gb():.2f} GB")


def accuracy(args: argparse.Namespace) -> None:
    from interest_core.config import PanelSpec
    from interest_core.forecasting import backtest
    from interest_core.forecasting.forecasters import make_forecaster
    from interest_core.ingest import pipeline
    from interest_core.panel import build_panel, events_source
    from interest_core.store import Store

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with Store(workdir / "tmall.duckdb") as store:
        pipeline.ingest(store, TMALL, name="tmall")
        panel = build_panel(events_source(store, "tmall"), PanelSpec(freq="W"))
        end = pd.Timestamp(store.describe("tmall").end)
    models = [make_forecaster("lstm"), make_forecaster("lstm", max_users=args.accuracy_sample)]
    result = backtest.run(panel, "engagement", models, "W", horizon=4, folds=2, data_end=end)
    rows = result.fold_metrics[(result.fold_metrics["segment"] == "all")
                               & result.fold_metrics["metric"].isin(["gauc", "recall@10"])]
    table: Any = rows.pivot_table(index=["metric", "fold"], columns="model", values="value")
    print(f"accuracy on Tmall (engagement, 2 folds, lookback 4): lstm = all users, lstm#2 = "
          f"{args.accuracy_sample} sampled users\n{table.round(4)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="engagement", choices=["engagement", "next_interest"])
    parser.add_argument("--batch", type=int, default=20_000, help="next_interest: users per scoring batch")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="users trained on, and users per scoring batch")
    parser.add_argument("--categories", type=int, default=3_000)
    parser.add_argument("--pairs", type=int, default=3, help="categories per user")
    parser.add_argument("--periods", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accuracy", action="store_true", help="also measure the cost of sampling on Tmall")
    parser.add_argument("--accuracy-sample", type=int, default=300)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--workdir", default="/tmp/lstm_scale")
    args = parser.parse_args()
    if args.target == "next_interest":
        next_interest_speed(args)
        return
    if not args.skip_speed:
        speed(args)
    if args.accuracy:
        accuracy(args)


if __name__ == "__main__":
    main()
