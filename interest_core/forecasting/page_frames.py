"""The frame a page model is fitted on, bounded on large logs.

On a log whose stored panel holds more than ``MAX_MODEL_ROWS`` rows (the 100 M-event Taobao log's
daily panel: 29.9 M), reading it whole into pandas would cost gigabytes and minutes. So:

- models of users (churn, segments, promotion lists: ``SAMPLED_KINDS``) learn from and score a seeded
  sample of users (``UserSample``: a hash of the user id, the same users in every process and session)
  holding at most ``MAX_MODEL_ROWS`` panel rows, and the pages say so;
- models of totals (demand, the Forecasts page's series: ``TOTALS_KINDS``) read the panel summed in
  DuckDB per category (or group) and period, exact: ``category, period, interest, users`` (``users``:
  the category's distinct users up to the last complete period, what ``demand.pick_categories`` counts).

Small logs (every stored panel under the cap) read the panel as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from interest_core.errors import DatasetNotFoundError, ModelError
from interest_core.panel import SAMPLE_SCALE, EventsSource, user_sample_where
from interest_core.store import Store
from interest_core.text import counted, percent

MAX_MODEL_ROWS = 6_000_000  # about the 10 M-event, 6-month weekly panel (4.9 M rows): fitted within budget there
FLOWS_SHARE = 3  # the Migration page couples each user's shares period to period: a third of the rows (a sub-sample)
MAX_ROWS_ENV = "INTEREST_MODEL_MAX_ROWS"  # overrides MAX_MODEL_ROWS (a smaller machine; tests of the sampled path)
SAMPLED_KINDS = frozenset({"churn_risk", "churn_backtest", "segmentation", "learned_promotion",
                           "engagement_scores", "promotion_lift"})
TOTALS_KINDS = frozenset({"demand", "series_view"})


@dataclass(frozen=True)
class UserSample:
    """The users a page model reads on a large log: those whose hashed id falls under ``per_million``."""

    per_million: int  # kept when hash(salt || user_id) % 1,000,000 < per_million
    users: int  # users in the sample
    of_users: int  # users in the dataset
    panel_rows: int  # rows of the stored panel at this frequency
    max_rows: int = MAX_MODEL_ROWS  # the cap it was drawn for (the sample holds about that many rows)

    def where(self, column: str = "user_id") -> str:
        """The SQL condition that keeps the sample's rows (``column``: the user id)."""
        return user_sample_where(self.per_million, column)

    def describe(self) -> str:
        return (f"a sample of {counted(self.users, 'user')} of {self.of_users:,} "
                f"({percent(self.users / max(self.of_users, 1))}): the log's panel holds {self.panel_rows:,} rows, "
                f"and a model reads at most {self.max_rows:,}")


def max_model_rows() -> int:
    """The most panel rows a page model reads: $INTEREST_MODEL_MAX_ROWS, else MAX_MODEL_ROWS."""
    raw = os.environ.get(MAX_ROWS_ENV, "").strip()
    if not raw:
        return MAX_MODEL_ROWS
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value < 1:
        raise ModelError(f"{MAX_ROWS_ENV}={raw!r} is not a number of rows",
                         f"set it to a whole number of rows, e.g. {MAX_MODEL_ROWS}, or unset it")
    return value


def not_stored(dataset: str, freq: str) -> DatasetNotFoundError:
    """The error when a stored panel went away between finding it and reading it (a re-ingest, a delete)."""
    return DatasetNotFoundError(f"the {freq} panel of {dataset!r} is no longer stored",
                                f"run `python -m interest_core prepare {dataset}` again, or reload the page")


def user_sample(store: Store, dataset: str, freq: str, max_rows: int | None = None) -> UserSample | None:
    """The sample page models of ``dataset`` at ``freq`` read, or None when its stored panel holds ``max_rows``
    (None: ``max_model_rows()``) or fewer rows, or is not stored (the events are then aggregated as before)."""
    from interest_core import derived

    max_rows = max_model_rows() if max_rows is None else max_rows
    stored = {t.kind: t for t in derived.tables(store, dataset) if t.freq == freq}
    if not _large(stored, max_rows) or "users" not in stored:
        return None
    per_million = max(1, int(SAMPLE_SCALE * max_rows / stored["panel"].rows))
    probe = UserSample(per_million, 0, 0, stored["panel"].rows, max_rows)
    row = EventsSource(store, stored["users"].relation).query(
        f"SELECT count(*) FILTER (WHERE {probe.where()}) AS kept, count(*) AS users FROM {{events}}").iloc[0]
    return UserSample(per_million, int(row["kept"]), int(row["users"]), stored["panel"].rows, max_rows)


def _large(stored: Mapping[str, Any], max_rows: int) -> bool:
    """Whether the stored panel (``stored``: derived tables by kind, one frequency) holds over ``max_rows`` rows."""
    return "panel" in stored and stored["panel"].rows > max_rows


def sampled_panel(store: Store, dataset: str, freq: str, sample: UserSample,
                  category_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stored panel's rows of the sample's users, categories folded through ``category_map`` as
    ``derived_panel.stored_panel`` folds them."""
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.periods import check_freq

    frame = stored_panel(store, dataset, PanelSpec(freq=check_freq(freq)), category_map, where=sample.where("user_id"))
    if frame is None:
        raise not_stored(dataset, freq)
    return frame


def category_totals_panel(store: Store, dataset: str, freq: str, category_map: pd.DataFrame | None = None,
                          last_period: Any = None) -> pd.DataFrame:
    """category, period, interest, users: the stored panel summed per category (folded through
    ``category_map``) and period in DuckDB; ``users``: each category's distinct users in periods up to
    ``last_period`` (None: every period), repeated on its rows."""
    from interest_core.derived import panel_relation

    relation = panel_relation(store, dataset, freq)
    if relation is None:
        raise not_stored(dataset, freq)
    frames = {"ic_groups": category_map[["category", "group"]].astype("string")} if category_map is not None else {}
    label = 'coalesce(g."group", p.category)' if frames else "p.category"
    join = "LEFT JOIN ic_groups g ON p.category = g.category" if frames else ""
    until = "" if last_period is None else "WHERE period <= ?"
    sql = f"""WITH p AS (SELECT {label} AS category, p.user_id, p.period, p.interest FROM {{events}} p {join}),
                   sums AS (SELECT category, period, sum(interest) AS interest FROM p GROUP BY ALL),
                   users AS (SELECT category, count(DISTINCT user_id) AS users FROM p {until} GROUP BY ALL)
              SELECT s.category, s.period, s.interest, coalesce(u.users, 0) AS users
              FROM sums s LEFT JOIN users u USING (category) ORDER BY s.category, s.period"""
    params = [] if last_period is None else [pd.Timestamp(last_period)]
    frame = EventsSource(store, relation, frames=frames or None).query_arrow(sql, params)
    return frame.astype({"category": "string", "interest": "float64", "users": "int64"}).assign(
        period=pd.to_datetime(frame["period"]))


def segment_totals_panel(store: Store, dataset: str, freq: str, members: pd.DataFrame, last_period: Any, *,
                         window: Any = None, where: str | None = None) -> pd.DataFrame | None:
    """category (the segment's name), period, interest, users: ``views.ops.segment_totals`` over the stored panel,
    summed in DuckDB (``members``: user_id, segment), up to ``last_period``, inside ``window``, only the rows
    ``where`` keeps (the sample the segments were learned on); None where ``derived_panel.stored_source`` is."""
    from interest_core.derived_panel import stored_source

    source = stored_source(store, dataset, freq, window, where=where)
    if source is None:
        return None
    sql = """WITH p AS (SELECT m.segment AS category, e.user_id, e.period, e.interest FROM {events} e
                        JOIN ic_members m ON e.user_id = m.user_id WHERE e.period <= ?),
                  users AS (SELECT category, count(DISTINCT user_id) AS users FROM p GROUP BY ALL)
             SELECT category, period, sum(interest) AS interest, any_value(users) AS users
             FROM p JOIN users USING (category) GROUP BY category, period ORDER BY category, period"""
    frame = source.query_arrow(sql, [pd.Timestamp(last_period)],
                               frames={"ic_members": members[["user_id", "segment"]].astype("string")})
    return frame.astype({"category": "string", "interest": "float64", "users": "int64"}).assign(
        period=pd.to_datetime(frame["period"]))


USER_TARGETS = frozenset({"engagement", "user_total", "next_interest"})  # forecasts of users, not of totals


def cli_panel(store: Store, dataset: str, freq: str, target: str) -> tuple[pd.DataFrame, UserSample | None]:
    """The panel the CLI's ``backtest`` and ``fit`` read: on a large log, for a target of users, the stored
    panel's rows of the page models' user sample (bounded: the 100 M-event log's daily panel holds 29.9 M
    rows), for category demand the stored panel's totals per category and period (every user counted), else
    the panel built from the events as before. The sample is returned so the command says so."""
    from interest_core import derived
    from interest_core.config import PanelSpec
    from interest_core.panel import build_panel, events_source
    from interest_core.periods import check_freq

    sample = user_sample(store, dataset, freq) if target in USER_TARGETS else None
    if sample is not None:
        return sampled_panel(store, dataset, freq, sample), sample
    if target == "category_demand" and _large({t.kind: t for t in derived.tables(store, dataset) if t.freq == freq},
                                              max_model_rows()):
        # demand sums every user's interest per category: the stored panel summed in DuckDB is all it reads
        return category_totals_panel(store, dataset, freq), None
    return build_panel(events_source(store, dataset), PanelSpec(freq=check_freq(freq))), None


def user_rows_panel(store: Store, dataset: str, freq: str, user: str) -> pd.DataFrame:
    """The stored panel's rows of one user (the Forecasts page's user series)."""
    from interest_core.config import PanelSpec
    from interest_core.derived_panel import stored_panel
    from interest_core.periods import check_freq

    quoted = str(user).replace("'", "''")
    frame = stored_panel(store, dataset, PanelSpec(freq=check_freq(freq)), where=f"user_id = '{quoted}'")
    if frame is None:
        raise not_stored(dataset, freq)
    return frame
