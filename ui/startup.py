"""Cold start: let the browser load the frontend code a page needs while the server's first run still works.

Streamlit's frontend fetches the code of each kind of element (a plotly chart, a dataframe, a metric, raw HTML,
a selectbox ...) as a separate chunk only when the first element of that kind arrives, and it shows a block's
elements only once every chunk the block needs is there. On a fresh server those chunks were fetched late and
slowly, from a server busy with the run that sends the elements: the Data page's behaviour mix waited 0.5-0.7 s
after its element arrived (bench/cold_start.py), and a plotly chart waited for its 4.7 MB bundle, about a second
of the browser's main thread. ``preload`` sends, among the run's first elements, a script that imports the
chunks a page's first screen needs, so the browser fetches and evaluates them while the server imports, reads
the store and builds the page; the elements' own imports then find the modules loaded. Each page names its
chunks in app.py's page table (``PageSpec.preload``); chunks for later pages go after the page
(``PageSpec.preload_after``), so they do not hold up its first chart.

Chunk file names carry a hash that changes with each Streamlit release: each is looked up in Streamlit's static
folder, and a name without exactly one match is left out (its element then loads its chunk as before).
tests/test_cold_start.py fails when an upgrade renames one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import streamlit as st

CHUNK_NAME = re.compile(r"[A-Za-z]+\.[A-Za-z0-9_-]+\.js")  # goes into a script: nothing else passes
PLOTLY = "PlotlyChart"
# The imports are resolved against the page's own Streamlit bundle, so they work under any server.baseUrlPath.
_IMPORT_JS = """<script>(() => {{
  const index = document.querySelector('script[src*="/static/js/index."]');
  if (index) for (const name of {names}) import(new URL(name, index.src).href).catch(() => {{}});
}})();</script>"""


def static_js() -> Path:
    return Path(st.__file__).parent / "static" / "static" / "js"


@cache
def chunk_file(element: str) -> str | None:
    """File name of the frontend's chunk for ``element`` (e.g. 'PlotlyChart') in this Streamlit install (None:
    not exactly one found)."""
    found = [p.name for p in static_js().glob(f"{element}.*.js") if CHUNK_NAME.fullmatch(p.name)]
    return found[0] if len(found) == 1 else None


def plotly_bundle() -> str | None:
    """File name of the frontend's plotly chunk (None: not exactly one found)."""
    return chunk_file(PLOTLY)


def preload_markup(elements: Sequence[str]) -> str | None:
    """The script ``preload`` draws (None: none of the chunks found, nothing drawn). No data in it."""
    names = [name for name in map(chunk_file, elements) if name is not None]
    return _IMPORT_JS.format(names=json.dumps(names)) if names else None


def preload(where: st.delta_generator.DeltaGenerator, elements: Sequence[str]) -> None:
    """Have the browser import the chunks of ``elements`` now (an element with no visible content, in ``where``)."""
    markup = preload_markup(elements)
    if markup is not None:
        where.html(markup, unsafe_allow_javascript=True)
