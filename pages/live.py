"""Live: what the folder watcher inspects as files arrive, the NG rate over the last N files, and whether it runs."""

from __future__ import annotations

import streamlit as st

from components.live import latest_verdicts, ng_rate, watch_records, watcher_status
from components.shared import app_shell, page_access, sidebar
from components.shared.style import plain_text

app_shell.ensure_app()
page_access.require("live")

REFRESH_S = 2.0
SHOWN = 12  # cards in the grid of the newest files

selection = sidebar.current()
st.title("Live")
st.caption(
    f"Image files of **{plain_text(selection.category)}** inspected by a folder watcher as a camera or PLC writes them "
    f"(`python -m services.cli watch DIR --category NAME`), each recorded once; refreshed every {REFRESH_S:g} s."
)
last_n = int(
    st.number_input("NG rate over the last N files", min_value=1, max_value=5000, value=50, step=10, key="live_last_n")
)


@st.fragment(run_every=REFRESH_S)
def _live() -> None:
    watcher_status.render(selection.category)
    files = watch_records.load(selection.category, last_n)
    ng_rate.render(files, last_n)
    latest_verdicts.render(files[:SHOWN])


_live()
