"""CLI for the ``next_interest`` target: ``fit --target next_interest`` and ``recommend``.

- ``fit NAME --target next_interest --model lstm|item_cf|recency_decay|popularity --out DIR`` fits on every
  complete period of the dataset and saves the model with ``persist.save_model`` (no backtest here:
  ``backtest --target next_interest`` measures the models).
- ``recommend DIR NAME --out FILE`` writes each user's top-K categories from a saved model. Users are
  split into buckets by a hash of their id inside DuckDB; each bucket's panel over the model's periods is
  read on its own, scored and appended to a DuckDB table, written as CSV or Parquet at the end: memory is
  one bucket's cells and scores, never a users-sized array. Cells come from the stored panel when
  ``prepare`` built it (``derived.panel_relation``), else every bucket scans the events once.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from interest_core.cli.common import open_store, progress_bar
from interest_core.errors import ModelError
from interest_core.periods import FREQS, check_freq, future_periods

NEXT_INTEREST_MODELS = ("lstm", "item_cf", "recency_decay", "popularity")


def register(add: Any) -> None:
    p = add("recommend", cmd_recommend, "each user's top-K next categories from a saved next_interest model")
    p.add_argument("model_dir", help="folder written by fit --target next_interest")
    p.add_argument("name", help="dataset name in the store (the users to score and their history)")
    p.add_argument("--out", required=True, help="CSV or .parquet of (user_id, rank, category, score)")
    p.add_argument("--k", type=int, default=10, help="categories per user (default 10)")
    p.add_argument("--batch-size", type=int, default=20_000, help="users scored at once (default 20,000)")


def fit_next_interest(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    """``fit --target next_interest``: fit on every complete period and save (see the module docstring)."""
    from interest_core.forecasting import persist
    from interest_core.forecasting.next_interest import make_next_interest

    if args.model not in NEXT_INTEREST_MODELS:
        raise ModelError(f"{args.model!r} is not a next_interest model",
                         f"pass --model {'|'.join(NEXT_INTEREST_MODELS)}")
    model = make_next_interest(args.model, **params)
    started = time.perf_counter()
    with open_store(args) as store:
        sha = store.describe(args.name).sha256
        history, last = history_in_store(store, args.name, args.freq)
    model.fit(history, args.horizon)
    link = persist.save_model(model, args.out, dataset_sha256=sha, panel_spec={"freq": args.freq},
                              extra={"dataset": args.name, "target": "next_interest"})
    summary: dict[str, Any] = {
        "model_dir": str(link), "model": args.model, "target": "next_interest", "freq": args.freq,
        "horizon": args.horizon, "params": model.get_params(), "users": len(history.users),
        "categories": len(history.categories), "periods": [str(history.periods[0].date()), str(last.date())],
        "train_info": getattr(model, "train_info_", None), "seconds": round(time.perf_counter() - started, 1)}
    if not args.json:
        summary["message"] = (f"saved next_interest {args.model} ({args.freq}, h={args.horizon}, "
                              f"{len(history.users):,} users, {len(history.categories):,} categories, periods up to "
                              f"{last.date()}) to "
                              f"{link} in {summary['seconds']} s")
    return summary


def history_in_store(store: Any, name: str, freq: str) -> tuple[Any, Any]:
    """The InterestHistory of every complete period of a dataset, and its last period, built from the panel
    aggregated in DuckDB (the stored one when ``prepare`` built it): users and categories come as integer codes,
    so memory is the panel's non-zero cells as numbers, never a frame of text ids per cell (29.9 M cells on
    the 100 M-event log). The same history as ``history_from_panel`` of ``build_panel``'s frame."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

    from interest_core.config import PanelSpec
    from interest_core.derived import panel_relation
    from interest_core.forecasting import series
    from interest_core.forecasting.next_interest.history import InterestHistory
    from interest_core.panel import events_source, panel_sql
    from interest_core.periods import period_grid

    source = events_source(store, name)
    data_end = source.query("SELECT max(ts) AS last_ts FROM {events}")["last_ts"].iloc[0]
    stored = panel_relation(store, name, freq)
    cells = f"SELECT * FROM {stored}" if stored else panel_sql(PanelSpec(freq=check_freq(freq)), "{events}")
    bounds = source.query(f"SELECT min(period) AS lo, max(period) AS hi FROM ({cells})").iloc[0]
    if pd.isna(bounds["lo"]):
        raise ModelError(f"{name!r} has no events to learn from", "ingest a log with events")
    start = pd.Timestamp(bounds["lo"])
    last = series.last_complete_period(pd.Timestamp(bounds["hi"]), pd.Timestamp(data_end), freq)
    live = (f"(SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(category AS VARCHAR) AS category, period, interest "
            f"FROM ({cells}) WHERE period >= ? AND period <= ? AND interest > 0)")
    window = [start.to_pydatetime(), last.to_pydatetime()]
    users = source.query(f"SELECT DISTINCT user_id FROM {live} ORDER BY user_id", window)["user_id"]
    if users.empty:
        raise ModelError(f"no interest between {start.date()} and {last.date()}", "pick a later cutoff or more data")
    categories = source.query(f"SELECT DISTINCT category FROM {live} ORDER BY category", window)["category"]
    periods = period_grid(start, last, freq)
    coded = source.query(
        f"""WITH u AS (SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) - 1 AS INTEGER) AS r
                       FROM (SELECT DISTINCT user_id FROM {live})),
                 c AS (SELECT category, CAST(row_number() OVER (ORDER BY category) - 1 AS INTEGER) AS c
                       FROM (SELECT DISTINCT category FROM {live})),
            SELECT u.r, c.c, t.slot, p.interest FROM {live} p JOIN u USING (user_id) JOIN c USING (category)
            JOIN ic_periods t ON p.period = t.period""",
        [*window, *window, *window],
        frames={"ic_periods": pd.DataFrame({"period": periods.as_unit("us"), "slot": np.arange(len(periods),
                                                                                             dtype=np.int32)})})
    rows, cols, slot = (coded[k].to_numpy(dtype=np.int32) for k in ("r", "c", "slot"))
    values = coded["interest"].to_numpy(dtype=float)
    del coded
    shape = (len(users), len(categories))
    mats = tuple(sparse.csr_matrix((values[slot == t], (rows[slot == t], cols[slot == t])), shape=shape)
                 for t in range(len(periods)))
    history = InterestHistory(users=users.astype(str).to_numpy(), categories=categories.astype(str).to_numpy(),
                              periods=periods, interest=mats)
    return history, last


def cmd_recommend(args: argparse.Namespace) -> dict[str, Any]:
    import duckdb

    from interest_core.config import PanelSpec
    from interest_core.derived import panel_relation
    from interest_core.export import safe_frame
    from interest_core.forecasting import persist
    from interest_core.forecasting.next_interest.history import history_from_cells
    from interest_core.panel import events_source, panel_sql

    if args.k < 1 or args.batch_size < 1:
        raise ModelError(f"--k {args.k} --batch-size {args.batch_size}", "pass --k and --batch-size of 1 or more")
    out = Path(args.out)
    fmt = "parquet" if out.suffix == ".parquet" else "csv"
    started = time.perf_counter()
    saved = persist.load_next_interest(args.model_dir)
    model, periods = saved.model, saved.model.history_.periods
    freq = str(saved.manifest.panel_spec.get("freq", "W"))
    if freq not in FREQS:
        raise ModelError(f"the saved model's frequency {freq!r} is unknown", "fit the model again")
    window = [periods[0].to_pydatetime(), future_periods(periods[-1], freq, 1)[0].to_pydatetime()]
    where = "ts >= ? AND ts < ?"
    sink = duckdb.connect()
    sink.execute("CREATE TABLE recs (user_id VARCHAR, rank INTEGER, category VARCHAR, score DOUBLE)")
    progress = progress_bar(args)
    with open_store(args) as store:
        source = events_source(store, args.name)
        stored = panel_relation(store, args.name, freq)
        n_users = int(source.query(f"SELECT count(DISTINCT user_id) AS n FROM {{events}} WHERE {where}",
                                   window)["n"].iloc[0])
        buckets = max(1, math.ceil(n_users / args.batch_size))
        for bucket in range(buckets):
            part = f"hash(CAST(user_id AS VARCHAR)) % {buckets} = {bucket}"
            cells_sql = (f"SELECT * FROM {stored} WHERE period >= ? AND period < ? AND {part}" if stored else
                         panel_sql(PanelSpec(freq=check_freq(freq)), "{events}", where=f"{where} AND {part}"))
            cells = source.query_arrow(f"SELECT user_id, category, period, interest FROM ({cells_sql})", window)
            if cells.empty:
                continue
            top = model.top_categories_in(history_from_cells(cells, model.history_.categories, periods), args.k)
            sink.register("batch", safe_frame(top) if fmt == "csv" else top)
            sink.execute("INSERT INTO recs SELECT CAST(user_id AS VARCHAR), rank, CAST(category AS VARCHAR), score "
                         "FROM batch")
            sink.unregister("batch")
            if progress:
                progress((bucket + 1) / buckets, f"bucket {bucket + 1} of {buckets}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = int(sink.execute("SELECT count(*) FROM recs").fetchall()[0][0])
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    sink.execute(f"COPY (SELECT * FROM recs ORDER BY user_id, rank) TO '{_sql_path(out)}' ({options})")
    sink.close()
    summary: dict[str, Any] = {"out": str(out), "model": saved.manifest.model.name, "users": n_users, "k": args.k,
                               "rows": rows, "batches": buckets, "read_from": "stored panel" if stored else "events",
                               "seconds": round(time.perf_counter() - started, 1)}
    if not args.json:
        summary["message"] = (f"top {args.k} categories of {n_users:,} users ({buckets} batches) from "
                              f"{saved.manifest.model.name} -> {out} in {summary['seconds']} s")
    return summary


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
