"""Overview and Data page charts: activity by behaviour, users (or events) per behaviour, top categories,
behaviour mix. Time charts shade the partial first/last period they are given (``style.mark_partial``).

Every builder takes the small aggregate frames of ``interest_core.panel`` (never raw events)
and returns a titled ``go.Figure`` with axis units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interest_core.charts.style import (
    BEHAVIOR_COLORS,
    BEHAVIOR_LABELS,
    MARKERS_UP_TO,
    OTHER,
    category_colors,
    color_for,
    empty_figure,
    mark_partial,
    per_period,
    period_label,
    styled,
    time_range,
)
from interest_core.ingest.formats import BEHAVIORS

FUNNEL_STAGES: tuple[str, ...] = ("view", "fav", "cart", "buy")


def activity_chart(activity: pd.DataFrame, freq: str, window: tuple[Any, Any] | None = None,
                   partial: Sequence[Any] = ()) -> go.Figure:
    """One small panel per behaviour (own y scale, views would flatten the rest), shared time axis.

    ``activity``: period, behavior, events (``panel.activity_over_time``). ``window``: the time
    span to show (``panel.time_window``), so stray outlying timestamps do not squash the chart.
    """
    title = f"Activity over time: {per_period('events', freq)}, by behaviour"
    if activity.empty:
        return empty_figure(title)
    present = [b for b in BEHAVIORS if b in set(activity["behavior"].astype(str))]
    fig = make_subplots(rows=len(present), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[BEHAVIOR_LABELS.get(b, b) for b in present])
    periods = pd.Index(sorted(activity["period"].unique()))
    for row, behavior in enumerate(present, start=1):
        part = activity[activity["behavior"].astype(str) == behavior].set_index("period")["events"]
        part = part.reindex(periods, fill_value=0)
        fig.add_trace(go.Scatter(
            x=part.index, y=part.to_numpy(), name=BEHAVIOR_LABELS.get(behavior, behavior),
            mode="lines+markers" if len(periods) <= MARKERS_UP_TO else "lines",
            marker={"size": 4}, line={"color": BEHAVIOR_COLORS.get(behavior), "width": 2},
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>%{{y:,}} {behavior} events<extra></extra>",
        ), row=row, col=1)
        fig.update_yaxes(rangemode="tozero", row=row, col=1)
    fig.update_yaxes(title_text=per_period("events", freq), row=(len(present) + 1) // 2, col=1)
    fig.update_xaxes(title_text=f"{period_label(freq)} starting (UTC)", row=len(present), col=1)
    if window is not None:
        fig.update_xaxes(range=time_range(window, freq))
    mark_partial(fig, partial, freq)
    return styled(fig, title, None, None, height=140 * len(present) + 120, legend=False)


def per_behavior_chart(funnel: pd.DataFrame, measure: str = "users") -> go.Figure:
    """Users (or events) per behaviour, one bar each in the order view, favourite, cart, buy (and rate where
    the log has ratings).

    ``funnel``: behavior, events, users (``panel.funnel``). Not a funnel: a user who bought need not have
    put anything in the cart first (logs such as Tmall's record few carts), so no bar is a share of another.
    """
    title = f"{'Users' if measure == 'users' else 'Events'} per behaviour"
    counts = funnel.set_index(funnel["behavior"].astype(str))[measure] if not funnel.empty else pd.Series(dtype=int)
    stages = [*FUNNEL_STAGES, *(b for b in BEHAVIORS if b not in FUNNEL_STAGES and counts.get(b, 0))]  # + ratings
    values = [int(counts.get(b, 0)) for b in stages]
    if not any(values):
        return empty_figure(title)
    fig = go.Figure(go.Bar(
        y=[BEHAVIOR_LABELS[b] for b in stages], x=values, orientation="h",
        text=[f"{v:,}" for v in values], textposition="auto",
        marker={"color": [BEHAVIOR_COLORS[b] for b in stages]},
        hovertemplate="%{y}: %{x:,} " + measure + "<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    x_title = "users who did it at least once" if measure == "users" else "events"
    return styled(fig, title, x_title, None, height=320, legend=False)


def top_categories_chart(top: pd.DataFrame, freq: str, colors: Mapping[str, str] | None = None,
                         share: bool = False, window: tuple[Any, Any] | None = None,
                         partial: Sequence[Any] = ()) -> go.Figure:
    """Stacked area of interest per period for the top categories, the rest as grey 'other'.

    ``top``: period, category, interest (``panel.top_categories_over_time``).
    """
    what = "share of interest" if share else "interest"
    title = f"Top categories over time: {per_period(what, freq)}"
    if top.empty:
        return empty_figure(title)
    frame = top.assign(category=top["category"].astype(str))
    wide = frame.pivot_table(index="period", columns="category", values="interest", aggfunc="sum", fill_value=0.0)
    ranked = [c for c in wide.sum().sort_values(ascending=False).index if c != OTHER]
    order = ([OTHER] if OTHER in wide.columns else []) + ranked[::-1]  # 'other' at the bottom, the top one on top
    colors = colors or category_colors([*ranked, OTHER])
    fig = go.Figure()
    for category in order:
        fig.add_trace(go.Scatter(
            x=wide.index, y=wide[category].to_numpy(), name=category, mode="lines", stackgroup="one",
            groupnorm="percent" if share else None, line={"width": 0.5, "color": color_for(category, colors)},
            hovertemplate=f"{category}<br>%{{x|%Y-%m-%d}}: %{{y:,.1f}}<extra></extra>",
        ))
    y_title = (f"% of all interest per {period_label(freq)}" if share
               else per_period("interest (weighted events)", freq))
    styled(fig, title, f"{period_label(freq)} starting (UTC)", y_title, height=440)
    # Many entries: a column at the right (read top-down in stacking order), clear of the title.
    fig.update_layout(legend={"orientation": "v", "traceorder": "reversed", "x": 1.02, "xanchor": "left",
                              "y": 1.0, "yanchor": "top"}, margin={"r": 10})
    if window is not None:
        fig.update_xaxes(range=time_range(window, freq))
    return mark_partial(fig, partial, freq)
