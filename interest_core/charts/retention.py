"""Retention page charts: the cohort grid as a heatmap, the average retention curve and the ordered funnel.

Inputs are ``interest_core.analytics.retention``'s ``CohortRetention`` and ``OrderedFunnel``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interest_core.analytics.retention import CohortRetention, OrderedFunnel
from interest_core.charts.style import BEHAVIOR_COLORS, BEHAVIOR_LABELS, PALETTE, empty_figure, period_label, styled
from interest_core.text import counted, percent

ALL_COHORTS = "All cohorts"
PARTIAL_MARK = "*"


def _cohort_label(cohort: pd.Timestamp, size: int, freq: str) -> str:
    when = f"{cohort:%Y-%m-%d %H:00}" if freq == "h" else f"{cohort:%Y-%m}" if freq == "M" else f"{cohort:%Y-%m-%d}"
    return f"{when} ({counted(size, 'user')})"


def _what(result: CohortRetention) -> str:
    return "active" if result.returning == "any" else "buying"


def retention_heatmap(result: CohortRetention) -> go.Figure:
    """Cohort (first active period) x periods since, coloured by the share of the cohort active; the pooled
    "All cohorts" row on top; cells of a partial last period marked with an asterisk."""
    unit = period_label(result.freq)
    title = f"Retention by cohort: % of each {unit}'s new users {_what(result)} N {unit}s later"
    grid = result.grid
    if grid.empty:
        return empty_figure(title, "no cohort of 5 users or more")
    cohorts = result.cohorts
    offsets = list(range(int(grid["offset"].max()) + 1))
    avg = result.average().set_index("offset")
    rows = [ALL_COHORTS] + [_cohort_label(c, int(n), result.freq) for c, n in zip(cohorts["cohort"], cohorts["size"],
                                                                                    strict=True)]
    z = np.full((len(rows), len(offsets)), np.nan)
    text = np.full(z.shape, "", dtype=object)
    hover = np.full(z.shape, "", dtype=object)
    for j in offsets:
        if j in avg.index:
            a = avg.loc[j]
            z[0, j] = a["retention"] * 100
            text[0, j] = percent(a["retention"])
            hover[0, j] = (f"All cohorts, {unit} {j}: {int(a['users']):,} of {int(a['size']):,} users "
                           f"({percent(a['retention'], 1)}), over {counted(a['cohorts'], 'cohort')} with the whole "
                           f"{unit} in the data")
    index = {c: i + 1 for i, c in enumerate(cohorts["cohort"])}
    for cell in grid.itertuples(index=False):
        i, j = index[cell.cohort], int(cell.offset)
        z[i, j] = cell.retention * 100
        mark = PARTIAL_MARK if cell.partial else ""
        text[i, j] = percent(cell.retention) + mark
        partial = f"<br>{PARTIAL_MARK} partial {unit}: the data ends {result.data_end:%Y-%m-%d %H:%M}"
        hover[i, j] = (f"Cohort {_cohort_label(cell.cohort, int(cell.size), result.freq)}<br>{unit} {j} "
                       f"({cell.period:%Y-%m-%d}): {int(cell.users):,} users {_what(result)} "
                       f"({percent(cell.retention, 1)})" + (partial if cell.partial else ""))
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(j) for j in offsets], y=rows, colorscale="Blues", zmin=0, zmax=100, text=text,
        texttemplate="%{text}", customdata=hover, hovertemplate="%{customdata}<extra></extra>", xgap=1, ygap=1,
        colorbar={"title": {"text": f"% {_what(result)}"}, "ticksuffix": "%"},
    ))
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(type="category")
    note = f" ({PARTIAL_MARK} partial {unit})" if result.last_partial else ""
    return styled(fig, title, f"{unit}s since the first active {unit}{note}", f"cohort (first active {unit})",
                  height=min(900, 34 * len(rows) + 180), legend=False)


def retention_curve(result: CohortRetention) -> go.Figure:
    """The pooled retention curve: % of users active k periods after their first, complete periods only."""
    unit = period_label(result.freq)
    title = f"Average retention: % of new users {_what(result)} N {unit}s later"
    avg = result.average()
    if avg.empty:
        return empty_figure(title, "no complete period to pool")
    fig = go.Figure(go.Scatter(
        x=avg["offset"], y=avg["retention"] * 100, mode="lines+markers", name="all cohorts",
        line={"color": PALETTE[0], "width": 3}, customdata=np.column_stack([avg["users"], avg["size"], avg["cohorts"]]),
        hovertemplate=(f"{unit} %{{x}}: %{{y:.1f}}%<br>%{{customdata[0]:,}} of %{{customdata[1]:,}} users"
                       "<br>%{customdata[2]} cohorts<extra></extra>")))
    fig.update_yaxes(range=[0, 105], ticksuffix="%")
    return styled(fig, title, f"{unit}s since the first active {unit}", f"% of the cohort {_what(result)}",
                  legend=False)


def ordered_funnel_chart(funnel: OrderedFunnel) -> go.Figure:
    """Users reaching each step in order within the window, with conversion from the step before."""
    window = _window_text(funnel.window)
    arrow = " → ".join(BEHAVIOR_LABELS.get(s, s) for s in funnel.steps)
    title = f"Ordered funnel: {arrow} within {window}" if funnel.steps else "Ordered funnel"
    if funnel.table.empty or int(funnel.table["users"].iloc[0]) == 0:
        return empty_figure(title, "no user did the first step")
    t = funnel.table
    labels = [BEHAVIOR_LABELS.get(s, s) for s in t["step"]]
    hover = [f"{counted(u, 'user')} reached {lab}<br>{percent(p)} of the step before, {percent(f)} of the first"
             f"<br>{counted(d, 'user')} dropped off here<br>{counted(a, 'user')} did it at all, in any order"
             for lab, u, p, f, d, a in zip(labels, t["users"], t["of_previous"], t["of_first"], t["dropped"],
                                           t["did_at_all"], strict=True)]
    fig = go.Figure(go.Funnel(
        y=labels, x=t["users"], textinfo="value+percent previous", customdata=hover,
        hovertemplate="%{customdata}<extra></extra>",
        marker={"color": [BEHAVIOR_COLORS.get(s, PALETTE[0]) for s in t["step"]]},
    ))
    return styled(fig, title, "users", "step", legend=False)


def _window_text(window: pd.Timedelta) -> str:
    hours = pd.Timedelta(window).total_seconds() / 3600
    return counted(hours / 24, "day") if hours >= 24 and hours % 24 == 0 else counted(hours, "hour")
