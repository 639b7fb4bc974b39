"""The review queue's controls: which product's queue, and the reviewer's name recorded with each decision."""

from __future__ import annotations

import streamlit as st

from components.shared.style import plain_text
from services.settings import get_settings

ALL = "All products"
REVIEWER_KEY = "reviewer"


def reviewer() -> str:
    """The typed reviewer name, else this station's name (until sign-in names the operator)."""
    return str(st.session_state.get(REVIEWER_KEY, "")).strip() or get_settings().station


def render(products: tuple[str, ...]) -> str | None:
    """The product picker and the reviewer input side by side; the product (``None``: all)."""
    product_area, reviewer_area = st.columns(2)
    chosen = product_area.selectbox("Product", [ALL, *products], key="review_product")
    reviewer_area.text_input(
        "Reviewer",
        key=REVIEWER_KEY,
        max_chars=128,
        placeholder=get_settings().station,
        help=f"Recorded with each decision and undo; left empty, the station {plain_text(get_settings().station)}.",
    )
    return None if chosen == ALL else chosen
