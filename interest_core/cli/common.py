"""Helpers every CLI command shares: the store named by --db, a progress bar, KEY=VALUE pairs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from interest_core.errors import InterestCoreError


def parse_pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise InterestCoreError(f"{what} {pair!r} is not KEY=VALUE", f"write it like --{what} user_id=visitor")
        out[key.strip()] = value.strip()
    return out


def open_store(args: argparse.Namespace) -> Any:
    from interest_core.store import Store

    return Store(Path(args.db) if args.db else None)


def progress_bar(args: argparse.Namespace) -> Callable[[float, str], None] | None:
    if args.json or not sys.stderr.isatty():
        return None

    def show(fraction: float, message: str) -> None:
        bar = "#" * int(fraction * 30)
        sys.stderr.write(f"\r[{bar:<30}] {fraction:4.0%} {message[:60]:<60}")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def progress_lines(args: argparse.Namespace) -> Callable[[float, str], None]:
    """Progress on stderr: the bar on a terminal, else one line per message (logs, scripts, --json)."""
    bar = progress_bar(args)
    if bar is not None:
        return bar
    last: list[str] = []

    def show(fraction: float, message: str) -> None:
        if last and last[0] == message:
            return
        last[:] = [message]
        sys.stderr.write(f"{fraction:4.0%} {message}\n")
        sys.stderr.flush()

    return show


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """--engine and --spark-master, for the commands that run on DuckDB or Spark."""
    from interest_core.engines import DEFAULT_SPARK_MASTER, ENGINES

    parser.add_argument("--engine", default="duckdb", choices=list(ENGINES),
                        help="duckdb (embedded, default) or spark (for logs past one machine)")
    parser.add_argument("--spark-master", default=DEFAULT_SPARK_MASTER,
                        help=f"spark: master URL (default {DEFAULT_SPARK_MASTER}; e.g. local[2], spark://host:7077)")
