"""Churn, Promotions and Demand page charts (plotly, no Streamlit).

Inputs are the frames of ``interest_core.analytics.churn``, ``promotions`` and ``demand``.
Categories take their colour from ``category_colors`` (pass the page's ``colors`` map so a
category looks the same here as on every other page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interest_core.charts.style import PALETTE, color_for, empty_figure, period_label, styled

MODEL_COLOR, BASELINE_COLOR, RANDOM_COLOR = PALETTE[0], PALETTE[1], "#9E9E9E"
RISING_COLOR, FALLING_COLOR = "#54A24B", "#E45756"


def _hex_rgba(color: str, alpha: float) -> str:
    h = color.lstrip("#")
    return f"rgba({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)}, {alpha})"


# -- churn ---------------------------------------------------------------------------------------

def risk_histogram(risk: pd.DataFrame, threshold: float | None = None, horizon_text: str = "next period") -> go.Figure:
    """How many active users sit at each churn risk (``risk`` from ChurnModel.predict_risk)."""
    title = f"Churn risk, {horizon_text}"
    if risk.empty:
        return empty_figure(title, "no active users to score")
    # Risks are often all under 20%: zoom to where users are (and the threshold), 30-ish bins.
    top = min(100.0, max(float(risk["risk"].max()), threshold or 0.0) * 100 * 1.05)
    size = max(0.5, float(np.ceil(top / 30 * 2) / 2))
    fig = go.Figure(go.Histogram(x=risk["risk"] * 100, xbins={"start": 0, "end": top + size, "size": size},
                                 marker_color=MODEL_COLOR, name="users",
                                 hovertemplate="risk %{x}%<br>%{y} users<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold * 100, line_dash="dash", line_color=FALLING_COLOR,
                      annotation_text=f"high risk ≥ {threshold:.0%}", annotation_position="top right")
    fig.update_xaxes(range=[0, top + size])
    return styled(fig, title, "churn risk (%)", "active users", legend=False)


def reliability_chart(table: pd.DataFrame) -> go.Figure:
    """Predicted vs observed churn rate per risk bin (``churn.reliability_table``): on the diagonal = calibrated."""
    title = "Calibration (backtest)"
    if table.empty:
        return empty_figure(title, "no backtest to show")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="perfect calibration",
                             line={"dash": "dot", "color": RANDOM_COLOR}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=table["p_mean"] * 100, y=table["observed"] * 100, mode="lines+markers", name="model",
        marker={"size": np.clip(np.sqrt(table["n"].to_numpy(dtype=float)), 6, 18), "color": MODEL_COLOR},
        customdata=table["n"], hovertemplate="predicted %{x:.1f}%<br>observed %{y:.1f}%<br>%{customdata} users"
                                              "<extra></extra>"))
    top = float(max(table["p_mean"].max(), table["observed"].max()) * 100 * 1.1) or 100.0
    fig.update_xaxes(range=[0, min(top, 100)])
    fig.update_yaxes(range=[0, min(top, 100)])
    return styled(fig, title, "predicted churn risk (%)", "observed churn rate (%)")


def top_risk_table(risk: pd.DataFrame, dataset: str, n: int = 100) -> pd.DataFrame:
    """The n riskiest users for display: risk in %, reasons, and a relative link to the User page."""
    top = risk.head(n)
    return pd.DataFrame({
        "user_id": top["user_id"].astype(str),
        "risk_pct": (top["risk"] * 100).round(1),
        "inactive_periods": top["recency"].astype(int),
        "reasons": top["reasons"],
        "open": [f"user?user={quote(str(u))}&dataset={quote(dataset)}" for u in top["user_id"]],
    })


# -- promotions ----------------------------------------------------------------------------------

def gains_chart(curve: pd.DataFrame, category: str) -> go.Figure:
    """Expected engaged users vs list length (``promotions.reach_curve``), against a random list."""
    title = f"Expected reach ({category})"
    if curve.empty:
        return empty_figure(title, "no users to rank")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["list_size"], y=curve["expected_engaged"], mode="lines", name="ranked by model",
                             line={"color": MODEL_COLOR, "width": 3},
                             customdata=curve["reach_share"] * 100,
                             hovertemplate="%{x} users listed<br>%{y:.1f} expected to engage"
                                           "<br>%{customdata:.0f}% of all expected<extra></extra>"))
    fig.add_trace(go.Scatter(x=curve["list_size"], y=curve["random_expected"], mode="lines", name="random list",
                             line={"color": RANDOM_COLOR, "dash": "dot"},
                             hovertemplate="%{x} users<br>%{y:.1f} expected<extra></extra>"))
    return styled(fig, title, "list size (users)", "expected engaged users")


def lift_chart(table: pd.DataFrame, category: str, model_name: str = "model list") -> go.Figure:
    """Backtested hits of the model's list vs the recency list (and a random list) by list size."""
    title = f"Backtest: engaged users in the top N ({category})"
    if table.empty:
        return empty_figure(title, "no backtest to show")
    sizes = table["list_size"].astype(str)
    fig = go.Figure()
    bars = (("model_hits", model_name, MODEL_COLOR), ("recency_hits", "recency list", BASELINE_COLOR),
            ("random_hits", "random list (expected)", RANDOM_COLOR))
    for col, name, color in bars:
        fig.add_trace(go.Bar(x=sizes, y=table[col], name=name, marker_color=color,
                             hovertemplate="top %{x}: %{y:.0f} engaged<extra>" + name + "</extra>"))
    fig = styled(fig, title, "list size N (summed over backtest cutoffs)", "users who engaged")
    fig.update_layout(barmode="group", legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.25,
                                               "yanchor": "top"}, margin={"b": 110})
    return fig


# -- demand --------------------------------------------------------------------------------------

def demand_chart(history: pd.DataFrame, forecast: pd.DataFrame, freq: str, *, level: int = 80,
                 colors: Mapping[str, str] | None = None, categories: Sequence[str] | None = None,
                 history_periods: int = 26, what: str = "category") -> go.Figure:
    """History (solid) and forecast (dashed) of each category's demand, with a ``level``% interval band.

    The title says the span really drawn (``history_periods`` or fewer when the log is shorter);
    ``what`` names the series ('segment' for demand per segment).
    """
    unit = period_label(freq)
    start = history["period"].drop_duplicates().nlargest(history_periods).min() if not history.empty else None
    active = history.loc[history["y"] > 0, "period"] if not history.empty else history["period"]
    if start is not None and not active.empty:  # no flat stretch of zeros before the data (stray early events)
        start = max(start, active.min())
    shown = int(history.loc[history["period"] >= start, "period"].nunique()) if start is not None else 0
    span = f"last {shown} {unit}s" if shown != 1 else f"last {unit}"
    title = f"Demand by {what}: {span} and forecast ({level}% interval)"
    if history.empty and forecast.empty:
        return empty_figure(title, "nothing to forecast")
    cats = list(categories) if categories is not None else list(dict.fromkeys(history["category"].astype(str)))
    lo, hi = f"lo_{level}", f"hi_{level}"
    fig = go.Figure()
    for cat in cats:
        color = color_for(cat, colors)
        hist = history[(history["category"].astype(str) == cat) & (history["period"] >= start)]
        fut = forecast[forecast["category"].astype(str) == cat].sort_values("period")
        fig.add_trace(go.Scatter(x=hist["period"], y=hist["y"], mode="lines", name=cat, legendgroup=cat,
                                 line={"color": color}, hovertemplate=f"{cat}<br>%{{x|%Y-%m-%d}}: %{{y:,.0f}}"
                                                                       "<extra>actual</extra>"))
        if fut.empty:
            continue
        if lo in fut and hi in fut:
            fig.add_trace(go.Scatter(
                x=list(fut["period"]) + list(fut["period"][::-1]), y=list(fut[hi]) + list(fut[lo][::-1]),
                mode="lines", fill="toself", fillcolor=_hex_rgba(color, 0.15), line={"width": 0}, legendgroup=cat,
                showlegend=False, hoverinfo="skip", name=f"{cat} {level}%"))
        joined = pd.concat([hist.tail(1)[["period", "y"]].rename(columns={"y": "yhat"}), fut[["period", "yhat"]]])
        fig.add_trace(go.Scatter(x=joined["period"], y=joined["yhat"], mode="lines", legendgroup=cat,
                                 showlegend=False, line={"color": color, "dash": "dash"}, name=f"{cat} forecast",
                                 hovertemplate=f"{cat}<br>%{{x|%Y-%m-%d}}: %{{y:,.0f}}<extra>forecast</extra>"))
    fig = styled(fig, title, f"{unit} (period start, UTC)", f"interest per {unit} (weighted events)", height=520)
    # Legend under the axis title: six long group names beside the title would wrap into it.
    fig.update_layout(legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.3, "yanchor": "top"},
                      margin={"b": 150})
    return fig


def rising_falling_chart(trends: pd.DataFrame, *, top: int = 12) -> go.Figure:
    """Change in interest per period, recent window vs the one before; significant movers coloured."""
    title = "Rising and falling categories (recent vs previous window)"
    if trends.empty:
        return empty_figure(title, "no category with enough users")
    moved = trends.reindex(trends["change_pct"].abs().sort_values(ascending=False).index).head(top)
    if len(trends) > top:  # say so: a category left out of the bars is still in the table
        title = f"Rising and falling: the {top} largest changes of {len(trends)} categories"
    moved = moved.sort_values("change_pct")
    color = np.where(moved["trend"] == "rising", RISING_COLOR,
                     np.where(moved["trend"] == "falling", FALLING_COLOR, RANDOM_COLOR))
    fig = go.Figure(go.Bar(
        x=moved["change_pct"] * 100, y=moved["category"].astype(str), orientation="h", marker_color=color,
        customdata=np.column_stack([moved["z"], moved["trend"], moved["users_recent"]]),
        hovertemplate="%{y}: %{x:+.0f}%<br>z = %{customdata[0]:.1f} (%{customdata[1]})"
                      "<br>%{customdata[2]} users lately<extra></extra>"))
    fig.add_vline(x=0, line_color="#444")
    return styled(fig, title, "change in interest per period (%; grey = within noise)", "category", legend=False,
                  height=max(300, 28 * len(moved) + 120))
