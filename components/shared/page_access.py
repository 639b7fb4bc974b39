"""Which pages each role sees: the navigation shows a user only the pages their role allows, and each page refuses
by itself (:func:`require`) when its URL is opened by someone whose role does not allow it."""

from __future__ import annotations

import streamlit as st

from components.shared import sign_in
from components.shared.style import plain_text
from services.access import AccessDeniedError, ActingUser, Action

PAGE_ACTIONS = {
    "inspect": Action.INSPECT,
    "compare": Action.INSPECT,
    "library": Action.INSPECT,
    "models": Action.IMPORT,
    "train": Action.TRAIN,
    "history": Action.HISTORY,
    "review": Action.REVIEW,
    "live": Action.INSPECT,
}
"""What each page (by URL path) lets its user do; the Models page imports and sets the false-alarm budget."""


def allowed(user: ActingUser, url_path: str) -> bool:
    """Whether ``user`` may open the page at ``url_path``."""
    return user.may(PAGE_ACTIONS[url_path])


def require(url_path: str) -> None:
    """Stop the page at ``url_path`` with the reason where the acting user's role does not allow it."""
    user = sign_in.acting_user()
    if not allowed(user, url_path):
        st.error(plain_text(str(AccessDeniedError(user, PAGE_ACTIONS[url_path]))), icon=":material/block:")
        st.stop()
