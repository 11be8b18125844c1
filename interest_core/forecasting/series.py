"""Turn an interest panel into the long training frames forecasters take (see forecasters.base).

Three targets, all dense over a period grid:
- engagement: one series per (user, category) pair seen before the cutoff; y = interest;
- user totals: one series per user; y = the user's interest over all categories;
- category demand: one series per category (or group); y = total interest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from interest_core.periods import period_grid

PAIR_SEP = "\x1f"  # joins user_id and category into unique_id; never appears in ids we read
Target = Literal["engagement", "user_total", "category_demand"]


def pair_id(user_id: pd.Series, category: pd.Series) -> pd.Series:
    return user_id.astype(str) + PAIR_SEP + category.astype(str)


def split_pair_id(unique_id: pd.Series) -> pd.DataFrame:
    parts = unique_id.astype(str).str.split(PAIR_SEP, n=1, expand=True, regex=False)
    return pd.DataFrame({"user_id": parts[0], "category": parts[1]}, index=unique_id.index)


def last_complete_period(panel_last_period: pd.Timestamp, data_end: pd.Timestamp, freq: str) -> pd.Timestamp:
    """The last period whose whole span is covered by the data (a partial trailing period is dropped)."""
    from interest_core.periods import PERIOD_OFFSETS

    step = PERIOD_OFFSETS[freq]
    period_end = pd.Timestamp(panel_last_period) + step
    # Data ending in the last day (or hour) of the period counts as complete.
    tolerance = pd.Timedelta(hours=1) if freq == "h" else pd.Timedelta(days=1)
    if pd.Timestamp(data_end) + tolerance >= period_end:
        return pd.Timestamp(panel_last_period)
    return pd.Timestamp(panel_last_period) - step


def _dense(frame: pd.DataFrame, keys: list[str], grid: pd.DatetimeIndex) -> pd.DataFrame:
    wide = frame.pivot_table(index=keys, columns="period", values="interest", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=grid, fill_value=0.0)
    n_periods = len(grid)
    out = pd.DataFrame({
        **{k: np.repeat(wide.index.get_level_values(k).to_numpy(), n_periods) for k in keys},
        "period": np.tile(grid.to_numpy(), len(wide)),
        "y": wide.to_numpy(dtype=float).ravel(),
    })
    for k in keys:
        out[k] = out[k].astype("string")
    return out


def training_frame(
    panel: pd.DataFrame,
    target: Target,
    freq: str,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Dense long frame (unique_id, period, y [, user_id, category]) over periods in [start, end].

    ``end`` is the last period included (inclusive). Series are those with any activity in range.
    """
    frame = panel
    if start is not None:
        frame = frame[frame["period"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["period"] <= pd.Timestamp(end)]
    if frame.empty:
        return pd.DataFrame(columns=["unique_id", "period", "y"])
    grid = period_grid(pd.Timestamp(start) if start is not None else frame["period"].min(),
                       pd.Timestamp(end) if end is not None else frame["period"].max(), freq)
    if target == "engagement":
        out = _dense(frame, ["user_id", "category"], grid)
        out.insert(0, "unique_id", pair_id(out["user_id"], out["category"]))
    elif target == "user_total":
        out = _dense(frame, ["user_id"], grid)
        out.insert(0, "unique_id", out["user_id"])
    elif target == "category_demand":
        out = _dense(frame, ["category"], grid)
        out.insert(0, "unique_id", out["category"])
    else:
        raise ValueError(f"unknown target {target!r}; use engagement, user_total or category_demand")
    return out.reset_index(drop=True)


def actuals(panel: pd.DataFrame, target: Target, periods: pd.DatetimeIndex) -> pd.DataFrame:
    """Observed y per unique_id and period for the given periods (sparse: only non-zero rows)."""
    frame = panel[panel["period"].isin(periods)]
    if target == "engagement":
        keys = ["user_id", "category"]
    elif target == "user_total":
        keys = ["user_id"]
    else:
        keys = ["category"]
    out = frame.groupby([*keys, "period"], as_index=False)["interest"].sum().rename(columns={"interest": "y"})
    if target == "engagement":
        out.insert(0, "unique_id", pair_id(out["user_id"], out["category"]))
    else:
        out.insert(0, "unique_id", out[keys[0]].astype("string"))
    return out
