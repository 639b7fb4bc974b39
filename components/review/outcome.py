"""The message left by the last decision or undo (made in a button's callback), shown once on the next run."""

from __future__ import annotations

from typing import Literal

import streamlit as st

from components.shared.style import plain_text

OUTCOME_KEY = "_review_outcome"
Kind = Literal["success", "error", "warning"]
ICONS = {"success": ":material/task_alt:", "error": ":material/block:", "warning": ":material/warning:"}


def remember(kind: Kind, text: str) -> None:
    """Keep a message for the next run (texts hold user names and notes: shown as text)."""
    st.session_state.setdefault(OUTCOME_KEY, []).append((kind, text))


def refused(action: str, exc: Exception) -> None:
    """Keep why a decision or undo was refused (``action``: ``recorded``, ``undone``)."""
    remember("error", f"Not {action}: {exc}.")


def unavailable(action: str, again: str, exc: Exception) -> None:
    """Keep that the records database did not take a decision or undo: unlike inspections, decisions are not kept
    locally to be written later, so the reviewer is told to do ``again`` once the database is back."""
    remember(
        "error",
        f"Not {action}: the records database is unavailable ({type(exc).__name__}), and decisions are not kept "
        f"locally; {again} once it is back.",
    )


def render() -> None:
    """Show and forget the kept messages."""
    for kind, text in st.session_state.pop(OUTCOME_KEY, []):
        getattr(st, kind)(plain_text(text), icon=ICONS[kind])
