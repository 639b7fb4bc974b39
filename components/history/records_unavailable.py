"""What the History and Review pages say when the records database cannot be read: the reason, never a traceback."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.shared.style import plain_text
from services.records.database import database_url
from services.settings import get_settings


def render(exc: SQLAlchemyError | OSError) -> None:
    """An error naming the database (without its password) and the driver's first line."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    where = database_url(get_settings()).render_as_string(hide_password=True)
    st.error(
        f"The records database {plain_text(where)} cannot be read: {plain_text(f'{type(cause).__name__}: {first}')}. "
        "Inspections made meanwhile are kept locally and written when it is back.",
        icon=":material/cloud_off:",
    )
