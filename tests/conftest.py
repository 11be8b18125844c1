"""Shared fixtures. ``accuracy``: every accuracy figure a test measures goes to test-artifacts/accuracy.json.

A test that asserts accuracy on real or ground-truth data records the values its assertions compare,
before asserting (a failing run still shows what it measured)::

    accuracy.record("churn.tmall.model_vs_recency", roc_auc=ev.roc_auc, recency_roc_auc=ev.recency_roc_auc)

Figures may be numbers, Series (index -> value) or DataFrames (row, then column) and nest in dicts;
they are flattened to dotted keys and floats rounded to 4 places. At the end of the session the
entries are merged into the JSON file: an entry this run recorded replaces the stored one, the
others are kept, so running one test file updates only its own entries. Each entry holds the test's
node id, its outcome and the UTC time it was recorded.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Generator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
ACCURACY_JSON = ROOT / "test-artifacts" / "accuracy.json"

_outcomes: dict[str, str] = {}  # node id -> passed / failed / skipped / xfailed / error, for the entries it recorded


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                               call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        # An expected failure is reported as skipped, with the reason in ``wasxfail``.
        _outcomes[item.nodeid] = "xfailed" if report.skipped and hasattr(report, "wasxfail") else report.outcome
    elif report.failed:
        _outcomes[item.nodeid] = "error"
    return report


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
        if not self.entries:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            stored = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            stored = {}
        for name, entry in self.entries.items():
            stored[name] = {**entry, "outcome": outcomes.get(entry["test"], "unknown")}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)


@pytest.fixture(scope="session")
def accuracy() -> Iterator[AccuracyRecorder]:
    """The session's recorder; written to test-artifacts/accuracy.json when the session ends."""
    recorder = AccuracyRecorder()
    yield recorder
    recorder.write(ACCURACY_JSON, _outcomes)
