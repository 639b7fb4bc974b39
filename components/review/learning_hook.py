"""The learning loop's one entry point: the Review page calls :func:`on_decision` after every decision and undo.

``on_decision(decision, record)`` applies the decision as recorded (``decision.standing`` is ``False`` once undone)
through :func:`services.learning.review_loop.apply_decision` and shows what changed. It runs after the decision is
committed, in the page's script thread; what it raises is shown as a warning and logged, and the decision stays
recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from components.shared import resources
from services.learning.review_loop import apply_decision
from services.records.record import InspectionRecord
from services.records.review import ReviewDecision
from services.settings import get_settings

DecisionHook = Callable[[ReviewDecision, InspectionRecord], None]
LOGGER = logging.getLogger("anomalylens.review")


def on_decision(decision: ReviewDecision, record: InspectionRecord) -> None:
    """Let the tool learn from ``decision`` (or forget it, once undone) and say what changed."""
    outcome = apply_decision(
        decision, record, settings=get_settings(), store=resources.store(), embedder=resources.current_embedder()
    )
    st.toast(outcome.summary, icon=":material/school:")


def notify(hook: DecisionHook, decision: ReviewDecision, record: InspectionRecord) -> str:
    """Call ``hook``; why it failed (logged with its traceback), or empty where it did not."""
    try:
        hook(decision, record)
    except Exception as exc:  # the decision is recorded whatever the learning step does
        LOGGER.exception("learning hook failed on decision %s", decision.id)
        return f"{type(exc).__name__}: {exc}"
    return ""
