"""The "Part / lot id" text input: what the next inspections are recorded under (else the file name's pattern)."""

from __future__ import annotations

import streamlit as st

from services.records.part_id import LOT_SEPARATOR
from services.settings import get_settings


def render() -> str:
    """The typed text (may be empty)."""
    pattern = get_settings().part_id_pattern
    fallback = (
        f"left empty, the id is read from each file name (`ANOMALYLENS_PART_ID_PATTERN` = `{pattern}`)"
        if pattern
        else "left empty, records carry no part id (set `ANOMALYLENS_PART_ID_PATTERN` to read it from file names)"
    )
    return st.text_input(
        "Part / lot id",
        key="inspect_part_id",
        placeholder=f"A1234 {LOT_SEPARATOR} L07",
        help=f"Recorded with every inspection of the images uploaded next: part id, optionally `{LOT_SEPARATOR}` "
        f"and the lot id; {fallback}.",
    )
