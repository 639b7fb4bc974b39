"""The watcher's latest files of a product from the records database, or a notice where the database is away."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.shared import resources
from services.watch.latest import WatchedFile, latest_files

UNAVAILABLE = "Records database unavailable: the latest verdicts show again when it is back"


def load(category: str, last_n: int) -> list[WatchedFile]:
    """The ``last_n`` newest watched files of ``category``; none (and a warning saying why) where the database is
    unavailable."""
    try:
        return latest_files(resources.record_store(), category, last_n)
    except (SQLAlchemyError, OSError) as exc:
        st.warning(UNAVAILABLE, icon=":material/cloud_off:")
        st.caption(f"Why: {type(exc).__name__}")
        return []
