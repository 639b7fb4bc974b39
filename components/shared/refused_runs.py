"""Runs refused because their model files changed after they were written: which, and why, where runs are chosen."""

from __future__ import annotations

import streamlit as st

from components.shared.style import plain_text
from services.registry.integrity import ModelIntegrity


def render(refused: list[ModelIntegrity]) -> None:
    """One error per refused run, naming its folder, the changed file and the way out."""
    for integrity in refused:
        st.error(f"Not offered: {plain_text(integrity.reason)}.", icon=":material/gpp_bad:")
