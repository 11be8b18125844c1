"""Per-user activity features at every cutoff, and their reasons in words (used by analytics.churn).

All features are (users x periods) matrices computed at once with cumulative sums, so a snapshot
at cutoff t is column t and uses periods <= t only (nothing from the future leaks in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interest_core.errors import ModelError
from interest_core.periods import PERIOD_LABEL, period_grid
from interest_core.text import counted, percent

NEVER = 1e9  # recency of a user not seen yet at a cutoff

# Order is the model's column order. Counts are log1p'd so a few heavy users do not dominate.
FEATURES: tuple[str, ...] = (
    "recency",          # periods since the last active period (0 = active at the cutoff)
    "silence",          # -log P(this many idle periods in a row | the user's usual share of active periods)
    "active_short",     # active periods among the last `short`
    "active_long",      # share of the last `long` periods (or of those observed) that were active
    "events_last",      # log1p events in the cutoff period
    "events_short",     # log1p mean events a period over the last `short`
    "trend",            # log1p(events last `short`) - log1p(events in the `short` before): < 0 = slowing down
    "drop",             # log1p(mean events a period, last `short`) - log1p(same over the last `long`): own-rate change
    "tenure",           # periods since first seen
    "buys_long",        # log1p purchases over the last `long`
    "buy_share",        # purchases / events over the last `long`
    "intent_share",     # (favourites + carts) / events over the last `long`
    "categories_long",  # log1p distinct categories over the last `long`
    "intensity",        # log1p events per active period over the last `long`
)


@dataclass(frozen=True)
class Activity:
    """Dense (users x periods) activity of a panel, plus its sparse (user, category) rows."""

    users: np.ndarray  # user ids (object), sorted
    periods: pd.DatetimeIndex
    events: np.ndarray
    buys: np.ndarray
    intent: np.ndarray
    row_user: np.ndarray  # one entry per (user, category, period) panel row ...
    row_t: np.ndarray
    row_next_t: np.ndarray  # ... with the pair's next active period (len(periods) if none)

    def index_of(self, period: pd.Timestamp) -> int:
        pos = self.periods.get_indexer([pd.Timestamp(period)])[0]
        if pos < 0:
            raise ModelError(f"cutoff {period} is not a period of this panel",
                             f"pick one between {self.periods[0].date()} and {self.periods[-1].date()}")
        return int(pos)

    def positions(self, user_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.users, user_ids.astype(object))

    def seen_by(self, last: int) -> np.ndarray:
        """Users with a panel row in periods <= ``periods[last]`` (the rows ``up_to(last)`` keeps)."""
        seen = np.zeros(len(self.users), dtype=bool)
        seen[self.row_user[self.row_t <= int(last)]] = True
        return seen

    def up_to(self, last: int) -> Activity:
        """The activity ``activity_from_panel`` gives for the panel's periods <= ``periods[last]``: users seen by
        then, their counts up to it. A backtest refits at several cutoffs from one pass over the panel."""
        stop = int(last) + 1
        if stop >= len(self.periods):
            return self
        rows = self.row_t < stop
        seen = self.seen_by(last)
        new_row = np.cumsum(seen) - 1
        return Activity(users=self.users[seen], periods=self.periods[:stop], events=self.events[seen, :stop],
                        buys=self.buys[seen, :stop], intent=self.intent[seen, :stop],
                        row_user=new_row[self.row_user[rows]], row_t=self.row_t[rows],
                        row_next_t=np.minimum(self.row_next_t[rows], stop))


def activity_from_panel(panel: pd.DataFrame, freq: str, last_period: pd.Timestamp | None = None) -> Activity:
    """Per-user, per-period counts from a long interest panel (periods after ``last_period`` dropped)."""
    if last_period is not None:
        panel = panel[panel["period"] <= pd.Timestamp(last_period)]
    if panel.empty:
        raise ModelError("the panel has no rows up to the chosen period", "pick a later period or load a dataset")
    periods = period_grid(panel["period"].min(), panel["period"].max() if last_period is None
                          else pd.Timestamp(last_period), freq)
    codes, uniques = pd.factorize(panel["user_id"].astype(str))  # faster than np.unique over the rows' strings
    users = np.asarray(uniques, dtype=object)
    order = np.argsort(users, kind="stable")
    users, u = users[order], np.argsort(order)[codes]
    t = periods.get_indexer(panel["period"])
    n_v = _col(panel, "n_view") + _col(panel, "n_rate")
    fav_cart = _col(panel, "n_fav") + _col(panel, "n_cart")
    buys = _col(panel, "n_buy")
    shape = (len(users), len(periods))

    def dense(values: np.ndarray) -> np.ndarray:
        out = np.zeros(shape)
        np.add.at(out, (u, t), values)
        return out

    cats = pd.factorize(panel["category"])[0]
    order = np.lexsort((t, cats, u))
    su, sc, st = u[order], cats[order], t[order]
    same_pair = (su[1:] == su[:-1]) & (sc[1:] == sc[:-1])
    next_t = np.full(len(st), len(periods))
    next_t[:-1] = np.where(same_pair, st[1:], len(periods))
    return Activity(users=users, periods=periods, events=dense(n_v + fav_cart + buys), buys=dense(buys),
                    intent=dense(fav_cart), row_user=su, row_t=st, row_next_t=next_t)


def _col(panel: pd.DataFrame, name: str) -> np.ndarray:
    return panel[name].to_numpy(dtype=float) if name in panel else np.zeros(len(panel))


def window_sum(matrix: np.ndarray, w: int) -> np.ndarray:
    """Sum over periods (t-w, t] for every t (shorter at the start)."""
    cum = np.concatenate([np.zeros((matrix.shape[0], 1)), np.cumsum(matrix, axis=1)], axis=1)
    lag = np.maximum(np.arange(1, matrix.shape[1] + 1) - w, 0)
    return cum[:, 1:] - cum[:, lag]


def distinct_categories(activity: Activity, w: int) -> np.ndarray:
    """(users x periods) count of distinct categories with activity in (t-w, t].

    Each panel row covers cutoffs [t, min(t+w, next active t of the same pair) - 1]; the intervals of
    one pair never overlap, so a difference array gives exact distinct counts in O(rows).
    """
    n_t = len(activity.periods)
    end = np.minimum(activity.row_t + w, activity.row_next_t)
    diff = np.zeros((len(activity.users), n_t + 1))
    np.add.at(diff, (activity.row_user, activity.row_t), 1.0)
    np.add.at(diff, (activity.row_user, np.minimum(end, n_t)), -1.0)
    return np.cumsum(diff, axis=1)[:, :n_t]


def feature_matrices(activity: Activity, *, short: int = 4, long: int = 12) -> dict[str, np.ndarray]:
    events = activity.events
    active = (events > 0).astype(float)
    n_u, n_t = events.shape
    idx = np.broadcast_to(np.arange(n_t, dtype=float), (n_u, n_t))
    last_seen = np.maximum.accumulate(np.where(active > 0, idx, -np.inf), axis=1)
    first_seen = np.where(active.any(axis=1), active.argmax(axis=1), n_t).astype(float)[:, None]
    recency = np.where(np.isfinite(last_seen), idx - last_seen, NEVER)
    observed = np.minimum(np.arange(1, n_t + 1), long)[None, :]
    ev_short, ev_long = window_sum(events, short), window_sum(events, long)
    ev_prev = window_sum(events, 2 * short) - ev_short
    act_long = window_sum(active, long)
    safe_ev = np.maximum(ev_long, 1.0)
    return {
        "recency": recency,
        # A usually-active user gone quiet is alarming; a usually-sporadic one is not (a geometric gap model).
        "silence": np.where(recency < NEVER, recency, 0.0) * -np.log1p(-np.minimum(act_long / observed, 0.95)),
        "active_short": window_sum(active, short),
        "active_long": act_long / observed,
        "events_last": np.log1p(events),
        "events_short": np.log1p(ev_short / short),
        "trend": np.log1p(ev_short) - np.log1p(ev_prev),
        "drop": np.log1p(ev_short / short) - np.log1p(ev_long / observed),
        "tenure": np.maximum(idx - first_seen, 0.0),
        "buys_long": np.log1p(window_sum(activity.buys, long)),
        "buy_share": window_sum(activity.buys, long) / safe_ev,
        "intent_share": window_sum(activity.intent, long) / safe_ev,
        "categories_long": np.log1p(distinct_categories(activity, long)),
        "intensity": np.log1p(ev_long / np.maximum(act_long, 1.0)),
    }


def labels_at(activity: Activity, t: int, horizon: int) -> np.ndarray:
    """True where a user has no event in periods t+1 .. t+horizon (needs t + horizon <= last period)."""
    if t + horizon >= len(activity.periods):
        raise ModelError(f"no label at cutoff {activity.periods[t].date()}: the next {horizon} period(s) are not "
                         "in the data", "pick an earlier cutoff")
    return activity.events[:, t + 1: t + 1 + horizon].sum(axis=1) == 0


# -- reasons in words ----------------------------------------------------------------------------

def describe_feature(name: str, value: float, *, freq: str, short: int, long: int) -> str:
    """One feature's value as a merchandiser would say it ("inactive for 3 weeks")."""
    unit = PERIOD_LABEL.get(freq, "period")
    if name == "recency":
        return f"active this {unit}" if value < 1 else f"inactive for {counted(value, unit)}"
    if name == "silence":
        return f"quiet for longer than usual ({percent(np.exp(-value))} chance of such a gap)"
    if name == "active_short":
        return f"active in {round(value)} of the last {counted(short, unit)}"
    if name == "active_long":
        return f"active in {percent(value)} of the last {counted(long, unit)}"
    if name == "events_last":
        return f"{counted(np.expm1(value), 'event')} in the last {unit}"
    if name == "events_short":
        return f"{np.expm1(value):.1f} events a {unit} lately"
    if name == "trend":
        change = np.expm1(value) * 100  # (recent + 1) / (previous + 1) - 1
        word = "down" if change < 0 else "up"
        return f"activity {word} {abs(change):.0f}% vs the {counted(short, unit)} before"
    if name == "drop":
        change = np.expm1(value) * 100
        word = "below" if change < 0 else "above"
        return f"activity {abs(change):.0f}% {word} the user's {counted(long, unit)} average"
    if name == "tenure":
        return f"first seen {counted(value, unit)} ago"
    if name == "buys_long":
        buys = round(float(np.expm1(value)))
        return f"no purchase in {counted(long, unit)}" if buys == 0 else \
            f"{counted(buys, 'purchase')} in {counted(long, unit)}"
    if name == "buy_share":
        return f"{percent(value)} of events are purchases"
    if name == "intent_share":
        return "no favourites or carts lately" if value == 0 else f"{percent(value)} of events are favourites or carts"
    if name == "categories_long":
        return f"{counted(np.expm1(value), 'category')} in {counted(long, unit)}"
    if name == "intensity":
        return f"{np.expm1(value):.1f} events per active {unit}"
    return f"{name} = {value:.3g}"


def reasons_text(frame: pd.DataFrame, contributions: np.ndarray, *, freq: str, short: int, long: int, n: int = 3,
                 min_contribution: float = 0.005) -> list[str]:
    """The ``n`` features raising each user's risk most (by at least ``min_contribution``), in words."""
    order = np.argsort(-contributions, axis=1)[:, :n]
    values = frame[list(FEATURES)].to_numpy(dtype=float)
    kept = np.take_along_axis(contributions, order, axis=1) >= min_contribution
    # Many users share a feature's value (whole periods, counts): each (feature, value) is put in words once
    words: dict[tuple[int, float], str] = {}
    out = []
    for i, (row, keep) in enumerate(zip(order.tolist(), kept.tolist(), strict=True)):
        parts = []
        for j, k in zip(row, keep, strict=True):
            if k:
                key = (j, float(values[i, j]))
                text = words.get(key)
                if text is None:
                    text = words[key] = describe_feature(FEATURES[j], key[1], freq=freq, short=short, long=long)
                parts.append(text)
        out.append("; ".join(parts))
    return out
