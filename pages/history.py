"""History: every recorded inspection, filtered; NG rate and REVIEW count over time; any one opened as it was."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.history import (
    past_inspection,
    record_downloads,
    record_filters,
    records_table,
    records_unavailable,
    trend_chart,
)
from components.shared import app_shell, page_access, resources
from services.records.history import filter_choices, trend

app_shell.ensure_app()
page_access.require("history")

st.title("History")
store = resources.record_store()
now = datetime.now(UTC)
try:
    record_filter = record_filters.render(filter_choices(store), now)
    matching = store.count(record_filter)
    records = store.query(record_filter)
    buckets = trend(store, record_filter, now=now)
except (SQLAlchemyError, OSError) as exc:
    records_unavailable.render(exc)
    st.stop()
if not records:
    st.info(
        "No inspection record matches these filters. Every image judged on the Inspect page is recorded.",
        icon=":material/history:",
    )
    st.stop()
shown = f"the newest {len(records):,} of " if len(records) < matching else ""
st.caption(f"Showing {shown}{matching:,} matching record{'s' if matching != 1 else ''}, newest first.")
trend_chart.render(buckets)
record_downloads.render(records)
chosen = records_table.render(records, key="history")
if chosen is not None:
    past_inspection.render(chosen)
