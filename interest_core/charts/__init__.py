"""Plotly figure builders (no Streamlit). One module per theme; shared look in ``style``.

    from interest_core import charts
    fig = charts.activity_chart(panel.activity_over_time(source, "W"), "W")

Later themes (forecasts, migration, segments ...) add a module here and re-export below.
"""

from interest_core.charts.overview import activity_chart, behavior_mix_chart, funnel_chart, top_categories_chart
from interest_core.charts.style import (
    BEHAVIOR_COLORS,
    OTHER,
    OTHER_COLOR,
    PALETTE,
    category_colors,
    empty_figure,
    styled,
)

__all__ = [
    "BEHAVIOR_COLORS", "OTHER", "OTHER_COLOR", "PALETTE", "activity_chart", "behavior_mix_chart",
    "category_colors", "empty_figure", "funnel_chart", "styled", "top_categories_chart",
]
