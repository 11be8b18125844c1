"""Plotly figure builders (no Streamlit). One module per theme; shared look in ``style``. ``bar_list`` draws a
few counts as plain HTML (the Data page: no chart library on the page a fresh server opens).

    from interest_core import charts
    fig = charts.activity_chart(panel.activity_over_time(source, "W"), "W")

Later themes (forecasts, migration, segments ...) add a module here and re-export below.
"""

from interest_core.charts.bar_list import behavior_mix_bars
from interest_core.charts.forecasts import (
    drift_chart,
    leaderboard_heatmap,
    predicted_vs_actual_chart,
    residuals_chart,
    score_histogram,
    tier_chart,
)
from interest_core.charts.migration import (
    forecast_vs_actual_chart,
    migration_heatmap,
    sankey_chart,
    top_flows_chart,
)
from interest_core.charts.overview import activity_chart, per_behavior_chart, top_categories_chart
from interest_core.charts.segments import projection_chart, segment_sizes_chart, segment_traits_chart
from interest_core.charts.style import (
    BEHAVIOR_COLORS,
    OTHER,
    OTHER_COLOR,
    PALETTE,
    category_colors,
    empty_figure,
    styled,
)
from interest_core.charts.user import (
    diversity_chart,
    long_short_chart,
    recommendations_chart,
    user_forecast_chart,
    user_shares_chart,
)

__all__ = [
    "BEHAVIOR_COLORS", "OTHER", "OTHER_COLOR", "PALETTE", "activity_chart", "behavior_mix_bars", "category_colors",
    "diversity_chart", "drift_chart", "empty_figure", "forecast_vs_actual_chart", "leaderboard_heatmap",
    "long_short_chart", "migration_heatmap", "per_behavior_chart", "predicted_vs_actual_chart", "projection_chart",
    "recommendations_chart", "residuals_chart", "sankey_chart", "score_histogram", "segment_sizes_chart",
    "segment_traits_chart", "styled", "tier_chart", "top_categories_chart", "top_flows_chart", "user_forecast_chart",
    "user_shares_chart",
]
