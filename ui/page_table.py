"""One row of app.py's page table. Light on purpose (no pandas, no store): app.py reads the table before the
first run has imported anything heavy, so the browser gets the page's outline at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One row of app.py's page table: where the page is listed and what the frame draws for it."""

    section: str
    file: str  # relative to app.py
    title: str  # in the navigation
    icon: str
    heading: str  # the page's st.title
    needs_dataset: bool = True  # False: the page also works with an empty store
    period: bool = True  # draw the period picker
    # Frontend chunks (ui/startup.py) the browser imports as the page starts, for the elements of its first
    # screen; and after the page is drawn, for the pages opened next.
    preload: tuple[str, ...] = ("PlotlyChart",)
    preload_after: tuple[str, ...] = ()
