"""One clear message per uploaded file that could not be used, naming it and the reason."""

from __future__ import annotations

import streamlit as st


def render(messages: list[str]) -> None:
    """An error box per rejected file (the message already names the file and what is accepted)."""
    for message in messages:
        st.error(message, icon=":material/broken_image:")
