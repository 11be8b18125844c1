"""The saved backtest ("the latest backtest" a page shows) as a typed object, validated when read.

``backtest.write_json`` writes it; ``read_saved_backtest`` reads it back and refuses a file that
lacks what the pages use (a named MalformedFileError, never a KeyError in the browser).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.errors import MalformedFileError, ModelError

LEADERBOARD_COLUMNS: tuple[str, ...] = ("model", "metric", "segment", "value")
FIX = "run the backtest again (python -m interest_core backtest NAME, or train a model on the Forecasts page)"


@dataclass(frozen=True)
class BacktestMeta:
    target: str
    freq: str = ""
    horizon: int = 0
    cutoffs: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    created_at: str = ""
    dataset: str = ""
    models: tuple[str, ...] = ()
    top_k: int | None = None
    other: dict[str, Any] = field(default_factory=dict)  # anything else the writer recorded (folds, step, ...)


@dataclass(frozen=True)
class SavedBacktest:
    meta: BacktestMeta
    leaderboard: pd.DataFrame  # LEADERBOARD_COLUMNS
    fold_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)
    forecasts: pd.DataFrame | None = None  # saved only when small (aggregates)

    @classmethod
    def from_payload(cls, payload: Any, where: str) -> SavedBacktest:
        """Validate a parsed backtest JSON (``backtest.result_to_json``'s shape)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
            raise MalformedFileError(f"{where} is not a saved backtest (no 'meta' object)", FIX)
        meta = dict(payload["meta"])
        kinds: dict[str, type | tuple[type, ...]] = {"target": str, "freq": str, "horizon": int, "cutoffs": list,
                                                     "levels": list, "created_at": str}
        bad = [k for k, kind in kinds.items() if not isinstance(meta.get(k), kind)]
        if bad:
            raise MalformedFileError(f"{where}: meta field(s) {', '.join(bad)} missing or of the wrong type", FIX)
        frames = {}
        for key in ("leaderboard", "fold_metrics", "timings", "forecasts"):
            rows = payload.get(key)
            if rows is not None and not isinstance(rows, list):
                raise MalformedFileError(f"{where}: {key!r} is not a list of rows", FIX)
            frames[key] = None if rows is None else pd.DataFrame(rows)
        board = frames["leaderboard"]
        if board is None or (len(board) and not set(LEADERBOARD_COLUMNS) <= set(board.columns)):
            raise MalformedFileError(f"{where}: the leaderboard lacks {', '.join(LEADERBOARD_COLUMNS)}", FIX)
        if board.empty:
            board = pd.DataFrame(columns=list(LEADERBOARD_COLUMNS))
        top_k = meta.pop("top_k", None)
        known = {"target", "freq", "horizon", "cutoffs", "levels", "created_at", "dataset", "models"}
        return cls(
            BacktestMeta(str(meta["target"]), str(meta["freq"]), int(meta["horizon"]),
                         tuple(str(c) for c in meta["cutoffs"]), tuple(int(v) for v in meta["levels"]),
                         str(meta["created_at"]), str(meta.get("dataset", "")),
                         tuple(str(m) for m in meta.get("models") or ()),
                         int(top_k) if isinstance(top_k, int | float) else None,
                         {k: v for k, v in meta.items() if k not in known}),
            board, frames["fold_metrics"] if frames["fold_metrics"] is not None else pd.DataFrame(),
            frames["timings"] if frames["timings"] is not None else pd.DataFrame(), frames["forecasts"])


def read_saved_backtest(path: str | Path) -> SavedBacktest:
    """The saved backtest at ``path``, validated; ModelError when there is none, MalformedFileError when broken."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"no backtest saved at {str(path)!r}", "run: python -m interest_core backtest NAME") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedFileError(f"{path} is not valid JSON ({exc})", FIX) from None
    return SavedBacktest.from_payload(payload, str(path))
