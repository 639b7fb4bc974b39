"""An empty, hidden Plotly chart on the Inspect page before any upload, so the browser loads Streamlit's Plotly code
while the user picks a file.

Streamlit fetches its Plotly chart code (a chunk of several megabytes) only when a page first shows a chart; on a
fresh page that is the defect figure of the first upload, so parsing that code came on top of the upload's wait.
Drawn here, hidden, it is parsed while the page sits idle, and the figure of the upload draws at once.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

KEY = "chart_preload"
"""The container's key: its class ``st-key-chart_preload`` hides it (and a browser test waits for it)."""
HIDE = f"<style>.st-key-{KEY} {{ display: none; }}</style>"


def render() -> None:
    """The hidden chart (nothing visible)."""
    st.html(HIDE)
    with st.container(key=KEY):
        st.plotly_chart(go.Figure(), config={"staticPlot": True})
