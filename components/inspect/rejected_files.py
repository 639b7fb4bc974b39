"""One clear message per uploaded file that could not be used, naming it and the reason."""

from __future__ import annotations

import streamlit as st

from components.shared.style import plain_text


def render(messages: list[str]) -> None:
    """An error box per rejected file (the message already names the file and what is accepted), shown as text."""
    for message in messages:
        st.error(plain_text(message), icon=":material/broken_image:")
