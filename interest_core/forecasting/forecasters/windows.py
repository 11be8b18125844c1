"""Feature windows for the global LSTM, in numpy only (TensorFlow never imported here).

A long training frame becomes a (series x period) matrix, then a (series x period x channel)
feature tensor: the series' own interest, whether it was engaged, and, for engagement pairs,
the user's total activity, the category's popularity and the user's share in the category,
plus calendar phase. Windows ending at every period come from one stride view over the
left-padded tensor, so a series with a short history still gives (padded) windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from interest_core.errors import ModelError
from interest_core.periods import SEASON_LENGTH

# Channels of every window step, in order. Pair-only channels are left out for frames that
# lack user_id/category (user totals, category demand): there the series is its own context.
OWN_CHANNELS = ("own", "engaged", "cum_own", "observed")
PAIR_CHANNELS = ("user_total", "user_breadth", "cat_users", "cat_total", "share")
# Calendar phase only when training covers a whole season: with 13 weeks of a 52-week year the
# model would meet phases at prediction time it never trained on (measured: AUC fell to 0.57).
CALENDAR_CHANNELS = ("cal_sin", "cal_cos")
# Channels left unnormalised: the padding indicator must stay exactly 0 (pad) / 1 (data), and
# the calendar is already in [-1, 1] (training-range statistics of a phase would blow it up).
RAW_CHANNELS = ("observed", *CALENDAR_CHANNELS)
# Optional frame columns: the category's engaged series and total at each period over a whole
# file, when the frame holds only some of its users (scoring split over Spark executors). Without
# them the frame's own series are the file.
CONTEXT_COLUMNS = ("cat_users", "cat_total")


@dataclass(frozen=True)
class SeriesMatrix:
    """Dense view of a training frame: y per series and period, and each series' user/category."""

    ids: np.ndarray  # (n,) object
    periods: pd.DatetimeIndex  # (T,)
    y: np.ndarray  # (n, T) float64
    user_codes: np.ndarray | None  # (n,) int: index of the series' user, None without user_id
    cat_codes: np.ndarray | None  # (n,) int: index of the series' category
    category_context: tuple[np.ndarray, np.ndarray] | None = None  # (n, T) cat_users, cat_total from CONTEXT_COLUMNS


def series_matrix(frame: pd.DataFrame) -> SeriesMatrix:
    """(series x period) matrix from a long frame sorted by unique_id, period (validate_training_frame)."""
    ids, id_codes = np.unique(frame["unique_id"].astype(str).to_numpy(), return_inverse=True)
    periods = pd.DatetimeIndex(np.sort(frame["period"].unique()))
    t_codes = periods.get_indexer(pd.DatetimeIndex(frame["period"]))
    y = np.zeros((len(ids), len(periods)), dtype=float)
    np.add.at(y, (id_codes, t_codes), frame["y"].to_numpy(dtype=float))
    user_codes = cat_codes = None
    if "user_id" in frame.columns and "category" in frame.columns:
        _, first = np.unique(id_codes, return_index=True)  # first row of each series
        _, user_codes = np.unique(frame["user_id"].astype(str).to_numpy()[first], return_inverse=True)
        _, cat_codes = np.unique(frame["category"].astype(str).to_numpy()[first], return_inverse=True)
    context = None
    if all(c in frame.columns for c in CONTEXT_COLUMNS):
        users, total = np.zeros_like(y), np.zeros_like(y)
        users[id_codes, t_codes] = frame["cat_users"].to_numpy(dtype=float)
        total[id_codes, t_codes] = frame["cat_total"].to_numpy(dtype=float)
        context = (users, total)
    return SeriesMatrix(ids.astype(object), periods, y, user_codes, cat_codes, context)


def channel_names(has_pairs: bool, calendar: bool) -> tuple[str, ...]:
    return OWN_CHANNELS + (CALENDAR_CHANNELS if calendar else ()) + (PAIR_CHANNELS if has_pairs else ())


def covers_season(n_periods: int, freq: str) -> bool:
    return n_periods >= SEASON_LENGTH[freq]


def calendar_phase(periods: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Position of each period within its season (week of year, day of week, ...) in radians."""
    season = SEASON_LENGTH[freq]
    if freq == "W":
        pos = periods.isocalendar().week.to_numpy(dtype=float) - 1
    elif freq == "D":
        pos = periods.day_of_week.to_numpy(dtype=float)
    elif freq == "h":
        pos = periods.hour.to_numpy(dtype=float)
    else:
        pos = periods.month.to_numpy(dtype=float) - 1
    return 2 * np.pi * pos / season


def _group_sum(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sum rows of values (n, T) by group code -> (n_groups, T)."""
    out = np.zeros((int(codes.max()) + 1, values.shape[1]), dtype=float)
    np.add.at(out, codes, values)
    return out


def feature_tensor(mat: SeriesMatrix, freq: str, calendar: bool) -> np.ndarray:
    """(n, T, channels) raw (unnormalised) features in ``channel_names`` order."""
    y = np.clip(mat.y, 0.0, None)
    engaged = (y > 0).astype(float)
    chans = [np.log1p(y), engaged, np.log1p(np.cumsum(y, axis=1)), np.ones_like(y)]
    if calendar:
        phase = np.broadcast_to(calendar_phase(mat.periods, freq), y.shape)
        chans += [np.sin(phase), np.cos(phase)]
    if mat.user_codes is not None and mat.cat_codes is not None:
        user_total = _group_sum(y, mat.user_codes)[mat.user_codes]
        user_breadth = _group_sum(engaged, mat.user_codes)[mat.user_codes]
        if mat.category_context is not None:
            cat_users, cat_total = mat.category_context
        else:
            cat_users = _group_sum(engaged, mat.cat_codes)[mat.cat_codes]
            cat_total = _group_sum(y, mat.cat_codes)[mat.cat_codes]
        share = np.divide(y, user_total, out=np.zeros_like(y), where=user_total > 0)
        chans += [np.log1p(user_total), np.log1p(user_breadth), np.log1p(cat_users), np.log1p(cat_total), share]
    return np.stack(chans, axis=-1)


def fit_normaliser(features: np.ndarray, channels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over the given (training) features; raw channels keep 0/1."""
    flat = features.reshape(-1, features.shape[-1])
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    for i, name in enumerate(channels):
        if name in RAW_CHANNELS:
            mean[i], std[i] = 0.0, 1.0
    return mean, std


def windows_view(features: np.ndarray, mean: np.ndarray, std: np.ndarray, window: int) -> np.ndarray:
    """Normalise, left-pad with zeros (observed=0 marks padding) and view as (n, T, window, channels).

    Entry [i, t] is the window of series i ending at period t. A view, not a copy: index it.
    """
    normed = ((features - mean) / std).astype(np.float32)
    padded = np.concatenate([np.zeros((normed.shape[0], window - 1, normed.shape[2]), np.float32), normed], axis=1)
    return np.moveaxis(sliding_window_view(padded, window, axis=1), -1, 2)


def raw_windows(y: np.ndarray, window: int) -> np.ndarray:
    """(n, T, window) view of raw y per window end, left-padded with zeros like ``windows_view``."""
    padded = np.concatenate([np.zeros((y.shape[0], window - 1)), y], axis=1)
    return sliding_window_view(padded, window, axis=1)


def future_steps(y: np.ndarray, horizon: int) -> np.ndarray:
    """(n, T-horizon, horizon) view: entry [i, t, j] is y of series i at period t+1+j (clipped at 0)."""
    return sliding_window_view(np.clip(y[:, 1:], 0.0, None), horizon, axis=1)


def future_targets(y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """For window ends t = 0 .. T-1-horizon: "engaged within j steps" labels and log1p(y_{t+1} + .. + y_{t+j}).

    Both (n, T-horizon, horizon) and cumulative over j, so column h-1 answers "engaged at least
    once in the next h periods" (the contract's p_engage) and "how much over the next h periods".
    """
    if y.shape[1] <= horizon:
        raise ModelError(f"{y.shape[1]} periods leave no window with {horizon} future periods",
                         "use a longer training range or a smaller horizon_train")
    future = future_steps(y, horizon)
    engaged_any = np.maximum.accumulate(future > 0, axis=-1).astype(np.float32)
    return engaged_any, np.log1p(np.cumsum(future, axis=-1)).astype(np.float32)


def active_mask(y: np.ndarray) -> np.ndarray:
    """(n, T) True where the series had activity at or before period t."""
    return np.cumsum(y > 0, axis=1) > 0


def validation_positions(windows_per_position: np.ndarray, share: float) -> int:
    """How many of the latest window-end positions hold ``share`` of all windows (>= 1, < all).

    Counted in windows, not positions: a log whose first periods hold a few stray events (the
    Taobao sample starts 2.5 months before its 9 real days) must not leave training empty.
    """
    from_end = np.cumsum(windows_per_position[::-1])
    n_val = int(np.searchsorted(from_end, share * from_end[-1])) + 1
    return min(max(n_val, 1), len(windows_per_position) - 1)
