"""The frame of every page: the page table, the dataset and period pickers, the page's title, the
"no dataset yet" notice and the error guard, drawn once here; each page in app_pages/ draws the rest.

The page files are not in a folder named pages/: beside the entrypoint, that name switches Streamlit to
its legacy multipage mode (a page opened by its URL on a fresh server, and every AppTest run of a page,
would run without this frame), and Streamlit has no option to turn that off.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import startup
from ui.page_table import PageSpec

HERE = Path(__file__).resolve().parent
# The first page listed is the one the app opens on.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("Data", "app_pages/data.py", "Data", ":material/database:", "Data", needs_dataset=False, period=False,
             preload=("Selectbox", "Html", "Metric", "DataFrame"), preload_after=("PlotlyChart",)),
    PageSpec("Data", "app_pages/overview.py", "Overview", ":material/monitoring:", "Overview"),
    PageSpec("Forecasting", "app_pages/forecasts.py", "Forecasts", ":material/trending_up:", "Forecasts"),
    PageSpec("Forecasting", "app_pages/scoring.py", "Scoring", ":material/upload_file:", "Scoring",
             needs_dataset=False, period=False),
    PageSpec("Analytics", "app_pages/user.py", "User", ":material/person:", "User"),
    PageSpec("Analytics", "app_pages/migration.py", "Migration", ":material/swap_horiz:", "Migration"),
    PageSpec("Analytics", "app_pages/segments.py", "Segments", ":material/groups:", "Segments"),
    PageSpec("Analytics", "app_pages/retention.py", "Retention", ":material/event_repeat:", "Retention and funnel"),
    PageSpec("Analytics", "app_pages/churn.py", "Churn", ":material/person_remove:", "Churn risk"),
    PageSpec("Analytics", "app_pages/promotions.py", "Promotions", ":material/campaign:", "Promotion targeting"),
    PageSpec("Analytics", "app_pages/demand.py", "Demand", ":material/inventory:", "Category demand"),
)


def main() -> None:
    st.set_page_config(page_title="Interest over time", page_icon=":material/insights:", layout="wide")
    sections: dict[str, list[st.Page]] = {}
    for spec in PAGES:
        sections.setdefault(spec.section, []).append(st.Page(str(HERE / spec.file), title=spec.title, icon=spec.icon))
    page = st.navigation(sections)
    spec = next(s for s in PAGES if s.title == page.title)
    pickers = st.sidebar.container()
    startup.preload(st.sidebar, spec.preload)  # below the pickers; sent now, before this run's heavy work
    # Imported here, not above: the navigation and the preload reach the browser first.
    from ui import fits, frame, widgets

    here = frame.pickers(spec, pickers)
    st.title(spec.heading)
    if spec.needs_dataset and here.key is None:
        st.info(frame.NO_DATASET)
    else:
        with widgets.guard(), frame.active(here), fits.section():  # a model still fitting: its progress
            page.run()
    startup.preload(st.sidebar, spec.preload_after)  # for the next pages: loaded while this one is read


# Streamlit runs this script as __main__; a training job's spawned worker imports it as __mp_main__ and
# must draw nothing.
if __name__ == "__main__":
    main()
