"""Shared look of every chart: one colour per category, one per behaviour, titles and axis units.

``category_colors`` gives a category the same colour in every chart of the app: its slot in a
fixed qualitative palette is a stable hash (blake2b) of its name, within the primary hues for
the first names of the call and within the others for the rest. Two names whose hashes share a
slot would look alike: among the names of one call, a later one moves to the next free slot.
Pass the categories ranked by importance (most engaged first), and pass the same ranked list
(the dataset's: ``ui.queries.colors``) to every chart so colours are identical across the app.
``other`` is always grey.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interest_core.periods import PERIOD_LABEL, period_start

OTHER = "other"
OTHER_COLOR = "#9E9E9E"
# Fixed qualitative palette; every two colours (and the grey of 'other') differ by at least 20
# CIE76 Delta E (tests/test_charts.py). The first PRIMARY are Tableau 10 without its grey: the most
# engaged categories take those. The rest were picked from D3, Carto Bold and ColorBrewer hues
# that keep that distance from every colour before them.
PALETTE: tuple[str, ...] = (
    "#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D",
    "#7F3C8D", "#11A579", "#CF1C90", "#E73F74", "#008695", "#E377C2", "#8C2D04", "#2F4F4F", "#A6CEE3",
    "#FDBF6F", "#66A61E", "#000080", "#A6761D", "#CAB2D6",
)
PRIMARY = 9
BEHAVIOR_COLORS: dict[str, str] = {
    "view": "#4C78A8", "fav": "#E377C2", "cart": "#F58518", "buy": "#54A24B", "rate": "#7F3C8D",
}
BEHAVIOR_LABELS: dict[str, str] = {
    "view": "view", "fav": "favourite", "cart": "add to cart", "buy": "buy", "rate": "rate",
}
TEMPLATE = "plotly_white"
PERIOD_LENGTH: dict[str, pd.Timedelta] = {
    "h": pd.Timedelta(hours=1), "D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7), "M": pd.Timedelta(days=30),
}
MARKERS_UP_TO = 60  # points per line drawn with markers; longer lines are drawn plain


def palette_slot(name: str, lo: int = 0, hi: int = len(PALETTE)) -> int:
    """Stable slot of a name in PALETTE[lo:hi] (the same in every process, unlike hash())."""
    digest = hashlib.blake2b(str(name).encode("utf-8"), digest_size=8).digest()
    return lo + int.from_bytes(digest, "big") % (hi - lo)


def category_colors(categories: Iterable[object]) -> dict[str, str]:
    """Category name -> hex colour; deterministic, 'other' grey, distinct within the call while slots last.

    The first PRIMARY names (pass them most engaged first) hash into the primary hues, later ones
    into the rest, so the categories drawn on their own in charts never get two similar colours.
    """
    out: dict[str, str] = {}
    used: set[int] = set()
    for raw in categories:
        name = str(raw)
        if name in out:
            continue
        if name == OTHER:
            out[name] = OTHER_COLOR
            continue
        lo, hi = (0, PRIMARY) if len(out) - (OTHER in out) < PRIMARY else (PRIMARY, len(PALETTE))
        if all(i in used for i in range(lo, hi)):
            lo, hi = 0, len(PALETTE)  # tier full: any free slot, then repeats
        slot = palette_slot(name, lo, hi)
        if len(used) < len(PALETTE):
            while slot in used:
                slot = lo + (slot - lo + 1) % (hi - lo)
        used.add(slot)
        out[name] = PALETTE[slot]
    return out


def color_for(name: str, colors: Mapping[str, str] | None) -> str:
    if colors and name in colors:
        return colors[name]
    # A name outside the page's map: a secondary hue, never one of the top categories' colours.
    return OTHER_COLOR if name == OTHER else PALETTE[palette_slot(name, PRIMARY, len(PALETTE))]


def period_label(freq: str) -> str:
    """'week' for W, 'day' for D ... (for axis titles such as 'events per week')."""
    return PERIOD_LABEL.get(freq, freq)


def per_period(what: str, freq: str) -> str:
    return f"{what} per {period_label(freq)}"


# Metric keys as a person reads them (tables, captions, tooltips): never a raw snake_case name.
METRIC_NAMES: dict[str, str] = {
    "mae": "mean absolute error", "mase": "scaled error (MASE)", "rmse": "root mean squared error",
    "smape": "symmetric % error", "coverage_80": "share inside the 80% interval",
    "coverage_95": "share inside the 95% interval", "auc": "AUC", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC",
    "gauc": "AUC per user", "brier": "Brier score",
}


def metric_name(key: str) -> str:
    """The words for a metric key ('mase' -> 'scaled error (MASE)'); unknown keys lose their underscores."""
    return METRIC_NAMES.get(key, METRIC_NAMES.get(key.lower(), key.replace("_", " ")))


def significant(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits and thousands separators: 12,345 -> '12,300', 0.01234 -> '0.0123'."""
    if value != value:  # NaN
        return "n/a"
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value))))
    decimals = max(0, digits - 1 - exponent)
    rounded = round(float(value), digits - 1 - exponent)
    return f"{rounded:,.{decimals}f}"


def time_range(window: tuple[Any, Any] | None, freq: str) -> list[pd.Timestamp] | None:
    """An x-axis range showing the periods of ``window`` (None: let plotly fit all the data)."""
    if window is None:
        return None
    pad = PERIOD_LENGTH.get(freq, pd.Timedelta(days=1)) * 0.4
    return [period_start(window[0], freq) - pad, period_start(window[1], freq) + pad]


def plain_label(value: object) -> object:
    """A label that plotly shows as text: its pseudo-HTML (``<a href>``, ``<b>``, ...) is escaped.

    Plotly renders a subset of HTML in trace names, tick labels, hover text and titles, so a
    category named ``<a href="https://evil.example">refund</a>`` would be a live link in a legend.
    """
    if isinstance(value, str) and "<" in value:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


_LABEL_ATTRS: tuple[str, ...] = ("name", "text", "hovertext", "labels", "x", "y", "ids", "legendgrouptitle")


def _plain_labels(fig: go.Figure) -> None:
    """Escape every text label drawn from data (names, categories, node labels) in place."""
    for trace in fig.data:
        for attr in _LABEL_ATTRS:
            value = getattr(trace, attr, None) if attr in trace else None
            if isinstance(value, str):
                trace[attr] = plain_label(value)
            elif isinstance(value, (tuple, list, np.ndarray)) and any(
                    isinstance(v, str) and "<" in v for v in value):
                trace[attr] = [plain_label(v) for v in value]
        custom = getattr(trace, "customdata", None)
        if custom is not None:  # shown through hovertemplates (%{customdata[0]}): category names, user ids
            array = np.asarray(custom, dtype=object)
            if array.dtype == object and any(isinstance(v, str) and "<" in v for v in array.ravel()):
                trace.customdata = np.vectorize(plain_label, otypes=[object])(array)
        if trace.type == "sankey" and trace.node.label is not None:
            trace.node.label = [plain_label(v) for v in trace.node.label]


def styled(fig: go.Figure, title: str, x_title: str | None, y_title: str | None, *, height: int = 380,
           legend: bool = True) -> go.Figure:
    """Title, axis titles (with units), template and margins shared by every chart; labels from data
    are escaped (``plain_label``)."""
    _plain_labels(fig)
    title = str(plain_label(title))
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"}, template=TEMPLATE, height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50}, showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0, "title": None},
    )
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def empty_figure(title: str, message: str = "no events to draw") -> go.Figure:
    """A titled figure that says why it is empty (instead of blank axes)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 16, "color": "#666"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, title, None, None, height=260, legend=False)


def mark_partial(fig: go.Figure, partial: Iterable[Any], freq: str) -> go.Figure:
    """Shade the periods the data covers only in part (``periods.partial_periods``) across every row of a
    time chart, labelled 'partial <period>': a week with 4 days of data does not read as a drop."""
    half = PERIOD_LENGTH.get(freq, pd.Timedelta(days=1)) / 2
    for start in partial:
        at = pd.Timestamp(start)
        fig.add_shape(type="rect", xref="x", yref="paper", x0=at - half, x1=at + half, y0=0, y1=1,
                      fillcolor=OTHER_COLOR, opacity=0.18, line_width=0, layer="below")
        fig.add_annotation(x=at, xref="x", y=1, yref="paper", yanchor="bottom", showarrow=False,
                           text=f"partial {PERIOD_LABEL.get(freq, freq)}", font={"size": 11, "color": "#555"})
    return fig


TABLE_PERCENT = "%.1f%%"  # the one style of a share in a table column (prose uses text.percent)


def as_percent(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` with these share columns (0 to 1) in percent (0 to 100), to show as TABLE_PERCENT
    (Streamlit's own "percent" format varies the decimals: 7.85%, 58%)."""
    present = [c for c in columns if c in frame.columns]
    return frame.assign(**{c: frame[c].astype(float) * 100 for c in present})
