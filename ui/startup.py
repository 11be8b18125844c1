"""Cold start: let the browser load the chart library while the server's first run still works.

Streamlit's frontend fetches and evaluates its plotly bundle (about 4.7 MB of JavaScript) only when a plotly
chart arrives, which on a fresh server is near the end of the first run: the browser then spends a second or
more on it while the server waits. ``preload_charts`` sends, among the run's first elements, a script that
imports that same bundle, so the browser fetches and evaluates it while the server imports, reads the store and
builds the figure; the chart's own import then finds the module loaded. The bundle's file name carries a hash
that changes with each Streamlit release: it is looked up in Streamlit's static folder, and without a single
match nothing is sent (the chart then loads its bundle as before).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import streamlit as st

BUNDLE_NAME = re.compile(r"PlotlyChart\.[A-Za-z0-9_-]+\.js")  # goes into a script: nothing else passes
# The import is resolved against the page's own Streamlit bundle, so it works under any server.baseUrlPath.
_IMPORT_JS = """<script>(() => {{
  const index = document.querySelector('script[src*="/static/js/index."]');
  if (index) import(new URL("{name}", index.src).href).catch(() => {{}});
}})();</script>"""


@cache
def plotly_bundle() -> str | None:
    """File name of the frontend's plotly chunk in this Streamlit install (None: not exactly one found)."""
    found = [p.name for p in (Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js")
             if BUNDLE_NAME.fullmatch(p.name)]
    return found[0] if len(found) == 1 else None


def preload_markup() -> str | None:
    """The script ``preload_charts`` draws (None: no bundle found, nothing drawn). A constant: no data in it."""
    name = plotly_bundle()
    return None if name is None else _IMPORT_JS.format(name=name)


def preload_charts(where: st.delta_generator.DeltaGenerator) -> None:
    """Have the browser import the plotly bundle now (an element with no visible content, drawn in ``where``)."""
    markup = preload_markup()
    if markup is not None:
        where.html(markup, unsafe_allow_javascript=True)
