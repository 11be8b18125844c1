"""Migration: how users' interest moves between categories from one period to the next.

Definition (share mass). For one user active in periods t and t+1, with shares s_t and s_t+1
over categories (each sums to 1):

- what stays in A is min(s_t[A], s_t+1[A])            (the diagonal A -> A);
- what A loses is dec[A] = max(s_t[A] - s_t+1[A], 0); what B gains is inc[B] = max(s_t+1[B] - s_t[B], 0);
- both sum to the same moved mass M, and the loss of A is allocated to the gaining categories
  in proportion to their gains: flow A -> B = dec[A] * inc[B] / M.

So a user's flows sum to 1, a row of the matrix sums to s_t[A] and a column to s_t+1[B]
(a coupling of the two share vectors). Summed over users, a cell reads "users' worth of
interest moved from A to B". With ``entry_exit=True``, users active in only one of the two
periods add flows from NEW (not active at t) or to GONE (not active at t+1).

Top-category flows count users instead: user's top category at t -> top category at t+1.

Every function returns plain frames. A transitions frame has one row per user, from-period and
category pair: user_id, period, to_period, from_category, to_category, flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from interest_core.analytics.trajectories import top_category_by_period
from interest_core.ingest.privacy import DEFAULT_MIN_GROUP, laplace_noise, suppress_small_groups
from interest_core.periods import PERIOD_OFFSETS, period_grid

NEW = "(new)"
GONE = "(gone)"
TRANSITION_COLUMNS = ["user_id", "period", "to_period", "from_category", "to_category", "flow"]
EPS = 1e-12


def _shares(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """keys + category + share, from summed ``value`` (rows with share 0 dropped)."""
    agg = frame.groupby([*keys, "category"], as_index=False, observed=True)[value].sum()
    agg = agg[agg[value] > 0]
    total = agg.groupby(keys)[value].transform("sum")
    return agg.assign(share=agg[value] / total)[[*keys, "category", "share"]]


def couple(before: pd.DataFrame, after: pd.DataFrame, keys: Sequence[str] = ("user_id",), *,
           entry_exit: bool = False) -> pd.DataFrame:
    """keys + from_category, to_category, flow: the share-mass coupling of two share frames.

    ``before`` and ``after`` hold keys, category, share (shares summing to 1 per key). Keys
    present in only one of them flow to GONE / from NEW when ``entry_exit`` is set, else are left out.
    """
    keys = list(keys)
    cols = [*keys, "from_category", "to_category", "flow"]
    a = before[[*keys, "category", "share"]].rename(columns={"share": "s0"})
    b = after[[*keys, "category", "share"]].rename(columns={"share": "s1"})
    key_a = a[keys].drop_duplicates()
    key_b = b[keys].drop_duplicates()
    both = key_a.merge(key_b, on=keys)
    m = a.merge(both, on=keys).merge(b.merge(both, on=keys), on=[*keys, "category"], how="outer")
    m[["s0", "s1"]] = m[["s0", "s1"]].fillna(0.0)
    m["stay"] = np.minimum(m["s0"], m["s1"])
    m["dec"] = (m["s0"] - m["s1"]).clip(lower=0.0)
    m["inc"] = (m["s1"] - m["s0"]).clip(lower=0.0)
    stay = m.loc[m["stay"] > EPS, [*keys, "category", "stay"]]
    stay = stay.assign(from_category=stay["category"], to_category=stay["category"]).rename(
        columns={"stay": "flow"})[cols]
    dec = m.loc[m["dec"] > EPS, [*keys, "category", "dec"]].rename(columns={"category": "from_category"})
    inc = m.loc[m["inc"] > EPS, [*keys, "category", "inc"]].rename(columns={"category": "to_category"})
    dec["moved"] = dec.groupby(keys)["dec"].transform("sum")
    moves = dec.merge(inc, on=keys)
    moves["flow"] = moves["dec"] * moves["inc"] / moves["moved"]
    parts = [stay, moves[cols]]
    if entry_exit:
        only_a = key_a.merge(key_b, on=keys, how="left", indicator=True).query("_merge == 'left_only'")[keys]
        only_b = key_b.merge(key_a, on=keys, how="left", indicator=True).query("_merge == 'left_only'")[keys]
        gone = a.merge(only_a, on=keys).rename(columns={"category": "from_category", "s0": "flow"})
        new = b.merge(only_b, on=keys).rename(columns={"category": "to_category", "s1": "flow"})
        parts += [gone.assign(to_category=GONE)[cols], new.assign(from_category=NEW)[cols]]
    out = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(
        not p.empty for p in parts) else pd.DataFrame(columns=cols)
    for col in ("from_category", "to_category"):
        out[col] = out[col].astype("string")
    out["flow"] = out["flow"].astype("float64")
    return out[cols]


def _next_period(periods: pd.Series, freq: str) -> pd.Series:
    grid = period_grid(periods.min(), periods.max(), freq)
    nxt = pd.Series(grid[1:].append(pd.DatetimeIndex([pd.NaT])), index=grid)
    return periods.map(nxt)


def _windowed(panel: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """Rows with start <= period <= end (both inclusive period starts; None = open)."""
    keep = pd.Series(True, index=panel.index)
    if start is not None:
        keep &= panel["period"] >= pd.Timestamp(start)
    if end is not None:
        keep &= panel["period"] <= pd.Timestamp(end)
    return panel[keep]


def share_transitions(panel: pd.DataFrame, freq: str, *, start: Any = None, end: Any = None,
                      value: str = "interest", entry_exit: bool = False) -> pd.DataFrame:
    """Share-mass transitions of every user between each period t and t+1 (t and t+1 in [start, end]).

    Shares are recomputed from ``value`` (interest by default; pass a decayed or smoothed
    column to see slower moves).
    """
    frame = _windowed(panel, start, end)
    if frame.empty:
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    shares = _shares(frame, ["user_id", "period"], value)
    # Key both sides by the pair's later period, so a user's t+1 shares meet the same user's t shares.
    before = shares.assign(to_period=_next_period(shares["period"], freq)).dropna(subset=["to_period"])
    after = shares[shares["period"] > shares["period"].min()].rename(columns={"period": "to_period"})
    out = couple(before.drop(columns="period"), after, ["user_id", "to_period"], entry_exit=entry_exit)
    out["to_period"] = pd.to_datetime(out["to_period"])
    out["period"] = out["to_period"] - PERIOD_OFFSETS[freq]
    return out[TRANSITION_COLUMNS].sort_values(["period", "user_id", "from_category", "to_category"]).reset_index(
        drop=True)


def window_transitions(panel: pd.DataFrame, before: tuple[Any, Any], after: tuple[Any, Any], *,
                       value: str = "interest", entry_exit: bool = False) -> pd.DataFrame:
    """Share-mass transitions between two windows of periods (each (start, end), inclusive).

    Shares over a window of several periods are steadier than weekly ones, so a move that
    takes a few weeks shows up as one clear flow instead of many noisy weekly ones.
    """
    rows_a, rows_b = _windowed(panel, *before), _windowed(panel, *after)
    out = couple(_shares(rows_a, ["user_id"], value), _shares(rows_b, ["user_id"], value), ["user_id"],
                 entry_exit=entry_exit)
    # The pair is labelled by each window's first period.
    out["period"] = pd.Timestamp(before[0]) if before[0] is not None else rows_a["period"].min()
    out["to_period"] = pd.Timestamp(after[0]) if after[0] is not None else rows_b["period"].min()
    return out[TRANSITION_COLUMNS]


def top_category_transitions(panel: pd.DataFrame, freq: str, *, start: Any = None, end: Any = None,
                             share_col: str = "share") -> pd.DataFrame:
    """Each user's top category at t -> top category at t+1 (flow = 1 per user and period pair)."""
    top = top_category_by_period(_windowed(panel, start, end), share_col)
    if top.empty:
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    top["to_period"] = _next_period(top["period"], freq)
    nxt = top[["user_id", "period", "category"]].rename(columns={"period": "to_period", "category": "to_category"})
    out = top.rename(columns={"category": "from_category"}).merge(nxt, on=["user_id", "to_period"])
    out["flow"] = 1.0
    for col in ("from_category", "to_category"):
        out[col] = out[col].astype("string")
    return out[TRANSITION_COLUMNS].sort_values(["period", "user_id"]).reset_index(drop=True)


def with_segments(transitions: pd.DataFrame, segments: pd.DataFrame, *, segment_col: str = "segment",
                  unknown: str = "(no segment)") -> pd.DataFrame:
    """Transitions with a segment column from a (user_id, segment) frame (unknown users labelled)."""
    seg = segments[["user_id", segment_col]].drop_duplicates("user_id").rename(columns={segment_col: "segment"})
    seg = seg.astype({"user_id": "string", "segment": "string"})
    out = transitions.astype({"user_id": "string"}).merge(seg, on="user_id", how="left")
    out["segment"] = out["segment"].fillna(unknown)
    return out


def flow_matrix(transitions: pd.DataFrame, *, by: Sequence[str] = (), min_users: int = DEFAULT_MIN_GROUP,
                min_flow: float = 0.05, diagonal: bool = True) -> tuple[pd.DataFrame, int]:
    """Long matrix [by...], from_category, to_category, mass, users, share_of_row; and how many cells were hidden.

    mass = summed flow (users' worth of interest; for top-category transitions, user moves);
    users = distinct users whose own flow in the cell is at least ``min_flow`` (a user whose
    shares wobble by 1% is not "behind" a flow). Cells with fewer than ``min_users`` users are
    hidden (privacy.suppress_small_groups), so no published cell describes fewer than k people.
    share_of_row = mass over the from-category's total mass (computed before suppression).
    """
    by = list(by)
    keys = [*by, "from_category", "to_category"]
    cols = [*keys, "mass", "users", "share_of_row"]
    frame = transitions if diagonal else transitions[transitions["from_category"] != transitions["to_category"]]
    if frame.empty:
        return pd.DataFrame(columns=cols), 0
    per_user = frame.groupby([*keys, "user_id"], as_index=False, observed=True)["flow"].sum()
    per_user["mover"] = per_user["flow"] >= min_flow
    agg = per_user.groupby(keys, as_index=False, observed=True).agg(mass=("flow", "sum"), users=("mover", "sum"))
    row_total = transitions.groupby([*by, "from_category"], observed=True)["flow"].sum().rename("_row")
    agg = agg.merge(row_total.reset_index(), on=[*by, "from_category"], how="left")
    agg["share_of_row"] = agg["mass"] / agg["_row"]
    agg["users"] = agg["users"].astype("int64")
    agg = agg.sort_values([*by, "mass"], ascending=[True] * len(by) + [False]).reset_index(drop=True)
    return suppress_small_groups(agg[cols], "users", min_users)


def matrix_wide(matrix: pd.DataFrame, value: str = "mass", order: Sequence[str] | None = None, *,
                diagonal: bool = True, entry_exit: bool = True) -> pd.DataFrame:
    """from x to table of ``value`` for a heatmap (hidden cells are NaN, not 0).

    Rows and columns list the categories in ``order`` (default: by total mass, 'other' last);
    NEW is only a row and GONE only a column. ``diagonal=False`` blanks what stayed (A -> A),
    so the colour scale shows the moves; ``entry_exit=False`` drops NEW and GONE.
    """
    frame = matrix if diagonal else matrix[matrix["from_category"] != matrix["to_category"]]
    if not entry_exit:
        frame = frame[~frame["from_category"].isin([NEW, GONE]) & ~frame["to_category"].isin([NEW, GONE])]
    wide = frame.pivot_table(index="from_category", columns="to_category", values=value, aggfunc="sum")
    if order is None:
        weight = pd.concat([matrix.groupby("from_category")["mass"].sum(), matrix.groupby("to_category")["mass"].sum()])
        weight = weight.groupby(level=0).sum().drop([NEW, GONE, "other"], errors="ignore")
        order = [*weight.sort_values(ascending=False).index.astype(str)]
        order += [c for c in ("other",) if c in set(matrix["from_category"]) | set(matrix["to_category"])]
    cats = [str(c) for c in order]
    rows = ([NEW] if entry_exit and NEW in set(frame["from_category"]) else []) + cats
    cols = cats + ([GONE] if entry_exit and GONE in set(frame["to_category"]) else [])
    return wide.reindex(index=rows, columns=cols)


def top_flows(matrix: pd.DataFrame, n: int = 10, *, by: str = "mass", off_diagonal: bool = True,
              entry_exit: bool = False) -> pd.DataFrame:
    """The n strongest cells of a long matrix (between different categories, and without the
    NEW / GONE arrivals and departures unless ``entry_exit``)."""
    frame = matrix[matrix["from_category"] != matrix["to_category"]] if off_diagonal else matrix
    if not entry_exit:
        frame = frame[~frame["from_category"].isin([NEW, GONE]) & ~frame["to_category"].isin([NEW, GONE])]
    return frame.sort_values([by, "from_category", "to_category"], ascending=[False, True, True]).head(n).reset_index(
        drop=True)


def net_flows(matrix: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """[by...], from_category, to_category, net = mass(A->B) - mass(B->A), only where positive.

    Week-to-week noise moves share both ways and cancels here; a real migration does not.
    Arrivals and departures (NEW / GONE) have no way back and are left out.
    """
    keys = list(by)
    off = matrix[(matrix["from_category"] != matrix["to_category"]) & ~matrix["from_category"].isin([NEW, GONE])
                 & ~matrix["to_category"].isin([NEW, GONE])]
    back = off.rename(columns={"from_category": "to_category", "to_category": "from_category", "mass": "back"})
    out = off.merge(back[[*keys, "from_category", "to_category", "back"]], on=[*keys, "from_category", "to_category"],
                    how="left")
    out["net"] = out["mass"] - out["back"].fillna(0.0)
    out = out[out["net"] > 0]
    return out[[*keys, "from_category", "to_category", "net", "mass", "users"]].sort_values(
        [*keys, "net"], ascending=[True] * len(keys) + [False]).reset_index(drop=True)


def sankey_links(transitions: pd.DataFrame, *, min_users: int = DEFAULT_MIN_GROUP, min_flow: float = 0.05,
                 top_k: int | None = 8, other: str = "other", last_pairs: int | None = None,
                 entry_exit: bool = True) -> tuple[pd.DataFrame, int]:
    """Links for a Sankey over several periods: source, target (nodes 'category@period'), mass, users.

    Also period, to_period, from_category, to_category. Categories outside the ``top_k`` by
    total flow are folded into ``other`` (a Sankey of 100 nodes per period is unreadable);
    ``last_pairs`` keeps only the latest period pairs and ``entry_exit=False`` leaves out NEW
    and GONE. Links with fewer than ``min_users`` users are hidden.
    """
    frame = transitions
    if not entry_exit:
        frame = frame[~frame["from_category"].isin([NEW, GONE]) & ~frame["to_category"].isin([NEW, GONE])]
    if last_pairs is not None:
        keep_periods = sorted(frame["period"].unique())[-last_pairs:]
        frame = frame[frame["period"].isin(keep_periods)]
    if top_k is not None:
        weight = pd.concat([frame.groupby("from_category")["flow"].sum(), frame.groupby("to_category")["flow"].sum()])
        weight = weight.groupby(level=0).sum()
        weight = weight.drop([c for c in (NEW, GONE) if c in weight.index])
        keep = set(weight.sort_values(ascending=False).head(top_k).index) | {NEW, GONE}
        frame = frame.assign(
            from_category=frame["from_category"].where(frame["from_category"].isin(keep), other),
            to_category=frame["to_category"].where(frame["to_category"].isin(keep), other),
        )
    links, hidden = flow_matrix(frame, by=["period", "to_period"], min_users=min_users, min_flow=min_flow)
    if links.empty:
        return links.assign(source=pd.Series(dtype="string"), target=pd.Series(dtype="string")), hidden
    fmt = "%Y-%m-%d"
    links["source"] = links["from_category"].astype(str) + "@" + pd.to_datetime(links["period"]).dt.strftime(fmt)
    links["target"] = links["to_category"].astype(str) + "@" + pd.to_datetime(links["to_period"]).dt.strftime(fmt)
    return links, hidden


def flow_users(transitions: pd.DataFrame, from_category: str, to_category: str, *,
               periods: Sequence[Any] | None = None, min_flow: float = 0.05) -> pd.DataFrame:
    """user_id, flow, n_periods, first_period, last_period: the users behind one flow, biggest first.

    ``periods`` restricts to transitions starting in those periods; users whose summed flow
    is below ``min_flow`` are left out (the same rule that counts ``users`` in flow_matrix).
    """
    frame = transitions[(transitions["from_category"] == from_category)
                        & (transitions["to_category"] == to_category)]
    if periods is not None:
        frame = frame[frame["period"].isin(pd.to_datetime(list(periods)))]
    cols = ["user_id", "flow", "n_periods", "first_period", "last_period"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    out = frame.groupby("user_id", as_index=False, observed=True).agg(
        flow=("flow", "sum"), n_periods=("period", "nunique"), first_period=("period", "min"),
        last_period=("period", "max"))
    out = out[out["flow"] >= min_flow]
    return out.sort_values(["flow", "user_id"], ascending=[False, True]).reset_index(drop=True)[cols]


def noisy_export(matrix: pd.DataFrame, epsilon: float | None, *, seed: int | None = None,
                 columns: Sequence[str] = ("users", "mass"), sensitivity: float = 1.0) -> pd.DataFrame:
    """The matrix to export, with Laplace noise on its counts when ``epsilon`` is given.

    One user adds at most 1 to a cell's users and at most 1 to its mass per period pair, so
    sensitivity 1 holds for a single pair; pass the number of period pairs for a multi-period matrix.
    share_of_row is dropped: it would leak the un-noised totals.
    """
    out = matrix.drop(columns=[c for c in ("share_of_row",) if c in matrix])
    if epsilon is None:
        return out
    return laplace_noise(out, [c for c in columns if c in out], epsilon, sensitivity, seed)


# -- forecast-implied migration -----------------------------------------------------------------

def forecast_shares(forecasts: pd.DataFrame, *, period: Any = None, model: str | None = None) -> pd.DataFrame:
    """user_id, category, share from a Forecasts frame of engagement series (one period, one model).

    Share = yhat over the user's summed yhat in that period. ``period`` defaults to the first
    forecast period, ``model`` to the only (or first) model in the frame.
    """
    from interest_core.forecasting.series import split_pair_id

    fc = forecasts
    if "user_id" not in fc or "category" not in fc:
        fc = pd.concat([fc.reset_index(drop=True), split_pair_id(fc["unique_id"]).reset_index(drop=True)], axis=1)
    if "model" in fc:
        fc = fc[fc["model"] == (model if model is not None else fc["model"].iloc[0])]
    when = pd.Timestamp(period) if period is not None else pd.Timestamp(fc["period"].min())
    fc = fc[pd.to_datetime(fc["period"]) == when]
    return _shares(fc.rename(columns={"yhat": "_y"}), ["user_id"], "_y").assign(period=when)


def forecast_transitions(panel: pd.DataFrame, forecasts: pd.DataFrame, freq: str, *,
                         model: str | None = None, entry_exit: bool = False) -> pd.DataFrame:
    """Transitions implied by forecasts: actual shares at t (the period before the first forecast)
    -> forecast shares at t+1. Same columns as share_transitions, so flow_matrix applies."""
    after = forecast_shares(forecasts, model=model)
    if after.empty:
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    to_period = pd.Timestamp(after["period"].iloc[0])
    t = to_period - PERIOD_OFFSETS[freq]
    before = _shares(panel[panel["period"] == t], ["user_id"], "interest")
    out = couple(before, after, ["user_id"], entry_exit=entry_exit)
    out.insert(1, "period", t)
    out.insert(2, "to_period", to_period)
    return out[TRANSITION_COLUMNS]


def compare_matrices(actual: pd.DataFrame, forecast: pd.DataFrame, value: str = "mass") -> pd.DataFrame:
    """from_category, to_category, actual, forecast, error (forecast - actual), cells of either.

    ``relative_l1`` of it is the one number for a backtest table.
    """
    keys = ["from_category", "to_category"]
    out = actual[[*keys, value]].rename(columns={value: "actual"}).merge(
        forecast[[*keys, value]].rename(columns={value: "forecast"}), on=keys, how="outer")
    out[["actual", "forecast"]] = out[["actual", "forecast"]].fillna(0.0)
    out["error"] = out["forecast"] - out["actual"]
    return out.sort_values("actual", ascending=False).reset_index(drop=True)


def relative_l1(compared: pd.DataFrame) -> float:
    """sum |error| / sum actual of a compare_matrices frame (0 = the same matrix; 2 = disjoint; NaN: no actual)."""
    total = float(compared["actual"].sum())
    return float(compared["error"].abs().sum() / total) if total else float("nan")


def backtest_transitions(panel: pd.DataFrame, forecasts: pd.DataFrame, freq: str, *, model: str | None = None,
                         min_users: int = 1) -> pd.DataFrame:
    """Forecast-implied vs actual matrix for the first forecast period t+1 (compare_matrices output).

    ``forecasts`` were made with data up to t only; the actual transitions t -> t+1 come from
    ``panel``. Both sides keep the users active in t and t+1 (the actual matrix has no others),
    so the comparison is of where interest went, not of who stayed active.
    """
    implied = forecast_transitions(panel, forecasts, freq, model=model)
    if implied.empty:
        return compare_matrices(pd.DataFrame(columns=["from_category", "to_category", "mass"]),
                                pd.DataFrame(columns=["from_category", "to_category", "mass"]))
    t = pd.Timestamp(implied["period"].iloc[0])
    actual = share_transitions(panel, freq, start=t, end=t + PERIOD_OFFSETS[freq])
    implied = implied[implied["user_id"].isin(set(actual["user_id"]))]
    a, _ = flow_matrix(actual, min_users=min_users)
    f, _ = flow_matrix(implied, min_users=min_users)
    return compare_matrices(a, f)
