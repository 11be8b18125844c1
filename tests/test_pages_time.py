"""The frame's date range on the pages (issue 14, item 1): every query through the key reads only the
events of the picked periods, the range rides in the link, Overview compares totals with as many
periods before, and a partial last period (Tmall's week from 2013-08-12: 4 days) is shaded and said."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from interest_core import panel
from interest_core.periods import Window, period_start
from tests.apptest import app_store, check_clean, check_figures, figures, run_app, temp_store
from tests.conftest import IngestedStore

TIMEOUT = 120
OVERVIEW = "app_pages/overview.py"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, tmall_store: IngestedStore) -> Iterator[Path]:
    """A temp store holding the ingested Tmall log (the app adds the demo beside it)."""
    with temp_store(tmp_path_factory, "time") as path:
        shutil.copyfile(tmall_store.db, path)
        yield path


def _events_in(name: str, window: Window) -> int:
    source = panel.events_source(app_store(), name)
    return int(source.query(f"SELECT count(*) AS n FROM {{events}} WHERE {window.where('ts')}")["n"].iloc[0])


def _overview(**query: str) -> AppTest:
    """app.py with this link, then Overview (as a click in the sidebar)."""
    at = run_app(TIMEOUT, **query)
    at.switch_page(OVERVIEW).run()
    check_clean(at)
    return at


def _metrics(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.proto.delta or None) for m in at.metric}


def test_a_date_range_filters_every_total_and_is_compared_with_the_periods_before(db: Path) -> None:
    at = _overview(dataset="demo", freq="W", **{"from": "2024-06-05", "to": "2024-08-14"})
    slider = at.select_slider(key="w_dates")
    assert slider.value == ("2024-06-03", "2024-08-12")  # snapped to the weeks (Mondays) holding the dates
    assert (at.query_params["from"], at.query_params["to"]) == ("2024-06-03", "2024-08-12")
    window = Window.of_periods("2024-06-03", "2024-08-12", "W")
    shown = _metrics(at)
    assert shown["Events"][0] == f"{_events_in('demo', window):,}"
    before = _events_in("demo", window.previous("W"))
    now = _events_in("demo", window)
    assert shown["Events"][1] == f"{(now - before) / before:+.0%}"
    notes = " ".join(c.value for c in at.caption)
    assert "arrows: change against the previous 11 weeks (2024-03-18 to 2024-06-02)" in notes, notes
    top = figures(at)["top"]["data"]
    periods = {p for trace in top for p in trace["x"]}
    assert min(periods)[:10] == "2024-06-03" and max(periods)[:10] == "2024-08-12"

    span = panel.time_window(panel.events_source(app_store(), "demo"))
    whole = (f"{period_start(span['start'], 'W'):%Y-%m-%d}", f"{period_start(span['end'], 'W'):%Y-%m-%d}")
    slider.set_range(*whole).run()  # the whole span again: no range in the link, no delta
    check_clean(at)
    assert "from" not in at.query_params and "to" not in at.query_params
    assert all(delta is None for _, delta in _metrics(at).values()), _metrics(at)


def test_tmall_at_its_defaults_flags_the_partial_last_week(db: Path) -> None:
    at = _overview(dataset="tmall")
    assert at.selectbox(key="w_freq").value == "W"
    shown = _metrics(at)
    assert shown["Events"][0] == "182,880" and shown["Items"][0] == "n/a"
    figs = check_figures(at, {"activity", "behaviours", "top"})
    shapes = figs["activity"]["layout"]["shapes"]
    assert len(shapes) == 1  # the first week (from Monday 2013-04-15) is whole
    assert pd.Timestamp(shapes[0]["x0"]) < pd.Timestamp("2013-08-12") < pd.Timestamp(shapes[0]["x1"])
    notes = " ".join(c.value for c in at.caption)
    assert "The week from 2013-08-12 has 4 days of data: marked in the charts" in notes, notes


def test_the_user_page_flags_the_partial_last_week_too(db: Path) -> None:
    at = run_app(TIMEOUT, dataset="tmall")
    at.switch_page("app_pages/user.py").run()
    check_clean(at)
    shapes = check_figures(at, {"user_long_short"})["user_long_short"]["layout"]["shapes"]
    assert any(pd.Timestamp(s["x0"]) < pd.Timestamp("2013-08-12") < pd.Timestamp(s["x1"]) for s in shapes), shapes
    assert any("The week from 2013-08-12 has 4 days of data" in c.value for c in at.caption)


def test_another_dataset_drops_a_range_it_does_not_hold(db: Path) -> None:
    at = _overview(dataset="tmall", freq="W", **{"from": "2024-06-03"})
    assert "from" not in at.query_params
    assert _metrics(at)["Events"][0] == "182,880"


def test_the_key_filters_its_source_and_a_category_keeps_its_colour(db: Path) -> None:
    from ui import queries
    from ui.store import dataset_key

    whole = dataset_key("tmall")
    june = whole.within(Window.of_periods("2013-06-03", "2013-06-24", "W"))
    assert june != whole and june.whole() == whole and whole.within(Window()) == whole
    k = queries.kpis(june)
    assert k["events"] == _events_in("tmall", june.window or Window())
    assert pd.Timestamp(k["start"]) == pd.Timestamp("2013-06-03")
    assert pd.Timestamp(k["end"]) == pd.Timestamp("2013-06-30")  # Tmall's dates: the last day at midnight
    assert queries.period_list(june, "W") == list(pd.date_range("2013-06-03", "2013-06-24", freq="7D"))
    assert queries.partial_periods(june, "W") == []  # cut at week starts: no partial week
    assert queries.colors(june) == queries.colors(whole)
    from ui.frame import Frame

    here = Frame("tmall", "W", whole, tuple(queries.period_list(whole, "W")))
    assert (here.n_periods, here.n_complete) == (18, 17)  # the week from 2013-08-12 has 4 days
    assert here.fitted_backtest(4, 8) == (4, 8) and here.fitted(4) == 4
    eight = Frame("tmall", "W", whole.within(Window.of_periods("2013-06-17", "2013-08-05", "W")),
                  tuple(pd.date_range("2013-06-17", "2013-08-05", freq="7D")))
    assert eight.fitted_backtest(4, 8) == (2, 4)
    assert eight.fitted_note("Horizon", 2) == "Horizon: 2 weeks, chosen from the 8 weeks of data."
