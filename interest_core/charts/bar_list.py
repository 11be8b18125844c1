"""A bar list in plain HTML: one row per item, its label, a bar and its value, for a handful of counts.

The Data page, the one a fresh server opens on, draws its behaviour mix this way: the browser lays it out with
no chart library, so the first chart does not wait for plotly's 4.7 MB module to be fetched and evaluated
(about a second of the browser's main thread, the larger part of a cold start: bench/cold_start.py). The
markup uses only inline styles and no script, so it renders as Streamlit's ``st.html`` sanitises it; every
label and title is HTML-escaped. Each bar's ``title`` is its tooltip.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from interest_core.charts.style import BEHAVIOR_COLORS, BEHAVIOR_LABELS
from interest_core.ingest.formats import BEHAVIORS

CHART_ATTRIBUTE = 'data-chart="bar-list"'  # what tests and bench/cold_start.py find the chart by
MIN_BAR_PERCENT = 0.4  # a non-zero count stays visible beside a count hundreds of times larger
_TRACK = "background:rgba(49,51,63,0.08);border-radius:3px;height:1.35rem"
_NUMBER = "font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap"


@dataclass(frozen=True)
class Bar:
    """One row: ``label``, a non-negative ``value``, its colour and the text shown after the bar."""

    label: str
    value: float
    color: str
    text: str


def bar_list_html(title: str, bars: Sequence[Bar], unit: str, empty_message: str = "no events to draw") -> str:
    """The bar list as one HTML fragment: bars scaled to the largest value (0 at the left edge)."""
    heading = f'<figcaption style="font-weight:600;margin:0 0 0.5rem 0">{html.escape(title)}</figcaption>'
    if any(bar.value < 0 for bar in bars):
        raise ValueError(f"{title}: a bar list draws counts; a value is negative")
    top = max((bar.value for bar in bars), default=0)
    if top <= 0:
        body = f'<p style="color:rgba(49,51,63,0.6);margin:0">{html.escape(empty_message)}</p>'
    else:
        rows = [_row(bar, top, unit) for bar in bars]
        body = ('<div style="display:grid;grid-template-columns:max-content minmax(6rem,1fr) max-content;'
                f'gap:0.4rem 0.75rem;align-items:center">{"".join(rows)}</div>')
    return (f'<figure {CHART_ATTRIBUTE} role="group" aria-label="{html.escape(title)}" '
            f'style="margin:0 0 1rem 0">{heading}{body}</figure>')


def _row(bar: Bar, top: float, unit: str) -> str:
    label, text = html.escape(bar.label), html.escape(bar.text)
    width = 0.0 if bar.value == 0 else max(MIN_BAR_PERCENT, 100 * bar.value / top)
    tooltip = html.escape(f"{bar.label}: {bar.value:,.0f} {unit}", quote=True)
    return (f"<span>{label}</span>"
            f'<div style="{_TRACK}"><div class="ic-bar" title="{tooltip}" '
            f'style="width:{width:.2f}%;height:100%;background:{html.escape(bar.color)};border-radius:3px">'
            f"</div></div>"
            f'<span style="{_NUMBER}">{text}</span>')


def behavior_mix_bars(behaviors: Mapping[str, int]) -> str:
    """Events per behaviour (a dataset's ``describe()['behaviors']``), with each one's share of the events."""
    present = [b for b in BEHAVIORS if behaviors.get(b)]
    total = sum(int(behaviors[b]) for b in present)
    bars = [Bar(BEHAVIOR_LABELS[b], int(behaviors[b]), BEHAVIOR_COLORS[b],
                f"{int(behaviors[b]):,} · {int(behaviors[b]) / total:.1%}") for b in present]
    return bar_list_html("Behaviour mix: events per behaviour", bars, "events")
