"""A guard around each page: an unexpected error becomes one clear message, never a traceback on screen."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

LOGGER = logging.getLogger("anomalylens.app")


@contextmanager
def guarded(page: str) -> Iterator[None]:
    """Run a page; show ``st.error`` with the error's message if it fails (the traceback goes to the server log).

    Streamlit's own control flow (``st.stop``, ``st.rerun``, page switches) derives from ``BaseException`` and passes.
    """
    try:
        yield
    except Exception as exc:
        LOGGER.exception("page %s failed", page)
        st.error(f"The {page} page could not be shown: {type(exc).__name__}: {exc}", icon=":material/error:")
