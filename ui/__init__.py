"""Streamlit glue: caches (cache.py), shared selections (state.py) and widgets (widgets.py)."""
