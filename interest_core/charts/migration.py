"""Migration page charts: the from x to matrix as a heatmap, a Sankey over several periods,
the strongest flows as bars, and a forecast-implied matrix against the actual one.

Inputs are the frames of ``interest_core.analytics.migration``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interest_core.analytics.migration import relative_l1
from interest_core.charts.style import OTHER, color_for, empty_figure, plain_label, styled

MASS_UNIT = "users' worth of interest"


def migration_heatmap(wide: pd.DataFrame, *, value: str = "mass", title_suffix: str = "") -> go.Figure:
    """Rows: from category (period t); columns: to category (t+1). Hidden (suppressed) cells are blank.

    ``wide``: migration.matrix_wide output; ``value`` names what the cells hold (mass, users or share_of_row).
    """
    unit = {"mass": MASS_UNIT, "users": "users", "share_of_row": "% of the from-category's interest"}.get(value, value)
    title = f"Where interest moved: {unit}{title_suffix}"
    if wide.empty or wide.isna().all().all():
        return empty_figure(title, "no transitions in this window (or all hidden as groups under k users)")
    z = wide.to_numpy(dtype=float) * (100.0 if value == "share_of_row" else 1.0)
    text = np.where(np.isnan(z), "", np.vectorize(lambda v: f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}")(
        np.nan_to_num(z)))
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in wide.columns], y=[str(r) for r in wide.index], colorscale="Blues",
        text=text, texttemplate="%{text}" if z.size <= 400 else None, hoverongaps=False,
        colorbar={"title": {"text": _wrap(unit), "side": "top"}},
        hovertemplate="from %{y} → to %{x}<br>%{z:,.2f} " + unit + "<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="bottom")
    size = max(420, 28 * len(wide) + 160)
    return styled(fig, title, "to category (next period)", "from category (period)", height=size, legend=False)


def sankey_chart(links: pd.DataFrame, colors: Mapping[str, str] | None = None, *, value: str = "mass") -> go.Figure:
    """Sankey over several periods: nodes are 'category@period', left to right in time.

    ``links``: migration.sankey_links output (source, target, period, to_period, from_category,
    to_category, mass, users).
    """
    unit = MASS_UNIT if value == "mass" else "users"
    title = f"Interest flows across periods: {unit}"
    if links.empty:
        return empty_figure(title, "no flows to draw (or all hidden as groups under k users)")
    nodes = pd.concat([
        links[["source", "from_category", "period"]].set_axis(["node", "category", "period"], axis=1),
        links[["target", "to_category", "to_period"]].set_axis(["node", "category", "period"], axis=1),
    ]).drop_duplicates("node")
    nodes = nodes.sort_values(["period", "category"]).reset_index(drop=True)
    periods = sorted(nodes["period"].unique())
    x_of = {p: (0.01 + 0.98 * i / max(1, len(periods) - 1)) for i, p in enumerate(periods)}
    index = {n: i for i, n in enumerate(nodes["node"])}
    node_colors = [color_for(str(c), colors) for c in nodes["category"]]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        # No labels on the nodes: beside a node they run over the flows and each other; a key under the
        # chart names each colour, and a node names its category on hover.
        node={"label": [""] * len(nodes), "color": node_colors, "pad": 22, "thickness": 14,
              "x": [x_of[p] for p in nodes["period"]],
              "customdata": [f"{c} in {pd.Timestamp(p):%Y-%m-%d}" for c, p in zip(nodes["category"], nodes["period"],
                                                                                  strict=True)],
              "hovertemplate": "%{customdata}<br>%{value:,.1f} " + unit + "<extra></extra>"},
        link={"source": [index[s] for s in links["source"]], "target": [index[t] for t in links["target"]],
              "value": links[value].astype(float).tolist(),
              "color": [_fade(color_for(str(c), colors)) for c in links["from_category"]],
              "customdata": links[["from_category", "to_category", "users"]].astype(str).to_numpy(),
              "hovertemplate": ("%{customdata[0]} → %{customdata[1]}<br>%{value:,.1f} " + unit
                                + ", %{customdata[2]} users<extra></extra>")},
    ))
    labels = " → ".join(f"{pd.Timestamp(p):%Y-%m-%d}" for p in periods)
    for p in periods:  # a sankey draws no axes: each column's period goes under it
        fig.add_annotation(x=x_of[p], y=0, xref="paper", yref="paper", yanchor="top", showarrow=False,
                           text=f"{pd.Timestamp(p):%Y-%m-%d}", font={"size": 11, "color": "#666"})
    rows = _colour_key(fig, _by_mass(links, value), colors)
    fig = styled(fig, title, f"period start (UTC), left to right: {labels}", "categories (node height = "
                 f"{unit})", height=480 + KEY_ROW_PX * rows, legend=False)
    fig.update_layout(margin={"b": 50 + KEY_ROW_PX * rows})
    return fig


KEY_COLUMNS, KEY_ROW_PX = 3, 24


def _by_mass(links: pd.DataFrame, value: str) -> list[str]:
    """The Sankey's categories, the most flow first, 'other' last."""
    flows = pd.concat([links[["from_category", value]].set_axis(["category", "v"], axis=1),
                       links[["to_category", value]].set_axis(["category", "v"], axis=1)])
    totals = flows.groupby(flows["category"].astype(str))["v"].sum().sort_values(ascending=False, kind="stable")
    return sorted(totals.index, key=lambda c: c == OTHER)


def _colour_key(fig: go.Figure, categories: list[str], colors: Mapping[str, str] | None) -> int:
    """A key of coloured squares and names under the chart (a Sankey has no legend); its number of rows."""
    for i, cat in enumerate(categories):
        row, col = divmod(i, KEY_COLUMNS)
        fig.add_annotation(x=col / KEY_COLUMNS, y=0, xref="paper", yref="paper", xanchor="left", yanchor="top",
                           yshift=-24 - KEY_ROW_PX * row, showarrow=False, align="left", font={"size": 12},
                           text=f"<span style='color:{color_for(cat, colors)}'>■</span> {plain_label(cat)}")
    return -(-len(categories) // KEY_COLUMNS)


def _wrap(text: str, width: int = 12) -> str:
    """A colour-bar title on short lines (a narrow bar cuts a long one off)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + len(word) < width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _fade(hex_color: str, alpha: float = 0.35) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def top_flows_chart(flows: pd.DataFrame, *, value: str = "mass", colors: Mapping[str, str] | None = None,
                    title: str | None = None) -> go.Figure:
    """Horizontal bars of the strongest flows between different categories (``top_flows`` or ``net_flows``)."""
    # Short enough for a chart in a narrow column: a longer title or axis title runs off the chart.
    unit = {"mass": MASS_UNIT, "users": "users", "net": f"net {MASS_UNIT}"}.get(value, value)
    title = title or ("Strongest flows (net: A→B minus B→A)" if value == "net" else f"Strongest flows: {unit}")
    if flows.empty:
        return empty_figure(title, "no flows between different categories")
    labels = flows["from_category"].astype(str) + " → " + flows["to_category"].astype(str)
    fig = go.Figure(go.Bar(
        y=labels, x=flows[value], orientation="h",
        marker={"color": [color_for(str(c), colors) for c in flows["to_category"]]},
        customdata=flows[["users"]].to_numpy() if "users" in flows else None,
        hovertemplate="%{y}: %{x:,.1f} " + unit + ("<br>%{customdata[0]} users" if "users" in flows else "")
        + "<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, title, unit, "flow (from → to)", height=32 * len(flows) + 140, legend=False)


def forecast_vs_actual_chart(compared: pd.DataFrame, *, title_suffix: str = "") -> go.Figure:
    """One point per matrix cell: actual flow (x) vs forecast-implied flow (y); the diagonal is perfect.

    ``compared``: migration.compare_matrices output.
    """
    title = f"Migration forecast vs actual: {MASS_UNIT} per cell{title_suffix}"
    if compared.empty:
        return empty_figure(title, "no forecast or actual transitions to compare")
    off = compared["from_category"] != compared["to_category"]
    fig = go.Figure()
    for name, mask, symbol in (("stayed (A → A)", ~off, "circle"), ("moved (A → B)", off, "diamond")):
        part = compared[mask]
        fig.add_trace(go.Scatter(
            x=part["actual"], y=part["forecast"], mode="markers", name=name, marker={"symbol": symbol, "size": 8},
            customdata=part[["from_category", "to_category"]].astype(str).to_numpy(),
            hovertemplate="%{customdata[0]} → %{customdata[1]}<br>actual %{x:,.1f}, forecast %{y:,.1f}<extra></extra>",
        ))
    top = float(max(compared["actual"].max(), compared["forecast"].max(), 1.0))
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="forecast = actual",
                             line={"dash": "dash", "color": "#888"}, hoverinfo="skip"))
    l1 = relative_l1(compared)
    if l1 == l1:  # not NaN
        title += f" (relative L1 error {l1:.2f})"
    return styled(fig, title, f"actual ({MASS_UNIT})", f"forecast ({MASS_UNIT})", height=420)
