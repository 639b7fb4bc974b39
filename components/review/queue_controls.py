"""The review queue's controls: which product's queue, and who reviews: the signed-in user, or (sign-in off) the
name typed in *Reviewer*."""

from __future__ import annotations

import streamlit as st

from components.shared import sign_in
from components.shared.style import plain_text
from services.access import ActingUser, local_user
from services.settings import get_settings

ALL = "All products"
REVIEWER_KEY = "reviewer"


def reviewer() -> ActingUser:
    """The signed-in user; where sign-in is off, the local user named as typed in *Reviewer*, else as the station."""
    if get_settings().sign_in:
        return sign_in.acting_user()
    return local_user(str(st.session_state.get(REVIEWER_KEY, "")).strip() or get_settings().station)


def render(products: tuple[str, ...]) -> str | None:
    """The product picker and, where sign-in is off, the reviewer input beside it; the product (``None``: all)."""
    product_area, reviewer_area = st.columns(2)
    chosen = product_area.selectbox("Product", [ALL, *products], key="review_product")
    if get_settings().sign_in:
        reviewer_area.caption(f"Decisions are recorded as {plain_text(reviewer().name)}, who is signed in.")
        return None if chosen == ALL else chosen
    reviewer_area.text_input(
        "Reviewer",
        key=REVIEWER_KEY,
        max_chars=128,
        placeholder=get_settings().station,
        help=f"Recorded with each decision and undo; left empty, the station {plain_text(get_settings().station)}.",
    )
    return None if chosen == ALL else chosen
