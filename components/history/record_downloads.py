"""CSV and JSON downloads of the listed records (every field, times in UTC)."""

from __future__ import annotations

import streamlit as st

from services.records.export import export_csv, export_json
from services.records.record import InspectionRecord


def render(records: list[InspectionRecord]) -> None:
    """Two download buttons side by side."""
    csv_area, json_area, _ = st.columns([1, 1, 3])
    csv_area.download_button(
        "Download CSV",
        export_csv(records),
        file_name="anomalylens_records.csv",
        mime="text/csv",
        key="history_csv",
        icon=":material/download:",
        disabled=not records,
    )
    json_area.download_button(
        "Download JSON",
        export_json(records),
        file_name="anomalylens_records.json",
        mime="application/json",
        key="history_json",
        icon=":material/download:",
        disabled=not records,
    )
