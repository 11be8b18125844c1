"""Transforms of an interest panel: dense series, exponential decay, long- vs short-term interest.

A panel from ``panel.build_panel`` is sparse (rows only where events happened). These helpers
densify it per (user, category) over the period grid and run a recursive filter, vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interest_core.config import PanelSpec
from interest_core.periods import period_grid


def dense_matrix(panel: pd.DataFrame, freq: str, value: str = "interest",
                 index: tuple[str, ...] = ("user_id", "category"),
                 grid: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """(index...) x period matrix of ``value`` with zeros where nothing happened."""
    if grid is None:
        grid = period_grid(panel["period"].min(), panel["period"].max(), freq)
    wide = panel.pivot_table(index=list(index), columns="period", values=value, aggfunc="sum", fill_value=0.0)
    return wide.reindex(columns=grid, fill_value=0.0)


def decay_factor(half_life: float) -> float:
    return float(0.5 ** (1.0 / half_life))


def ewm_matrix(matrix: np.ndarray, half_life: float, *, normalised: bool = True) -> np.ndarray:
    """Row-wise y_t = a*x_t + lam*y_{t-1}; a = 1-lam (a weighted mean) or 1 (a decayed sum)."""
    from scipy.signal import lfilter  # about a second to import: only when a page smooths interest

    lam = decay_factor(half_life)
    gain = 1.0 - lam if normalised else 1.0
    return lfilter([gain], [1.0, -lam], matrix, axis=1)


def apply_decay(panel: pd.DataFrame, half_life: float, freq: str) -> pd.DataFrame:
    """Interest as a decayed sum of past periods (dense from each pair's first period), shares recomputed."""
    wide = dense_matrix(panel, freq)
    decayed = ewm_matrix(wide.to_numpy(), half_life, normalised=False)
    first = (wide.to_numpy() > 0).argmax(axis=1)
    mask = np.arange(decayed.shape[1])[None, :] >= first[:, None]
    decayed = np.where(mask & (decayed > 1e-3), decayed, 0.0)
    out = pd.DataFrame(decayed, index=wide.index, columns=wide.columns).stack()
    out = out[out > 0].rename("interest").reset_index().rename(columns={"level_2": "period"})
    counts = [c for c in panel.columns if c.startswith("n_")]
    out = out.merge(panel[["user_id", "category", "period", *counts]], on=["user_id", "category", "period"],
                    how="left")
    out[counts] = out[counts].fillna(0).astype("int64")
    out["share"] = out["interest"] / out.groupby(["user_id", "period"])["interest"].transform("sum")
    return out.sort_values(["user_id", "category", "period"]).reset_index(drop=True)


def interest_profile(panel: pd.DataFrame, spec: PanelSpec, users: list[str] | None = None) -> pd.DataFrame:
    """Long frame user_id, category, period, interest, share, long_term, short_term (dense per pair).

    long/short-term interest are exponentially weighted means with the spec's half-lives, and
    their shares (``long_share``, ``short_share``) are per user and period.
    """
    if users is not None:
        panel = panel[panel["user_id"].isin(users)]
    if panel.empty:
        return pd.DataFrame(columns=["user_id", "category", "period", "interest", "share", "long_term",
                                     "short_term", "long_share", "short_share"])
    wide = dense_matrix(panel, spec.freq)
    values = wide.to_numpy()
    frames = {
        "interest": values,
        "long_term": ewm_matrix(values, spec.long_half_life),
        "short_term": ewm_matrix(values, spec.short_half_life),
    }
    index = wide.index
    long = pd.DataFrame({
        "user_id": np.repeat(index.get_level_values(0).to_numpy(), len(wide.columns)),
        "category": np.repeat(index.get_level_values(1).to_numpy(), len(wide.columns)),
        "period": np.tile(wide.columns.to_numpy(), len(index)),
        **{name: arr.ravel() for name, arr in frames.items()},
    })
    by = long.groupby(["user_id", "period"])
    for col, share in (("interest", "share"), ("long_term", "long_share"), ("short_term", "short_share")):
        total = by[col].transform("sum")
        long[share] = np.where(total > 0, long[col] / total.where(total > 0, 1.0), 0.0)
    return long
