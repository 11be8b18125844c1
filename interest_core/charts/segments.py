"""Segments page charts: a 2-D projection scatter, segment sizes over time and a trait heatmap.

Inputs are the frames of ``interest_core.analytics.segments``. Segments get colours from the
palette by their number (segment 0 is the biggest), noise (-1) is grey.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interest_core.charts.style import OTHER_COLOR, PALETTE, empty_figure, period_label, styled


def _legend_below(fig: go.Figure) -> None:
    """Segment names are sentences: a legend under the plot keeps them off the title."""
    fig.update_layout(legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.22, "yanchor": "top"},
                      margin={"b": 140})


def segment_color(segment: int) -> str:
    return OTHER_COLOR if segment < 0 else PALETTE[segment % len(PALETTE)]


def segment_label(segment: int, names: Mapping[int, str] | None = None) -> str:
    base = "noise" if segment < 0 else f"Segment {segment}"
    if names and segment in names and names[segment]:
        return f"{base}: {names[segment]}"
    return base


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def projection_chart(points: pd.DataFrame, names: Mapping[int, str] | None = None) -> go.Figure:
    """Scatter of users on the first two principal components, one colour per segment.

    ``points``: user_id, x, y, segment (segments.projection_2d); attrs['explained_variance'] names the axes.
    """
    title = "Users by segment: 2-D projection (PCA)"
    if points.empty:
        return empty_figure(title, "no users to draw")
    var = points.attrs.get("explained_variance", [np.nan, np.nan])
    fig = go.Figure()
    for seg in sorted(points["segment"].unique()):
        part = points[points["segment"] == seg]
        label = _short(segment_label(int(seg), names))
        fig.add_trace(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=label, text=part["user_id"].astype(str),
            marker={"size": 5, "opacity": 0.7, "color": segment_color(int(seg))},
            hovertemplate=f"user %{{text}}<br>{label}<extra></extra>",
        ))
    x_title = f"component 1 ({var[0]:.0%} of variance, standardised units)"
    y_title = f"component 2 ({var[1]:.0%} of variance, standardised units)" if len(var) > 1 else "component 2"
    fig = styled(fig, title, x_title, y_title, height=560)
    _legend_below(fig)
    return fig


def segment_sizes_chart(sizes: pd.DataFrame, freq: str, names: Mapping[int, str] | None = None, *,
                        window: int | None = None) -> go.Figure:
    """Users per segment over time (stacked). ``sizes``: period, segment, users (segment_sizes_over_time)."""
    span = f" ({window}-{period_label(freq)} windows)" if window else ""
    title = f"Segment sizes over time{span}"
    if sizes.empty:
        return empty_figure(title, "not enough periods for one window")
    wide = sizes.pivot_table(index="period", columns="segment", values="users", aggfunc="sum", fill_value=0)
    fig = go.Figure()
    for seg in wide.columns:
        label = _short(segment_label(int(seg), names))
        fig.add_trace(go.Scatter(
            x=wide.index, y=wide[seg], name=label, mode="lines", stackgroup="one",
            line={"width": 0.5, "color": segment_color(int(seg))},
            hovertemplate=f"{label}<br>window ending %{{x|%Y-%m-%d}}: %{{y:,}} users<extra></extra>",
        ))
    fig = styled(fig, title, f"last {period_label(freq)} of the window (UTC)", "users active in the window",
                 height=480)
    _legend_below(fig)
    return fig


def segment_traits_chart(traits: pd.DataFrame, names: Mapping[int, str] | None = None) -> go.Figure:
    """Heatmap: segment x trait, in standard deviations from the population mean.

    ``traits``: ``Segmentation.traits`` (segment index x traits with plain names, category shares included),
    or ``segments.describe_segments`` output (its ``traits`` dicts: the behaviour features only).
    """
    title = "Segment traits: how far each segment is from the average user"
    if traits.empty:
        return empty_figure(title, "no segments")
    if "traits" in traits.columns:
        traits = pd.DataFrame(list(traits["traits"]), index=traits["segment"].astype(int))
    z = traits.to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(z))) if z.size else 1.0
    fig = go.Figure(go.Heatmap(
        z=z, x=list(traits.columns), y=[segment_label(int(s), names) for s in traits.index], colorscale="RdBu",
        zmid=0, zmin=-limit, zmax=limit, text=[[_signed(v) for v in row] for row in z], texttemplate="%{text}",
        colorbar={"title": {"text": "SDs from<br>the mean"}},
        hovertemplate="%{y}<br>%{x}: %{z:+.2f} standard deviations from the average user<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category", automargin=True, showgrid=False)
    fig.update_xaxes(tickangle=-30, automargin=True, showgrid=False)
    return styled(fig, title, "trait (blue: above average, red: below)", "segment", height=60 * len(traits) + 300,
                  legend=False)


def _signed(value: float) -> str:
    """+1.5, -0.7, and 0.0 for what rounds to zero (never '-0.0')."""
    rounded = round(float(value), 1)
    return "0.0" if rounded == 0 else f"{rounded:+.1f}"
