"""Chart builders: titled, axis units, data in every trace; category colours stable and distinct."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from interest_core import charts
from interest_core.charts.style import OTHER_COLOR, PALETTE, PRIMARY, palette_slot


def test_category_colors_are_deterministic_and_other_is_grey() -> None:
    names = ["Phones", "Shoes", "other", "Kitchen"]
    first = charts.category_colors(names)
    assert first == charts.category_colors(names)
    assert first["other"] == OTHER_COLOR
    assert set(first.values()) - {OTHER_COLOR} <= set(PALETTE)
    # A name that meets no collision keeps its hash slot in any company.
    assert charts.category_colors(["Phones"])["Phones"] == PALETTE[palette_slot("Phones", 0, PRIMARY)]
    assert palette_slot("Phones") == palette_slot("Phones")  # blake2b, not the salted hash()


def test_the_most_engaged_categories_take_the_primary_hues() -> None:
    names = ["other", *(f"cat{i}" for i in range(12))]
    colors = charts.category_colors(names)
    first = [colors[f"cat{i}"] for i in range(PRIMARY)]
    assert sorted(first) == sorted(PALETTE[:PRIMARY])  # all nine, each once: 'other' takes none
    assert all(colors[f"cat{i}"] in PALETTE[PRIMARY:] for i in range(PRIMARY, 12))


def _lab(hex_color: str) -> tuple[float, float, float]:
    """sRGB hex -> CIE L*a*b* (D65)."""
    def linear(c: float) -> float:
        return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92

    r, g, b = (linear(int(hex_color[i:i + 2], 16) / 255) for i in (1, 3, 5))
    xyz = ((r * 0.4124 + g * 0.3576 + b * 0.1805) / 0.95047, r * 0.2126 + g * 0.7152 + b * 0.0722,
           (r * 0.0193 + g * 0.1192 + b * 0.9505) / 1.08883)
    fx, fy, fz = (c ** (1 / 3) if c > 0.008856 else 7.787 * c + 16 / 116 for c in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def test_no_two_palette_colours_look_alike() -> None:
    colours = [*PALETTE, OTHER_COLOR]
    assert len(set(colours)) == len(colours)
    for i, a in enumerate(colours):
        for b in colours[i + 1:]:
            delta_e = sum((p - q) ** 2 for p, q in zip(_lab(a), _lab(b), strict=True)) ** 0.5
            assert delta_e >= 20, (a, b, round(delta_e, 1))


def test_colors_are_distinct_within_one_call_while_the_palette_lasts() -> None:
    names = [f"cat{i}" for i in range(len(PALETTE))]
    colors = charts.category_colors(names)
    assert len(set(colors.values())) == len(PALETTE)
    more = charts.category_colors([*names, "one more"])
    assert more["one more"] in PALETTE


def _activity() -> pd.DataFrame:
    periods = pd.date_range("2024-01-01", periods=4, freq="W-MON")
    rows = [(p, b, n) for p in periods for b, n in (("view", 100), ("cart", 10), ("buy", 3))]
    return pd.DataFrame(rows, columns=["period", "behavior", "events"])


def test_activity_chart_has_one_panel_per_behaviour_with_units() -> None:
    fig = charts.activity_chart(_activity(), "W")
    assert [t.name for t in fig.data] == ["view", "add to cart", "buy"]
    assert all(len(t.y) == 4 for t in fig.data)
    assert "events per week" in fig.layout.title.text
    titles = [fig.layout[a].title.text for a in fig.layout if a.startswith("yaxis") and fig.layout[a].title.text]
    assert titles == ["events per week"]


def test_funnel_keeps_stage_order_and_fills_missing_stages() -> None:
    funnel = pd.DataFrame({"behavior": ["buy", "view", "cart"], "events": [5, 100, 20], "users": [2, 10, 4]})
    fig = charts.per_behavior_chart(funnel)
    assert list(fig.data[0].y) == ["view", "favourite", "add to cart", "buy"]
    assert list(fig.data[0].x) == [10, 0, 4, 2]


def test_top_categories_stack_with_other_grey_at_the_bottom() -> None:
    periods = pd.date_range("2024-01-01", periods=3, freq="D")
    top = pd.DataFrame([(p, c, v) for p in periods for c, v in (("A", 5.0), ("B", 9.0), ("other", 20.0))],
                       columns=["period", "category", "interest"])
    fig = charts.top_categories_chart(top, "D")
    assert [t.name for t in fig.data] == ["other", "A", "B"]
    assert fig.data[0].line.color == OTHER_COLOR
    assert fig.layout.yaxis.title.text == "interest (weighted events) per day"
    share = charts.top_categories_chart(top, "D", share=True)
    assert share.data[0].groupnorm == "percent"
    given = charts.top_categories_chart(top, "D", colors={"A": "#000001", "B": "#000002"})
    assert [t.line.color for t in given.data] == [OTHER_COLOR, "#000001", "#000002"]


@pytest.mark.parametrize("build", [
    lambda: charts.activity_chart(pd.DataFrame(columns=["period", "behavior", "events"]), "W"),
    lambda: charts.per_behavior_chart(pd.DataFrame(columns=["behavior", "events", "users"])),
    lambda: charts.top_categories_chart(pd.DataFrame(columns=["period", "category", "interest"]), "W"),
])
def test_empty_input_gives_a_titled_figure_that_says_so(build) -> None:  # type: ignore[no-untyped-def]
    fig = build()
    assert fig.layout.title.text
    assert fig.layout.annotations[0].text == "no events to draw"


def test_labels_from_data_cannot_become_live_links() -> None:
    """Plotly renders <a href> in legends, ticks, hover data and titles: category names are escaped."""
    import plotly.graph_objects as go

    from interest_core.charts.style import styled

    evil = '<a href="https://evil.example/login">Claim your refund</a>'
    fig = go.Figure([
        go.Bar(x=[evil, "Shoes"], y=[1, 2], name=evil, customdata=[[evil, 1], ["Shoes", 2]],
               hovertemplate="%{customdata[0]}<extra></extra>"),
        go.Sankey(node={"label": [evil, "Shoes"]}, link={"source": [0], "target": [1], "value": [1]}),
    ])
    out = styled(fig, f"Users who moved to {evil}", None, None)
    bar, sankey = out.data
    shown = [bar.name, *bar.x, *[row[0] for row in bar.customdata], *sankey.node.label, out.layout.title.text]
    assert not [s for s in shown if "<a" in s], shown
    assert bar.name == '&lt;a href="https://evil.example/login"&gt;Claim your refund&lt;/a&gt;'
    assert "Shoes" in bar.x and bar.customdata[1][1] == 2  # plain labels and numbers untouched
    assert bar.hovertemplate == "%{customdata[0]}<extra></extra>"  # our own hover markup is kept


def test_users_per_behaviour_adds_ratings_where_the_log_has_them() -> None:
    counts = pd.DataFrame({"behavior": ["view", "buy", "rate"], "events": [100, 5, 7], "users": [10, 2, 3]})
    fig = charts.per_behavior_chart(counts, "events")
    assert list(fig.data[0].y) == ["view", "favourite", "add to cart", "buy", "rate"]
    assert list(fig.data[0].x) == [100, 0, 0, 5, 7]
    assert fig.layout.title.text == "Events per behaviour"


def test_behaviour_mix_bar_list_scales_to_the_largest_count_and_keeps_tiny_ones_visible() -> None:
    from interest_core.charts.bar_list import MIN_BAR_PERCENT

    markup = charts.behavior_mix_bars({"view": 900, "buy": 1, "cart": 99, "fav": 0})
    widths = [float(w) for w in re.findall(r'class="ic-bar"[^>]*style="width:([0-9.]+)%', markup)]
    assert widths == [100.0, 11.0, MIN_BAR_PERCENT]  # view, cart, buy: BEHAVIORS order, the zero left out
    assert "900 · 90.0%" in markup and "1 · 0.1%" in markup
    assert 'title="view: 900 events"' in markup and "favourite" not in markup


def test_bar_list_escapes_labels_and_says_when_empty() -> None:
    from interest_core.charts.bar_list import Bar, bar_list_html

    evil = '<img src=x onerror="alert(1)">'
    markup = bar_list_html(f"t {evil}", [Bar(evil, 3, "#000", evil)], "events")
    assert "<img" not in markup and "&lt;img" in markup
    assert "no events to draw" in charts.behavior_mix_bars({})
    with pytest.raises(ValueError, match="negative"):
        bar_list_html("t", [Bar("a", -1, "#000", "")], "events")
