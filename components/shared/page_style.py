"""Layout tweaks for a dense, readable dashboard at 1366×768: less top padding, tighter headings."""

from __future__ import annotations

import streamlit as st

CSS = """
<style>
  [data-testid="stMainBlockContainer"] { padding-top: 3.75rem; padding-bottom: 2rem; }
  [data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
  h1 { font-size: 1.9rem !important; padding-top: 0 !important; padding-bottom: 0.4rem !important; }
  [data-testid="stMetricValue"] { font-size: 1.9rem; }
</style>
"""


def render() -> None:
    """Inject the stylesheet (invisible)."""
    st.html(CSS)
