"""Router: the page list and the page config; every page lives in pages/."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
# (section, file, title, icon). A page is listed once its file exists, so later pages slot in.
# The first page listed is the one the app opens on.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("Data", "pages/data.py", "Data", ":material/database:"),
    ("Data", "pages/overview.py", "Overview", ":material/monitoring:"),
    ("Forecasting", "pages/forecasts.py", "Forecasts", ":material/trending_up:"),
    ("Forecasting", "pages/scoring.py", "Scoring", ":material/upload_file:"),
    ("Analytics", "pages/user.py", "User", ":material/person:"),
    ("Analytics", "pages/migration.py", "Migration", ":material/swap_horiz:"),
    ("Analytics", "pages/segments.py", "Segments", ":material/groups:"),
    ("Analytics", "pages/churn.py", "Churn", ":material/person_remove:"),
    ("Analytics", "pages/promotions.py", "Promotions", ":material/campaign:"),
    ("Analytics", "pages/demand.py", "Demand", ":material/inventory:"),
)

st.set_page_config(page_title="Interest over time", page_icon=":material/insights:", layout="wide")
sections: dict[str, list[st.Page]] = {}
for section, file, title, icon in PAGES:
    if (HERE / file).exists():
        sections.setdefault(section, []).append(
            st.Page(str(HERE / file), title=title, icon=icon))
st.navigation(sections).run()
