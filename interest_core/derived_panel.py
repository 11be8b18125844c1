"""A dataset's stored panel (``derived.panel_relation``) read as ``panel.build_panel`` returns it.

Pages and ``prepare`` read the panel built once at ``prepare`` instead of aggregating the events
again; categories are folded into groups in DuckDB (interest, counts and shares summed: a folded
category's share of a user's period is the sum of its members' shares).
"""

from __future__ import annotations

import pandas as pd

from interest_core.config import PanelSpec
from interest_core.ingest.formats import BEHAVIORS
from interest_core.panel import EventsSource, _typed
from interest_core.store import Store


def stored_panel(store: Store, dataset: str, spec: PanelSpec,
                 category_map: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """The stored panel at ``spec.freq`` folded through ``category_map`` (category, group); None when it is
    not built for these weights (or ``spec`` asks for decay, which the stored panel does not hold)."""
    from interest_core.derived import panel_relation

    if spec.decay_half_life is not None:
        return None
    relation = panel_relation(store, dataset, spec.freq, weights=spec.weights)
    if relation is None:
        return None
    source = EventsSource(store, relation)
    if category_map is None:
        return _typed(source.query_arrow("SELECT * FROM {events}"))
    counts = ", ".join(f"CAST(sum(p.n_{b}) AS BIGINT) AS n_{b}" for b in BEHAVIORS)
    sql = f"""SELECT p.user_id, coalesce(g."group", p.category) AS category, p.period,
                     sum(p.interest) AS interest, {counts}, sum(p.share) AS share
              FROM {{events}} p LEFT JOIN ic_groups g ON p.category = g.category
              GROUP BY ALL"""
    groups = category_map[["category", "group"]].astype("string")
    return _typed(source.query_arrow(sql, None, {"ic_groups": groups}))
