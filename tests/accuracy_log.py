"""test-artifacts/accuracy.json: every accuracy figure a test measures, and whether this run measured it.

A test that asserts accuracy on real or ground-truth data records the values its assertions compare,
before asserting (a failing run still shows what it measured), through the ``accuracy`` fixture::

    accuracy.record("churn.tmall.model_vs_recency", roc_auc=ev.roc_auc, recency_roc_auc=ev.recency_roc_auc)

Figures may be numbers, Series (index -> value) or DataFrames (row, then column) and nest in dicts;
they are flattened to dotted keys and floats rounded to 4 places. Each entry holds the test's node id,
its outcome, the UTC time it was recorded and ``stale``.

Fresh or stale: at the end of every session that ran a test, the entries this session recorded
replace the stored ones with ``"stale": false``; every other stored entry is kept, with its own
``recorded_at`` (when it was last measured) and ``"stale": true``. So a machine that skipped a test
(no real data, a deselected slow test) cannot leave an old "passed" figure looking current. Quote only
fresh entries; print them with::

    .venv/bin/python -m tests.accuracy_log            # fresh entries as JSON; a count of stale ones on stderr
    .venv/bin/python -m tests.accuracy_log --passed   # fresh entries whose test passed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ACCURACY_JSON = ROOT / "test-artifacts" / "accuracy.json"


def _figure(value: Any) -> float | int | bool | str | None:
    if value is None or value is pd.NA or value is pd.NaT:  # a missing figure is null, so its assertion still runs
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return round(float(value), 4) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    raise TypeError(f"not a figure: {value!r}")


def _as_mapping(value: Any) -> Any:
    if hasattr(value, "iterrows"):  # DataFrame: row, then column (each column keeps its dtype)
        return {str(i): {c: value.at[i, c] for c in value.columns} for i in value.index}
    if hasattr(value, "to_dict"):  # Series
        return {str(i): v for i, v in value.to_dict().items()}
    return value


def _flatten(figures: Any, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in _as_mapping(figures).items():
        name = f"{prefix}{key}"
        value = _as_mapping(value)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = _figure(value)
    return flat


class AccuracyRecorder:
    """Named entries of measured figures; ``write`` merges them into a JSON file."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def record(self, name: str, figures: Any = None, /, **more: Any) -> None:
        """Add figures (a dict, Series or DataFrame, and keywords) to entry ``name``; one test may call it again."""
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        entry = self.entries.setdefault(name, {"test": test, "figures": {}})
        if entry["test"] != test:
            raise ValueError(f"accuracy entry {name!r} already recorded by {entry['test']}")
        entry["figures"].update(_flatten(figures if figures is not None else {}) | _flatten(more))
        entry["recorded_at"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def write(self, path: Path, outcomes: Mapping[str, str]) -> None:
        """This run's entries, fresh; every stored entry this run did not record, marked stale."""
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = read(path)
        for name, entry in stored.items():
            if name not in self.entries:
                stored[name] = {**entry, "stale": True}
        for name, entry in self.entries.items():
            stored[name] = {**entry, "outcome": outcomes.get(entry["test"], "unknown"), "stale": False}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The stored entries; none when the file is missing or unreadable (it is rewritten whole)."""
    try:
        stored = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return stored if isinstance(stored, dict) else {}


def fresh(entries: Mapping[str, dict[str, Any]], *, passed_only: bool = False) -> dict[str, dict[str, Any]]:
    """Entries the latest run recorded (an entry from before the stale rule counts as stale)."""
    return {name: entry for name, entry in entries.items()
            if entry.get("stale") is False and (not passed_only or entry.get("outcome") == "passed")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.accuracy_log",
                                     description="Print the fresh entries of the accuracy record as JSON.")
    parser.add_argument("path", nargs="?", type=Path, default=ACCURACY_JSON)
    parser.add_argument("--passed", action="store_true", help="only entries whose test passed")
    args = parser.parse_args(argv)
    entries = read(args.path)
    shown = fresh(entries, passed_only=args.passed)
    print(json.dumps(shown, indent=1, sort_keys=True))
    print(f"{len(shown)} fresh entries shown, {len(entries) - len(shown)} left out (stale or not passed) "
          f"from {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
