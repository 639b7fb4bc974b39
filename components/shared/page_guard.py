"""A guard around each page: an unexpected error becomes one clear message with an error id, never a traceback.

The traceback goes to the server log under the same id, so a user can quote the id and an administrator find it.
Input and configuration errors (``ValueError``: a setting, a dataset, an upload) keep their message, which names the
value and the rule; any other error shows only that something went wrong.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from components.shared.style import plain_text

LOGGER = logging.getLogger("anomalylens.app")
ERROR_ID_BYTES = 4


def new_error_id() -> str:
    """A short random id (8 hex digits) that names one failure in the log and on the page."""
    return secrets.token_hex(ERROR_ID_BYTES)


@contextmanager
def guarded(page: str) -> Iterator[None]:
    """Run a page; on failure log the traceback with an error id and show ``st.error`` with that id.

    Streamlit's own control flow (``st.stop``, ``st.rerun``, page switches) derives from ``BaseException`` and passes.
    """
    try:
        yield
    except Exception as exc:
        error_id = new_error_id()
        LOGGER.exception("page %s failed [error %s]", page, error_id)
        what = plain_text(str(exc)) if isinstance(exc, ValueError) else "an unexpected error"
        st.error(
            f"The {page} page could not be shown: {what}. Error id {error_id}: quote it when you report this; "
            "the details are in the server log.",
            icon=":material/error:",
        )
