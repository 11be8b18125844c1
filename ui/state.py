"""Selections shared by every page (dataset, frequency, date range, segment, user).

Each lives in ``st.session_state`` under ``sel_<name>`` (kept while a person moves between
pages) and is mirrored in ``st.query_params`` (so the address bar holds the view and a link
shares it). A selection missing from the session is read from the link on first use.
Widgets never own these keys: a page's widget writes through ``put`` (Streamlit drops a
widget's own key from the session on pages that do not draw that widget).
"""

from __future__ import annotations

import streamlit as st

NAMES: tuple[str, ...] = ("dataset", "freq", "from", "to", "segment", "user")
_PREFIX = "sel_"


def _key(name: str) -> str:
    if name not in NAMES:
        raise KeyError(f"unknown selection {name!r}; use one of {', '.join(NAMES)}")
    return _PREFIX + name


def get(name: str) -> str | None:
    """The current value, taken from the link the first time this session asks."""
    key = _key(name)
    if key not in st.session_state:
        value = st.query_params.get(name)
        st.session_state[key] = str(value) if value not in (None, "") else None
    value = st.session_state[key]
    return None if value is None else str(value)


def put(name: str, value: str | None) -> None:
    """Set a selection and mirror it into the link (None removes it)."""
    st.session_state[_key(name)] = value
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def sync() -> None:
    """Write every known selection to the link (page switches start with a bare address)."""
    for name in NAMES:
        value = get(name)
        if value is not None and st.query_params.get(name) != value:
            st.query_params[name] = value


def clear(name: str) -> None:
    put(name, None)
