"""Cohort retention and an ordered funnel, aggregated in the engine (DuckDB): no frame of events.

    grid = cohort_retention(source, "W", max_cohorts=12)    # first-active week x weeks since
    flow = ordered_funnel(source, ("view", "cart", "buy"), pd.Timedelta(days=7))

Vocabulary (one name each):
- *cohort*: the users whose first event in the log falls in one period;
- *offset*: periods since the cohort's period (0 = the cohort's own period, where every user is active);
- *retention*: the share of a cohort active (or buying, with ``returning="buy"``) at an offset;
- *partial*: a cell whose calendar period the data does not cover whole (the log ends, or starts, inside it).

The ordered funnel counts users who did step 1, then step 2, then step 3 ... in that order, every step
within ``window`` of the step-1 event that starts the chain (as product-analytics funnels do). Events at
the same timestamp count as in order (day-granular logs put a view, a cart and a buy on the same day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from interest_core.charts.style import BEHAVIOR_LABELS
from interest_core.forecasting.series import last_complete_period
from interest_core.ingest.formats import BEHAVIORS
from interest_core.ingest.privacy import DEFAULT_MIN_GROUP
from interest_core.panel import EventsSource
from interest_core.periods import FREQ_PART, PERIOD_LABEL, PERIOD_OFFSETS, check_freq, period_grid, period_start
from interest_core.text import counted, percent

Returning = Literal["any", "buy"]
GRID_COLUMNS: tuple[str, ...] = ("cohort", "offset", "period", "users", "size", "retention", "partial")
FUNNEL_COLUMNS: tuple[str, ...] = ("step", "users", "of_previous", "of_first", "dropped", "did_at_all")
DEFAULT_STEPS: tuple[str, ...] = ("view", "cart", "buy")
DEFAULT_WINDOW = pd.Timedelta(days=7)
MAX_COHORTS = 26  # the most cohorts the Retention page shows (prepare stores a grid of this many)


def _time_filter(start: Any, end: Any) -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    if start is not None:
        clauses.append("ts >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        clauses.append("ts <= ?")
        params.append(pd.Timestamp(end).to_pydatetime())
    return " AND ".join(clauses), params


# -- cohort retention ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CohortRetention:
    """A cohort grid in long format (``grid``: one row per cohort and offset with data)."""

    freq: str
    returning: Returning
    grid: pd.DataFrame  # GRID_COLUMNS; cells past the data's end are absent, not zero
    first_partial: bool  # the log starts inside the first cohort's period
    last_partial: bool  # the log ends inside the last period: its cells are marked partial
    cohorts_left_out: int  # older cohorts not in the grid (max_cohorts)
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    min_users: int = DEFAULT_MIN_GROUP  # smaller cohorts are hidden

    @property
    def cohorts(self) -> pd.DataFrame:
        """cohort, size: one row per cohort, oldest first."""
        sizes = self.grid.drop_duplicates("cohort")[["cohort", "size"]]
        return sizes.sort_values("cohort", ignore_index=True)

    def latest(self, n: int) -> CohortRetention:
        """Only the latest ``n`` cohorts: what ``cohort_retention(max_cohorts=n)`` returns of the same log when this
        grid holds ``n`` or more (prepare stores the grid of MAX_COHORTS; the page shows the latest ``n``)."""
        cohorts = sorted(self.grid["cohort"].unique())
        keep = cohorts[-max(1, int(n)):]
        grid = self.grid[self.grid["cohort"].isin(keep)].reset_index(drop=True)
        return replace(self, grid=grid, cohorts_left_out=self.cohorts_left_out + len(cohorts) - len(keep))

    def facts(self) -> dict[str, Any]:
        """Everything but the grid, as JSON values (``from_facts`` reads them back)."""
        return {"freq": self.freq, "returning": self.returning, "first_partial": self.first_partial,
                "last_partial": self.last_partial, "cohorts_left_out": self.cohorts_left_out,
                "data_start": str(self.data_start), "data_end": str(self.data_end), "min_users": self.min_users}

    @classmethod
    def from_facts(cls, grid: pd.DataFrame, facts: dict[str, Any]) -> CohortRetention:
        return cls(freq=str(facts["freq"]), returning=facts["returning"], grid=grid,
                   first_partial=bool(facts["first_partial"]), last_partial=bool(facts["last_partial"]),
                   cohorts_left_out=int(facts["cohorts_left_out"]), data_start=pd.Timestamp(facts["data_start"]),
                   data_end=pd.Timestamp(facts["data_end"]), min_users=int(facts["min_users"]))

    def average(self) -> pd.DataFrame:
        """offset, retention, users, size, cohorts: every cohort's complete cells pooled (weighted by size),
        the "all cohorts" row product-analytics tools put on top of the grid."""
        full = self.grid[~self.grid["partial"]]
        if full.empty:
            return pd.DataFrame(columns=["offset", "retention", "users", "size", "cohorts"])
        out = full.groupby("offset", as_index=False).agg(users=("users", "sum"), size=("size", "sum"),
                                                         cohorts=("cohort", "nunique"))
        out["retention"] = out["users"] / out["size"]
        return out[["offset", "retention", "users", "size", "cohorts"]]


def _partial_start(first_event: pd.Timestamp, first_period: pd.Timestamp, freq: str) -> bool:
    """Whether the data begins inside its first period (mirror of series.last_complete_period's tolerance)."""
    tolerance = pd.Timedelta(hours=1) if freq == "h" else pd.Timedelta(days=1)
    return bool(first_event - tolerance > first_period)


def cohort_retention(source: EventsSource, freq: str = "W", *, returning: Returning = "any",
                     max_cohorts: int = 12, max_offset: int = 52, min_users: int = DEFAULT_MIN_GROUP,
                     start: Any = None, end: Any = None) -> CohortRetention:
    """Users active (``returning="any"``) or buying (``"buy"``) k periods after their first active period.

    The grid holds the latest ``max_cohorts`` cohorts of at least ``min_users`` users (smaller ones are
    hidden, as in every aggregate view; ``cohorts_left_out`` counts the older and the hidden ones) and
    offsets up to ``max_offset``. ``start``/``end`` keep the events inside a span (e.g. without strays).
    """
    part = FREQ_PART[check_freq(freq)]
    if returning not in ("any", "buy"):
        raise ValueError(f"unknown returning {returning!r}; use 'any' or 'buy'")
    where, params = _time_filter(start, end)
    firsts_sql = (f"SELECT user_id, min(date_trunc('{part}', ts)) AS cohort FROM {{events}} WHERE {where} "
                  "GROUP BY user_id")
    sizes = source.query(f"SELECT cohort, count(*) AS size FROM ({firsts_sql}) GROUP BY cohort ORDER BY cohort",
                         params)
    bounds = source.query(f"SELECT min(ts) AS lo, max(ts) AS hi FROM {{events}} WHERE {where}", params).iloc[0]
    if sizes.empty or pd.isna(bounds["lo"]):
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in GRID_COLUMNS})
        return CohortRetention(freq, returning, empty, False, False, len(sizes), pd.NaT, pd.NaT, min_users)
    lo, hi = pd.Timestamp(bounds["lo"]), pd.Timestamp(bounds["hi"])
    sizes["cohort"] = pd.to_datetime(sizes["cohort"])
    shown = sizes[sizes["size"] >= min_users].tail(max(1, int(max_cohorts)))
    grid = period_grid(period_start(lo, freq), period_start(hi, freq), freq)
    returned = "TRUE" if returning == "any" else "behavior = 'buy'"
    counts = source.query(
        f"""WITH firsts AS ({firsts_sql}), act AS (
              SELECT user_id, date_trunc('{part}', ts) AS period FROM {{events}} WHERE {where} AND {returned}
              GROUP BY ALL)
            SELECT f.cohort, a.period, count(*) AS users FROM act a JOIN firsts f USING (user_id)
            WHERE f.cohort IN (SELECT cohort FROM ic_cohorts) GROUP BY ALL""",
        [*params, *params], frames={"ic_cohorts": shown[["cohort"]]})
    counts["cohort"] = pd.to_datetime(counts["cohort"])
    counts["period"] = pd.to_datetime(counts["period"])
    position = pd.Series(np.arange(len(grid)), index=grid)
    # Every cell from the cohort to the data's last period exists: zero users where none came back.
    cells = [(c, p) for c in shown["cohort"] for p in grid[(grid >= c)][: int(max_offset) + 1]]
    frame = pd.DataFrame(cells, columns=["cohort", "period"]).astype("datetime64[us]")
    counts = counts.astype({"cohort": frame["cohort"].dtype, "period": frame["period"].dtype})
    frame = frame.merge(counts, on=["cohort", "period"], how="left")
    frame["users"] = frame["users"].fillna(0).astype(int)
    frame["size"] = frame["cohort"].map(shown.set_index("cohort")["size"]).astype(int)
    frame["offset"] = (position.reindex(frame["period"]).to_numpy()
                       - position.reindex(frame["cohort"]).to_numpy()).astype(int)
    frame["retention"] = frame["users"] / frame["size"]
    last_full = last_complete_period(grid[-1], hi, freq)
    frame["partial"] = frame["period"] > last_full
    frame = frame.sort_values(["cohort", "offset"], ignore_index=True)[list(GRID_COLUMNS)]
    return CohortRetention(freq=freq, returning=returning, grid=frame,
                           first_partial=_partial_start(lo, grid[0], freq), last_partial=bool(last_full < grid[-1]),
                           cohorts_left_out=len(sizes) - len(shown), data_start=lo, data_end=hi, min_users=min_users)


# -- the ordered funnel ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class OrderedFunnel:
    steps: tuple[str, ...]  # the steps counted, in order (requested steps absent from the log left out)
    missing: tuple[str, ...]  # requested steps with no event in the log
    window: pd.Timedelta
    table: pd.DataFrame  # FUNNEL_COLUMNS, one row per step
    day_granular: bool  # every step event is at midnight: the log records days, not times

    @property
    def completed(self) -> int:
        """Users who went through every step in order."""
        return int(self.table["users"].iloc[-1]) if not self.table.empty else 0


def _check_steps(steps: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in steps if s not in BEHAVIORS]
    if unknown:
        raise ValueError(f"unknown funnel step(s) {unknown}; use behaviours among {', '.join(BEHAVIORS)}")
    if len(set(steps)) != len(steps):
        raise ValueError(f"funnel steps repeat: {list(steps)}; name each behaviour once")
    return tuple(steps)


def _funnel_sql(steps: Sequence[str], window_s: int, where: str) -> str:
    """Per step k, the chains reaching it: (user, time of the step-k event, start = the step-1 time).

    A step-k event continues the latest chain of step k-1 at or before it (an ASOF join): that chain has the
    latest start (starts never decrease along a user's time), so it leaves the most room for the window. Events
    at the same time count as following. Each step is one sorted merge of two event subsets, not a window
    over every event. Events repeated at the same time are not deduplicated: they add equal chains, and every
    count is of distinct users (a DISTINCT over the 10 M events of the bench log cost 1.5 s CPU).
    """
    names = ", ".join(f"'{s}'" for s in steps)
    span = f"INTERVAL '{int(window_s)} seconds'"
    ctes = [f"e AS (SELECT user_id, behavior, ts FROM {{events}} WHERE behavior IN ({names}) AND {where})",
            f"c1 AS (SELECT user_id, ts, ts AS start FROM e WHERE behavior = '{steps[0]}')"]
    for k, step in enumerate(steps[1:], start=2):
        ctes.append(f"c{k} AS (SELECT b.user_id, b.ts, a.start FROM (SELECT user_id, ts FROM e WHERE behavior = "
                    f"'{step}') b ASOF JOIN c{k - 1} a ON b.user_id = a.user_id AND b.ts >= a.ts "
                    f"WHERE b.ts <= a.start + {span})")
    reached = ", ".join(f"(SELECT count(DISTINCT user_id) FROM c{k}) AS reached{k}" for k in range(1, len(steps) + 1))
    did = ", ".join(f"count(DISTINCT user_id) FILTER (WHERE behavior = '{s}') AS did{k}"
                    for k, s in enumerate(steps, start=1))
    return (f"WITH {', '.join(ctes)} SELECT {reached}, {did}, "
            "coalesce(bool_and(ts = date_trunc('day', ts)), FALSE) AS day_granular FROM e")


def ordered_funnel(source: EventsSource, steps: Sequence[str] = DEFAULT_STEPS,
                   window: pd.Timedelta = DEFAULT_WINDOW, *, start: Any = None, end: Any = None
                   ) -> OrderedFunnel:
    """Users who did ``steps`` in this order, each within ``window`` of the chain's first step.

    Steps with no event in the log are left out (named in ``missing``), so a log without carts gets a
    view -> buy funnel instead of a wall of zeros.
    """
    wanted = _check_steps(steps)
    if pd.Timedelta(window) <= pd.Timedelta(0):
        raise ValueError(f"funnel window {window} must be positive; pass e.g. pd.Timedelta(days=7)")
    where, params = _time_filter(start, end)
    names = ", ".join(f"'{s}'" for s in wanted)
    present = set(source.query(f"SELECT DISTINCT behavior FROM {{events}} WHERE behavior IN ({names}) AND {where}",
                               params)["behavior"].astype(str))
    used = tuple(s for s in wanted if s in present)
    missing = tuple(s for s in wanted if s not in present)
    if not used:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in FUNNEL_COLUMNS})
        return OrderedFunnel(used, missing, pd.Timedelta(window), empty, False)
    row = source.query(_funnel_sql(used, int(pd.Timedelta(window).total_seconds()), where), params).iloc[0]
    users = np.array([int(row[f"reached{k}"]) for k in range(1, len(used) + 1)])
    previous = np.concatenate([[users[0]], users[:-1]])
    table = pd.DataFrame({
        "step": list(used), "users": users,
        "of_previous": users / np.where(previous > 0, previous, 1),
        "of_first": users / max(int(users[0]), 1),
        "dropped": previous - users,
        "did_at_all": [int(row[f"did{k}"]) for k in range(1, len(used) + 1)],
    })
    return OrderedFunnel(used, missing, pd.Timedelta(window), table, bool(row["day_granular"]))


# -- in words --------------------------------------------------------------------------------------

def retention_words(result: CohortRetention) -> list[str]:
    """What the cohort grid says, sentence by sentence (plain text; cohort dates, counts and shares)."""
    min_users = result.min_users
    unit = PERIOD_LABEL.get(result.freq, "period")
    if result.grid.empty:
        return [f"No {unit} has {counted(min_users, 'new user')} or more to follow."]
    doing = "active again" if result.returning == "any" else "buying"
    avg = result.average().set_index("offset")
    out = []
    later = [k for k in avg.index if k > 0 and avg.loc[k, "cohorts"] >= 2]
    if later:
        first, last = later[0], later[min(len(later), 4) - 1]
        text = (f"On average {percent(avg.loc[first, 'retention'])} of new users are {doing} "
                f"{counted(first, unit)} later")
        if last != first:
            text += f", and {percent(avg.loc[last, 'retention'])} after {counted(last, unit)}"
        out.append(text + ".")
    first_period = period_start(result.data_start, result.freq)
    if result.cohorts["cohort"].iloc[0] <= first_period + PERIOD_OFFSETS[result.freq]:
        out.append(f"The earliest cohorts hold users already active before the log begins "
                   f"({result.data_start:%Y-%m-%d}), not only new users.")
    if result.last_partial:
        out.append(f"The last {unit} is partial (the data ends {result.data_end:%Y-%m-%d %H:%M}): its cells are "
                   "marked * and left out of the average.")
    if result.cohorts_left_out:
        out.append(f"{counted(result.cohorts_left_out, 'older or smaller cohort')} (fewer than "
                   f"{counted(min_users, 'user')}, or past the cohorts shown) left out.")
    return out


def funnel_words(funnel: OrderedFunnel) -> list[str]:
    """What the ordered funnel says, sentence by sentence (plain text)."""
    label = BEHAVIOR_LABELS
    out = []
    if funnel.missing:
        kept = " → ".join(label[s] for s in funnel.steps) or "no step"
        out.append(f"This log has no {' or '.join(label[s] for s in funnel.missing)} events, so the funnel is "
                   f"{kept}.")
    t = funnel.table
    if t.empty or int(t["users"].iloc[0]) == 0:
        return out
    window = f"{funnel.window.total_seconds() / 3600:g} hours"
    if funnel.window >= pd.Timedelta(days=1) and funnel.window.total_seconds() % 86_400 == 0:
        window = counted(funnel.window.days, "day")
    if len(t) > 1:
        last = t.iloc[-1]
        out.append(f"{int(last['users']):,} of the {counted(int(t['users'].iloc[0]), 'user')} who did "
                   f"{label[funnel.steps[0]]} went through every step in this order within {window} "
                   f"({percent(last['of_first'], 1)}).")
        drops = t.iloc[1:].assign(lost=1 - t["of_previous"].iloc[1:])
        worst = drops.loc[drops["lost"].idxmax()]
        before = funnel.steps[funnel.steps.index(str(worst["step"])) - 1]
        out.append(f"The biggest drop is from {label[before]} to {label[str(worst['step'])]}: {percent(worst['lost'])} "
                   "go no further.")
        if int(last["did_at_all"]) > int(last["users"]):
            out.append(f"{counted(int(last['did_at_all']), 'user')} did {label[funnel.steps[-1]]} at all; "
                       f"{percent(int(last['users']) / int(last['did_at_all']))} of them followed this path, the "
                       "others skipped a step, took longer or did it in another order.")
    if funnel.day_granular:
        out.append("Times in this log are whole days: steps on the same day count as in order.")
    return out
