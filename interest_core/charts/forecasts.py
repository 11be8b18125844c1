"""Forecasts and Scoring page charts (plotly, no Streamlit).

Inputs: leaderboards and tier frames of ``interest_core.views.forecasts``, backtest forecasts
(``BacktestResult.forecasts`` or a saved backtest's), a series history (period, y), and the
``ScoringResult`` frames of ``interest_core.forecasting.scoring``. Each model keeps one colour everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interest_core.charts.style import (
    BEHAVIOR_COLORS,
    PALETTE,
    color_for,
    empty_figure,
    period_label,
    styled,
)

ACTUAL_COLOR, FUTURE_COLOR, CUTOFF_COLOR = "#333333", "#7F3C8D", "#9E9E9E"
METRIC_LABELS: dict[str, str] = {
    "auc": "AUC", "hit_rate@5": "HitRate@5", "ndcg@5": "NDCG@5", "hit_rate@10": "HitRate@10", "ndcg@10": "NDCG@10",
    "brier": "Brier", "mae_user_total": "MAE of user totals", "mae": "MAE", "rmse": "RMSE", "smape": "sMAPE (%)",
    "mase": "MASE", "coverage_80": "coverage 80%", "coverage_95": "coverage 95%", "width_80": "width 80%",
    "width_95": "width 95%",
}
# Length of one period, for axis ranges and padding.
PERIOD_LENGTH: dict[str, pd.Timedelta] = {
    "h": pd.Timedelta(hours=1), "D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7), "M": pd.Timedelta(days=30),
}
# Lines of one model's forecasts per fold: oldest light, latest dark.
FOLD_ALPHA = (0.35, 1.0)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha:.2f})"


# One colour per registered model, all different (the registry's order); other names hash into the rest.
MODEL_ORDER: tuple[str, ...] = ("last_value", "seasonal_naive", "window_mean", "recency_decay", "arima", "lstm")
MODEL_COLORS: dict[str, str] = {name: PALETTE[i] for i, name in enumerate(MODEL_ORDER)}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def model_color(model: str) -> str:
    """The model's own colour in every chart (``MODEL_COLORS``; unknown names: a colour from the rest)."""
    return MODEL_COLORS.get(model) or color_for(model, None)


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "–"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


# -- leaderboard ---------------------------------------------------------------------------------

def leaderboard_heatmap(table: pd.DataFrame, good: pd.DataFrame, title: str) -> go.Figure:
    """model x metric heat table: colour = how good within the column (green best), text = the value, ★ = best."""
    if table.empty:
        return empty_figure(title, "no models in this backtest")
    text = []
    for model in table.index:
        row = []
        for metric in table.columns:
            value = float(table.at[model, metric])
            best = good[metric].notna().any() and good.at[model, metric] == good[metric].max()
            row.append(("★ " if best else "") + _fmt(value))
        text.append(row)
    fig = go.Figure(go.Heatmap(
        z=good.to_numpy(dtype=float), x=[metric_label(str(m)) for m in table.columns], y=list(table.index.astype(str)),
        text=text, texttemplate="%{text}", textfont={"size": 13}, zmin=0, zmax=1, showscale=False,
        colorscale=[[0, "#F4C7C3"], [0.5, "#FFF2CC"], [1, "#B7E1CD"]], xgap=2, ygap=2,
        customdata=table.to_numpy(dtype=float),
        hovertemplate="%{y} · %{x}: %{customdata:,.4f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    styled(fig, title, None, None, height=120 + 44 * len(table), legend=False)
    fig.update_layout(margin={"l": 130, "r": 20, "t": 100, "b": 20})
    return fig


def tier_chart(frame: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """One metric per activity tier (and over all series), a bar per model."""
    if frame.empty:
        return empty_figure(title, "this backtest has no activity tiers")
    order = [s for s in ("all", "light", "medium", "heavy") if s in set(frame["segment"])]
    fig = go.Figure()
    for model in pd.unique(frame["model"].astype(str)):
        part = frame[frame["model"].astype(str) == model].set_index("segment").reindex(order)
        fig.add_trace(go.Bar(x=order, y=part["value"].to_numpy(dtype=float), name=model,
                             marker_color=model_color(model),
                             hovertemplate=f"{model}<br>%{{x}}: %{{y:,.4f}}<extra></extra>"))
    fig.update_layout(barmode="group")
    return styled(fig, title, "users' activity tier (terciles of training interest)", metric_label(metric))


# -- predicted vs actual ------------------------------------------------------------------------

def _band(fig: go.Figure, x: pd.Series, lo: pd.Series, hi: pd.Series, color: str, name: str, show: bool,
          group: str) -> None:
    fig.add_trace(go.Scatter(
        x=list(x) + list(x)[::-1], y=list(hi) + list(lo)[::-1], fill="toself", fillcolor=color, mode="lines",
        line={"width": 0}, name=name, legendgroup=group, showlegend=show, hoverinfo="skip"))


def _with_steps(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``step``: how many periods after its fold's cutoff each forecast is (1 = the next period)."""
    rows = rows.sort_values(["fold", "period"])
    return rows.assign(step=rows.groupby("fold").cumcount().to_numpy() + 1)


def predicted_vs_actual_chart(history: pd.DataFrame, forecasts: pd.DataFrame, model: str, freq: str, *,
                              step: int | None = None, levels: Sequence[int] = (80, 95), series_name: str = "",
                              future: pd.DataFrame | None = None, future_name: str = "saved model",
                              context: int = 16) -> go.Figure:
    """The actual series against ``model``'s backtest forecasts, the fold cutoffs as dashed lines and, when
    given, a saved model's forecast of the next periods (all with 80/95% bands).

    ``step`` None: each fold's forecast path (bands of the latest fold only, so they do not pile up);
    ``step`` k: the forecasts made k periods ahead, one per fold, joined into one line with its bands.
    The x-axis opens on the backtest with ``context`` periods before it (zoom out to see all).
    ``history``: period, y. ``forecasts``: unique_id, period, model, yhat, lo_/hi_<L>, y, fold, cutoff.
    """
    what = "each fold's path" if step is None else f"{step} {period_label(freq)}{'s' if step > 1 else ''} ahead"
    title = f"Predicted vs actual{': ' + series_name if series_name else ''} ({model}, {what})"
    rows = forecasts[forecasts["model"].astype(str) == model] if not forecasts.empty else forecasts
    if history.empty and rows.empty:
        return empty_figure(title, "no history or backtest for this series")
    color = model_color(model)
    fig = go.Figure()
    if not history.empty:
        fig.add_trace(go.Scatter(x=history["period"], y=history["y"], mode="lines", name="actual",
                                 line={"color": ACTUAL_COLOR, "width": 1.6},
                                 hovertemplate="actual %{x|%Y-%m-%d}: %{y:,.1f}<extra></extra>"))
    rows = _with_steps(rows) if not rows.empty else rows
    if rows.empty:
        paths: list[pd.DataFrame] = []
    elif step is None:
        paths = [rows[rows["fold"] == f] for f in sorted(rows["fold"].unique())]
    else:
        paths = [rows[rows["step"] == step]]
    for i, part in enumerate(paths):
        latest = i == len(paths) - 1
        if latest:  # bands under the lines
            for lv, alpha in zip(sorted(levels, reverse=True), (0.12, 0.24), strict=False):
                if f"lo_{lv}" in part and part[f"lo_{lv}"].notna().all():
                    _band(fig, part["period"], part[f"lo_{lv}"], part[f"hi_{lv}"], _rgba(color, alpha),
                          f"{lv}% interval", True, f"band{lv}")
        alpha = FOLD_ALPHA[0] + (FOLD_ALPHA[1] - FOLD_ALPHA[0]) * (i / max(len(paths) - 1, 1))
        fig.add_trace(go.Scatter(
            x=part["period"], y=part["yhat"], mode="lines+markers", name=f"{model} forecast", legendgroup="fc",
            showlegend=latest, line={"color": _rgba(color, alpha), "width": 2}, marker={"size": 6},
            customdata=np.stack([part["fold"] + 1, part["step"], part["y"]], axis=1),
            hovertemplate="%{x|%Y-%m-%d}: forecast %{y:,.1f}, actual %{customdata[2]:,.1f}"
                          "<br>fold %{customdata[0]:.0f}, %{customdata[1]:.0f} ahead<extra></extra>"))
    if future is not None and not future.empty:
        future = future.sort_values("period")
        for lv, alpha in zip(sorted(levels, reverse=True), (0.12, 0.24), strict=False):
            if f"lo_{lv}" in future:
                _band(fig, future["period"], future[f"lo_{lv}"], future[f"hi_{lv}"], _rgba(FUTURE_COLOR, alpha),
                      f"{future_name} {lv}%", False, f"future{lv}")
        fig.add_trace(go.Scatter(x=future["period"], y=future["yhat"], mode="lines+markers",
                                 name=f"{future_name}: next {period_label(freq)}s",
                                 line={"color": FUTURE_COLOR, "width": 2, "dash": "dot"},
                                 hovertemplate="forecast %{x|%Y-%m-%d}: %{y:,.1f}<extra></extra>"))
    cutoffs = sorted(pd.unique(rows["cutoff"])) if not rows.empty else []
    for cutoff in cutoffs:
        fig.add_vline(x=pd.Timestamp(cutoff), line_dash="dash", line_color=CUTOFF_COLOR, line_width=1)
    if cutoffs:
        fig.add_annotation(x=pd.Timestamp(cutoffs[0]), y=1.0, yref="paper", yanchor="top", xanchor="right",
                           text=f"{len(cutoffs)} fold cutoffs ", showarrow=False, font={"size": 11, "color": "#666"})
        one = PERIOD_LENGTH.get(freq, pd.Timedelta(days=1))
        ends = [rows["period"].max(), *([] if future is None or future.empty else [future["period"].max()])]
        start = pd.Timestamp(cutoffs[0]) - one * context
        if not history.empty:  # never open on empty months before the first period of data
            start = max(start, pd.Timestamp(history["period"].min()) - one * 0.4)
        fig.update_xaxes(range=[start, max(ends) + one * 0.6])
    styled(fig, title, f"{period_label(freq)} starting (UTC)", f"interest per {period_label(freq)}", height=460)
    # Legend under the plot: five or six entries beside a long title would run into it.
    fig.update_layout(legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.18, "yanchor": "top"},
                      margin={"b": 90})
    return fig


def residuals_chart(res: pd.DataFrame, model: str, freq: str) -> go.Figure:
    """Actual minus forecast per backtest period, coloured by how many periods ahead it was forecast."""
    title = f"Residuals of {model} (actual − forecast), by periods ahead"
    if res.empty:
        return empty_figure(title, "no backtest forecasts to compare")
    fig = go.Figure()
    for step in sorted(res["step"].unique()):
        part = res[res["step"] == step]
        fig.add_trace(go.Scatter(
            x=part["period"], y=part["residual"], mode="markers", name=f"{int(step)} ahead",
            marker={"size": 8, "color": PALETTE[(int(step) - 1) % len(PALETTE)], "opacity": 0.8},
            customdata=np.stack([part["y"], part["yhat"], part["fold"] + 1], axis=1),
            hovertemplate="%{x|%Y-%m-%d}: actual %{customdata[0]:,.1f}, forecast %{customdata[1]:,.1f}"
                          "<br>fold %{customdata[2]:.0f}<extra></extra>"))
    fig.add_hline(y=0, line_color="#888", line_width=1)
    mean = float(res["residual"].mean())
    title += f"; mean {mean:+,.1f} ({'under' if mean > 0 else 'over'}-forecast on average)"
    return styled(fig, title, f"{period_label(freq)} starting (UTC)", f"residual (interest per {period_label(freq)})",
                  height=340)


# -- scoring -------------------------------------------------------------------------------------

def drift_chart(drift: pd.DataFrame) -> go.Figure:
    """Behaviour mix of the training data vs the scored file, with the mix's PSI and flag in the title."""
    title = "Drift: behaviour mix, training vs scored file"
    mix = drift[(drift["aspect"] == "behavior_mix") & (drift["item"] != "PSI")] if not drift.empty else drift
    if mix.empty:
        return empty_figure(title, "the model has no training profile to compare with")
    psi = drift[(drift["aspect"] == "behavior_mix") & (drift["item"] == "PSI")]
    if not psi.empty:
        title += f" (PSI {float(psi['psi'].iloc[0]):.3f}: {psi['flag'].iloc[0]})"
    fig = go.Figure()
    for column, name, opacity in (("training", "training", 0.55), ("scored", "scored file", 1.0)):
        values = 100 * mix[column].astype(float)
        fig.add_trace(go.Bar(
            x=mix["item"], y=values, name=name, opacity=opacity, text=[f"{v:.1f}%" for v in values],
            textposition="outside", marker_color=[BEHAVIOR_COLORS.get(str(b), PALETTE[0]) for b in mix["item"]],
            marker_pattern_shape="" if column == "scored" else "/",
            hovertemplate=f"{name}<br>%{{x}}: %{{y:.2f}}% of events<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 112])
    return styled(fig, title, "behaviour (hatched: training)", "share of events (%)", height=340)


def score_histogram(scores: pd.DataFrame) -> go.Figure:
    """How engagement probabilities spread over pairs, known users vs cold-start users."""
    title = "Engagement probability of every (user, category) pair"
    if scores.empty:
        return empty_figure(title, "nothing was scored")
    fig = go.Figure()
    for cold, name, color in ((False, "known users", PALETTE[0]), (True, "new users (cold start)", PALETTE[1])):
        part = scores[scores["cold_start"] == cold]
        if part.empty:
            continue
        fig.add_trace(go.Histogram(x=100 * part["p_engage"].astype(float), name=name, marker_color=color,
                                   xbins={"start": 0, "end": 100, "size": 5}, opacity=0.8,
                                   hovertemplate=f"{name}<br>%{{x}}%: %{{y}} pairs<extra></extra>"))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(range=[0, 100])
    return styled(fig, title, "P(engages in the horizon) (%)", "pairs", height=340)
