"""User page charts: one user's stacked shares (with change points and an optional forecast),
long- vs short-term interest, diversity over time, forecast bands and recommendations.

Inputs are the frames of ``interest_core.analytics.trajectories`` and ``recommendations``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from interest_core.charts.style import OTHER, color_for, empty_figure, period_label, styled


def _x_title(freq: str) -> str:
    return f"{period_label(freq)} starting (UTC)"


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _legend_right(fig: go.Figure) -> None:
    """A vertical legend beside the plot: many categories would run over the title above it."""
    fig.update_layout(legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1.0, "yanchor": "top",
                              "traceorder": "normal"})


def user_shares_chart(shares: pd.DataFrame, freq: str, colors: Mapping[str, str] | None = None, *,
                      changes: pd.DataFrame | None = None, forecast: pd.DataFrame | None = None,
                      user_id: str = "") -> go.Figure:
    """Stacked area of one user's share of interest per category and period.

    ``shares``: period, category, share (trajectories.stacked_shares), one stacked bar per
    period. ``changes`` (change_points) marks each period where the top category changed;
    ``forecast`` (merge_forecast rows with kind 'forecast') continues the stack, hatched and
    lighter, after a dashed line.
    """
    who = f" of user {user_id}" if user_id else ""
    title = f"Interest mix{who}: share of the user's interest per {period_label(freq)}"
    if shares.empty:
        return empty_figure(title, "no events for this user")
    wide = shares.pivot_table(index="period", columns="category", values="share", aggfunc="sum", fill_value=0.0)
    order = [c for c in pd.unique(shares["category"].astype(str)) if c != OTHER]
    order = ([OTHER] if OTHER in wide.columns else []) + order[::-1]  # biggest on top, 'other' at the bottom
    fig = go.Figure()
    # Bars, not areas: an inactive period is an empty slot, not a slope drawn between neighbours.
    for category in order:
        fig.add_trace(go.Bar(
            x=wide.index, y=100 * wide[category].to_numpy(), name=category, legendgroup=category,
            marker={"color": color_for(category, colors), "line": {"width": 0}},
            hovertemplate=f"{category}<br>%{{x|%Y-%m-%d}}: %{{y:.1f}}%<extra></extra>",
        ))
    if forecast is not None and not forecast.empty:
        fc = forecast[forecast["kind"] == "forecast"]
        fc = fc.assign(category=fc["category"].astype(str).where(fc["category"].astype(str).isin(order), OTHER))
        fwide = fc.pivot_table(index="period", columns="category", values="share", aggfunc="sum", fill_value=0.0)
        for category in order:
            if category not in fwide:
                continue
            fig.add_trace(go.Bar(
                x=fwide.index, y=100 * fwide[category].to_numpy(), name=f"{category} (forecast)",
                legendgroup=category, showlegend=False, opacity=0.45,
                marker={"color": color_for(category, colors), "pattern": {"shape": "/"}},
                hovertemplate=f"{category} forecast<br>%{{x|%Y-%m-%d}}: %{{y:.1f}}%<extra></extra>",
            ))
        fig.add_vline(x=fwide.index.min(), line_dash="dash", line_color="#555")
    if changes is not None and not changes.empty:
        fig.add_trace(go.Scatter(
            x=changes["period"], y=[104] * len(changes), mode="markers", name="top category changed",
            marker={"symbol": "triangle-down", "size": 11, "color": "#333"},
            customdata=changes[["from_category", "to_category"]].astype(str).to_numpy(),
            hovertemplate="%{x|%Y-%m-%d}: top category %{customdata[0]} → %{customdata[1]}<extra></extra>",
        ))
    fig.update_layout(barmode="stack", bargap=0.1)
    fig.update_yaxes(range=[0, 108])
    fig = styled(fig, title, _x_title(freq), f"% of the user's interest per {period_label(freq)}", height=420)
    _legend_right(fig)
    fig.update_layout(legend={"traceorder": "reversed"})  # the biggest category first, as on top of the stack
    return fig


def long_short_chart(profile: pd.DataFrame, freq: str, colors: Mapping[str, str] | None = None, *,
                     long_half_life: float | None = None, short_half_life: float | None = None) -> go.Figure:
    """Per top category: long-term share (solid) and short-term share (dotted).

    ``profile``: period, category, long_share, short_share (trajectories.long_short_interest).
    A dotted line above its solid one: the category is rising for this user now.
    """
    title = "Long- vs short-term share (solid: long, dotted: short)"
    if profile.empty:
        return empty_figure(title, "no events for this user")

    def _hl(v: float | None) -> str:
        return f" (half-life {v:g} {period_label(freq)}s)" if v is not None else ""
    fig = go.Figure()
    for category, part in profile.groupby(profile["category"].astype(str), sort=False):
        color = color_for(str(category), colors)
        fig.add_trace(go.Scatter(
            x=part["period"], y=100 * part["long_share"], name=f"{category}", mode="lines", legendgroup=category,
            line={"color": color, "width": 2.5},
            hovertemplate=f"{category} long-term{_hl(long_half_life)}<br>%{{x|%Y-%m-%d}}: %{{y:.1f}}%<extra></extra>",
        ))
        fig.add_trace(go.Scatter(
            x=part["period"], y=100 * part["short_share"], name=f"{category} short-term", mode="lines",
            legendgroup=category, showlegend=False, line={"color": color, "width": 1.5, "dash": "dot"},
            hovertemplate=f"{category} short-term{_hl(short_half_life)}<br>%{{x|%Y-%m-%d}}: %{{y:.1f}}%<extra></extra>",
        ))
    fig.update_yaxes(rangemode="tozero")
    fig = styled(fig, title, _x_title(freq), "% of the user's smoothed interest", height=440)
    # Under the plot: the chart sits in half the page, where a legend beside it left the lines a third.
    fig.update_layout(legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.25, "yanchor": "top"},
                      margin={"b": 110})
    return fig


def diversity_chart(div: pd.DataFrame, freq: str) -> go.Figure:
    """Effective number of categories per active period (2 ** entropy in bits), entropy on hover."""
    title = f"Interest diversity: effective number of categories per {period_label(freq)}"
    if div.empty:
        return empty_figure(title, "no events for this user")
    fig = go.Figure(go.Scatter(
        x=div["period"], y=div["effective_categories"], mode="lines+markers", name="effective categories",
        marker={"size": 5}, line={"color": "#4C78A8"},
        customdata=div[["entropy", "n_categories"]].to_numpy(),
        hovertemplate=("%{x|%Y-%m-%d}: %{y:.2f} effective categories<br>entropy %{customdata[0]:.2f} bits, "
                       "%{customdata[1]} categories touched<extra></extra>"),
    ))
    fig.update_yaxes(rangemode="tozero")
    return styled(fig, title, _x_title(freq), "effective categories (2^entropy, count)", height=300, legend=False)


def user_forecast_chart(merged: pd.DataFrame, freq: str, colors: Mapping[str, str] | None = None, *,
                        level: int = 80, history: int | None = 26) -> go.Figure:
    """Actual interest per category (solid), forecast (dashed) with its ``level``% interval as a band.

    ``merged``: trajectories.merge_forecast output (one model); only the last ``history``
    periods of the past are drawn, so the forecast is not squeezed against the right edge.
    """
    title = f"Interest and forecast: interest per {period_label(freq)} with {level}% intervals"
    if merged.empty:
        return empty_figure(title, "no history or forecast for this user")
    if history is not None:
        past = sorted(merged.loc[merged["kind"] == "actual", "period"].unique())[-history:]
        merged = merged[(merged["kind"] != "actual") | merged["period"].isin(past)]
    lo, hi = f"lo_{level}", f"hi_{level}"
    fig = go.Figure()
    for category, part in merged.groupby(merged["category"].astype(str), sort=False):
        color = color_for(str(category), colors)
        act = part[part["kind"] == "actual"].sort_values("period")
        fc = part[part["kind"] == "forecast"].sort_values("period")
        fig.add_trace(go.Scatter(x=act["period"], y=act["interest"], name=str(category), mode="lines+markers",
                                 legendgroup=category, marker={"size": 4}, line={"color": color},
                                 hovertemplate=f"{category}<br>%{{x|%Y-%m-%d}}: %{{y:,.1f}}<extra></extra>"))
        if fc.empty:
            continue
        if lo in fc and hi in fc:
            fig.add_trace(go.Scatter(
                x=[*fc["period"], *fc["period"][::-1]], y=[*fc[hi], *fc[lo][::-1]], fill="toself", mode="lines",
                fillcolor=_rgba(color, 0.18), line={"width": 0}, legendgroup=category, showlegend=False,
                hoverinfo="skip", name=f"{category} {level}% interval"))
        fig.add_trace(go.Scatter(x=fc["period"], y=fc["interest"], name=f"{category} forecast", mode="lines+markers",
                                 legendgroup=category, showlegend=False, line={"color": color, "dash": "dash"},
                                 marker={"size": 4, "symbol": "circle-open"},
                                 hovertemplate=f"{category} forecast<br>%{{x|%Y-%m-%d}}: %{{y:,.1f}}<extra></extra>"))
    fig.update_yaxes(rangemode="tozero")
    fig = styled(fig, title, _x_title(freq), f"interest (weighted events) per {period_label(freq)}", height=400)
    _legend_right(fig)
    return fig


def recommendations_chart(recs: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                          what: str = "categories") -> go.Figure:
    """Horizontal bars of recommendation scores, best on top. ``recs``: item, score, rank."""
    title = f"Recommended next {what}: similarity score"
    if recs.empty:
        return empty_figure(title, "no recommendation for this user (too little history)")
    recs = recs.sort_values("rank")
    fig = go.Figure(go.Bar(
        y=recs["item"].astype(str), x=recs["score"], orientation="h",
        marker={"color": [color_for(str(c), colors) for c in recs["item"]]},
        hovertemplate="%{y}: score %{x:.3f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, title, "score (summed cosine similarity, unitless)", what, height=40 * len(recs) + 120,
                  legend=False)
