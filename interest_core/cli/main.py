"""Command line: python -m interest_core COMMAND ... (ingest, demo, datasets, describe, delete, panel, prepare, synth).

Every command that touches the store takes --db. With --json each prints one JSON object.
Bad input exits non-zero with one line naming the problem and the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from interest_core.cli.common import add_engine_options, open_store, parse_pairs, progress_bar, progress_lines
from interest_core.errors import InterestCoreError
from interest_core.ingest import pipeline
from interest_core.periods import FREQS

Handler = Callable[[argparse.Namespace], dict[str, Any]]


def _mapping(args: argparse.Namespace) -> Any:
    from interest_core.ingest.formats import ColumnMapping

    if not args.map and not args.behavior_map and not args.behavior_all:
        return None
    cols = parse_pairs(args.map, "map")
    unknown = set(cols) - {"user_id", "item_id", "category", "behavior", "ts", "value", "category_fallback"}
    if unknown:
        raise InterestCoreError(f"--map names unknown canonical column(s) {sorted(unknown)}",
                                "map user_id, item_id, category, behavior, ts or value")
    missing = [c for c in ("user_id", "category", "ts") if c not in cols]
    if missing:
        raise InterestCoreError(f"--map lacks {missing}", "map at least user_id, category and ts: --map ts=COL")
    codes = tuple(parse_pairs(args.behavior_map, "behavior-map").items())
    return ColumnMapping(
        user_id=cols["user_id"], category=cols["category"], ts=cols["ts"], behavior=cols.get("behavior"),
        item_id=cols.get("item_id"), value=cols.get("value"), category_fallback=cols.get("category_fallback"),
        behavior_codes=codes, constant_behavior=args.behavior_all, ts_unit=args.ts_unit, ts_format=args.ts_format,
        timezone=args.timezone,
    )


def cmd_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from interest_core.config import IngestOptions
    from interest_core.ingest.privacy import DEFAULT_KEY_ENV

    options = IngestOptions(
        duplicates=args.duplicates, encoding=args.encoding,
        pseudonymize_key_env=(args.key_env or DEFAULT_KEY_ENV) if args.pseudonymize else None,
    )
    with open_store(args) as store:
        if args.engine == "spark":
            from interest_core.engines import spark_ingest

            result = spark_ingest.ingest(store, args.path, name=args.name, fmt=args.format, mapping=_mapping(args),
                                         options=options, year=args.year, item_properties=args.item_properties,
                                         master=args.spark_master, warehouse=args.warehouse)
        else:
            result = pipeline.ingest(store, args.path, name=args.name, fmt=args.format, mapping=_mapping(args),
                                  options=options, year=args.year, item_properties=args.item_properties,
                                  progress=progress_bar(args))
    out = {"created": result.created, "message": result.message, "format": result.report.format,
           **{k: v for k, v in result.summary.items()}}
    out["rows_read"] = result.report.rows_read
    out["rejected"] = result.report.rejected
    out["repaired"] = result.report.repaired
    return out


def cmd_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Store the demo unless the store has it: scripts/run.sh runs this before the server starts, so the app's
    first page draws the demo at once instead of ingesting it while the browser waits."""
    from interest_core.ingest.uploads import DEMO_NAME, demo_path, ensure_demo

    if not demo_path().exists():
        raise InterestCoreError(f"the demo file {demo_path()} is missing", "restore data/demo/ from the repository")
    with open_store(args) as store:
        result = ensure_demo(store)
    if result is None:
        return {"name": DEMO_NAME, "stored": False, "message": f"{DEMO_NAME!r} is already stored"}
    return {"name": DEMO_NAME, "stored": True, "message": result.message}


def cmd_datasets(args: argparse.Namespace) -> dict[str, Any]:
    with open_store(args) as store:
        frame = store.list()
    return {"datasets": json.loads(frame.to_json(orient="records", date_format="iso"))}


def cmd_describe(args: argparse.Namespace) -> dict[str, Any]:
    from interest_core import derived

    with open_store(args) as store:
        out = store.describe(args.name).to_dict()
        out["derived"] = [f"{t.kind} {t.freq}: {t.rows:,} rows" for t in derived.tables(store, args.name)]
    return out


def cmd_delete(args: argparse.Namespace) -> dict[str, Any]:
    with open_store(args) as store:
        store.delete(args.name)
    return {"deleted": args.name}


def cmd_panel(args: argparse.Namespace) -> dict[str, Any]:
    from interest_core import derived
    from interest_core.config import GroupingSpec, PanelSpec
    from interest_core.grouping import category_map
    from interest_core.panel import events_source, write_panel

    grouping = GroupingSpec(method="topk", k=args.top_k) if args.top_k else GroupingSpec()
    spec = PanelSpec(freq=args.freq, grouping=grouping)
    if args.engine == "spark":
        from interest_core.engines import spark_panel

        with open_store(args) as store:
            return spark_panel.write_panel(store, args.name, spec, args.out, top_k=args.top_k, master=args.spark_master)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_store(args) as store:
        source = events_source(store, args.name)
        # Without grouping, a panel that `prepare` built is copied as it is.
        stored = None if args.top_k else derived.panel_relation(store, args.name, args.freq)
        cmap = None if stored else category_map(source, spec)
        written = write_panel(source, spec, out, category_map=cmap, stored=stored)
    return {"out": str(out), **written, "freq": args.freq}


# Modules imported before `prepare` runs, so that the steps they register (derived.register_step,
# e.g. fitting the models behind pages) run with it: add a module here to join the command.
PREPARE_STEP_MODULES: tuple[str, ...] = ("interest_core.forecasting.page_defaults",)


def cmd_prepare(args: argparse.Namespace) -> dict[str, Any]:
    import importlib
    import time

    from interest_core import derived

    for module in PREPARE_STEP_MODULES:
        importlib.import_module(module)
    started = time.perf_counter()
    with open_store(args) as store:
        derived.prepare(store, args.name, freqs=args.freq or None, progress=progress_lines(args), force=args.force)
        built = derived.tables(store, args.name)
    return {"name": args.name, "seconds": round(time.perf_counter() - started, 2),
            "tables": [{"freq": t.freq, "kind": t.kind, "table": t.table, "rows": t.rows} for t in built],
            "message": f"{args.name}: derived data ready ({len(built)} tables) in "
                       f"{time.perf_counter() - started:.1f}s"}


def cmd_synth(args: argparse.Namespace) -> dict[str, Any]:
    from interest_core import synth, synth_files

    result = synth.generate(synth.SynthSpec(n_users=args.users, seed=args.seed, days=args.days))
    paths = synth_files.write(result, args.out)
    return {"out": str(args.out), "events": len(result.events), "users": int(result.events["user_id"].nunique()),
            "files": {k: str(v) for k, v in paths.items()}}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interest_core", description="Interest-over-time analytics")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help_text: str, db: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        if db:
            p.add_argument("--db", help="DuckDB store file (default $INTEREST_DB or data/interest.duckdb)")
        return p

    p = add("ingest", cmd_ingest, "read, validate and store an events file")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--format", default="auto", help="auto, taobao, tmall2014, retailrocket, rees46 or generic")
    p.add_argument("--map", action="append", default=[], metavar="CANON=COL", help="generic: user_id=COL ...")
    p.add_argument("--behavior-map", action="append", default=[], metavar="CODE=BEHAVIOR",
                   help="generic: source code -> view/fav/cart/buy/rate/ignore")
    p.add_argument("--behavior-all", choices=["view", "fav", "cart", "buy", "rate"], help="one behaviour for all rows")
    p.add_argument("--ts-unit", default="auto", choices=["auto", "s", "ms", "text"])
    p.add_argument("--ts-format", help="strptime format of text times, e.g. %%Y-%%m-%%d %%H:%%M")
    p.add_argument("--timezone", default="UTC", help="zone of text times without one (e.g. Asia/Shanghai)")
    p.add_argument("--year", type=int, default=2013, help="tmall2014: year of the M-D dates")
    p.add_argument("--item-properties", nargs="*", default=[], help="retailrocket: item_properties file(s)")
    p.add_argument("--duplicates", default="auto", choices=["auto", "keep", "drop"])
    p.add_argument("--encoding", help="file encoding if not UTF-8 (e.g. gbk, latin-1)")
    p.add_argument("--pseudonymize", action="store_true", help="store HMAC pseudonyms instead of user ids")
    p.add_argument("--key-env", help="environment variable with the HMAC key (default INTEREST_PSEUDONYM_KEY)")
    add_engine_options(p)
    p.add_argument("--warehouse", help="spark: folder (or URL) for the events' Parquet (default: beside the store)")

    add("demo", cmd_demo, "store the demo dataset unless the store has it (scripts/run.sh runs it first)")
    add("datasets", cmd_datasets, "list stored datasets")
    p = add("describe", cmd_describe, "rows, users, span, behaviour mix and rejects of a dataset")
    p.add_argument("name")
    p = add("delete", cmd_delete, "delete a dataset")
    p.add_argument("name")
    p = add("panel", cmd_panel, "write the interest panel of a dataset")
    p.add_argument("name")
    p.add_argument("--freq", default="W", choices=list(FREQS))
    p.add_argument("--top-k", type=int, default=0, help="group categories into the top K plus other")
    p.add_argument("--out", required=True, help=".csv or .parquet (spark: any other name is a Parquet folder)")
    add_engine_options(p)
    p = add("prepare", cmd_prepare, "build a dataset's derived data (panels, per-user features) and wait for it")
    p.add_argument("name")
    p.add_argument("--freq", action="append", choices=list(FREQS),
                   help="a frequency to build (repeatable; default D, W and M)")
    p.add_argument("--force", action="store_true", help="rebuild tables that are already built")
    p = add("synth", cmd_synth, "generate the synthetic demo dataset with ground truth", db=False)
    p.add_argument("--users", type=int, default=1500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--days", type=int, default=420)
    p.add_argument("--out", required=True)
    # Forecasting commands (backtest, fit, score) register themselves here.
    _register_extra(sub, add)
    return parser


def _register_extra(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    from interest_core.cli import forecast as cli_forecast

    cli_forecast.register(add)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except InterestCoreError as exc:
        print(f"error: {exc.kind}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(result.get("message") or _human(result))
    return 0


def _human(result: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in result.items())
