"""Records as a table newest first; a click on a row, or the picker under it, opens that inspection."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from components.shared.style import model_label
from services.records.record import InspectionRecord

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _frame(records: list[InspectionRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Time (UTC)": [record.recorded_at.strftime(TIME_FORMAT) for record in records],
            "Verdict": [record.shown_verdict for record in records],
            "Score": [record.score for record in records],
            "Product": [record.product for record in records],
            "Model": [model_label(record.model) for record in records],
            "Part": [record.part_id for record in records],
            "Lot": [record.lot_id for record in records],
            "Image": [record.image_name for record in records],
            "Regions": [len(record.regions) for record in records],
            "Station": [record.station for record in records],
            "Operator": [record.operator or "" for record in records],
            "Run": [record.run_id for record in records],
        }
    )


def label(record: InspectionRecord) -> str:
    """``2026-12-01 08:00:00 · A1234_L07.png · PatchCore · NG · #1f0c9a2e`` (a picker option, shown as text; the
    record id's start tells apart inspections of one image at one time)."""
    return (
        f"{record.recorded_at.strftime(TIME_FORMAT)} · {record.image_name} · {model_label(record.model)} · "
        f"{record.shown_verdict} · #{record.id[:8]}"
    )


def _open_clicked(table_key: str, open_key: str, ids: list[str]) -> None:
    """``on_select`` callback: the clicked row's record becomes the picker's value."""
    rows = st.session_state[table_key].selection.rows
    if rows:
        st.session_state[open_key] = ids[rows[0]]


def render(records: list[InspectionRecord], *, key: str) -> InspectionRecord | None:
    """The table and the picker (``st.session_state[key + "_open"]`` holds the open record's id); the open record."""
    ids = [record.id for record in records]
    open_key = f"{key}_open"
    if st.session_state.get(open_key) not in ids:
        st.session_state[open_key] = None
    st.dataframe(
        _frame(records),
        hide_index=True,
        key=f"{key}_table",
        on_select=partial(_open_clicked, f"{key}_table", open_key, ids),
        selection_mode="single-row",
        column_config={
            "Score": st.column_config.ProgressColumn("Score", min_value=0.0, max_value=1.0, format="%.3f"),
        },
    )
    by_id = {record.id: record for record in records}
    chosen = st.selectbox(
        "Open an inspection",
        ids,
        format_func=lambda record_id: label(by_id[record_id]),
        index=None,
        key=open_key,
        placeholder="Click a row, or pick an inspection here, to see it as it was judged",
    )
    return by_id.get(chosen) if chosen else None
