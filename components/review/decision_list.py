"""The latest decisions, undone ones included, each with who and when; a standing one can be undone (the record
returns to the queue, and the learning hook is told)."""

from __future__ import annotations

import streamlit as st

from components.review import outcome, queue_controls
from components.review.learning_hook import DecisionHook, notify
from components.shared import resources
from components.shared.style import plain_text
from services.access import AccessDeniedError
from services.records.review import ReviewDecision, ReviewError, undo
from services.records.store import UNAVAILABLE

TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


def _undo(decision: ReviewDecision, on_decision: DecisionHook) -> None:
    """Button callback: undo the decision, say so, call the hook with the undone decision."""
    store = resources.record_store()
    try:
        undone = undo(store, decision.id, user=queue_controls.reviewer())
        record = store.get(undone.record_id)
    except (ReviewError, AccessDeniedError) as exc:
        outcome.refused("undone", exc)
        return
    except UNAVAILABLE as exc:
        outcome.unavailable("undone", "undo it again", exc)
        return
    name = record.image_name if record is not None else undone.record_id
    outcome.remember("success", f"Undone: the {undone.decision.label} on {name}; the record is back in the queue.")
    failure = notify(on_decision, undone, record) if record is not None else ""
    if failure:
        outcome.remember("warning", f"The undo is recorded, but the learning step failed: {failure}")


def line(decision: ReviewDecision, image_name: str) -> str:
    """``2026-12-01 08:00 UTC · false alarm · A1234_L07.png · by ana`` (plain text)."""
    kind = f" ({decision.defect_type})" if decision.defect_type else ""
    return (
        f"{decision.decided_at.strftime(TIME_FORMAT)} · {decision.decision.label}{kind} · {image_name} · by "
        f"{decision.reviewer}"
    )


def render(decisions: list[ReviewDecision], on_decision: DecisionHook) -> None:
    """One line per decision: what, on which image, by whom, the note; an Undo button or who undid it when."""
    if not decisions:
        st.caption("No decision yet.")
        return
    store = resources.record_store()
    for decision in decisions:
        record = store.get(decision.record_id)
        text_area, button_area = st.columns([5, 1], vertical_alignment="center")
        text_area.markdown(plain_text(line(decision, record.image_name if record else decision.record_id)))
        if decision.note:
            text_area.caption(plain_text(f"Note: {decision.note}"))
        if decision.standing:
            button_area.button(
                "Undo",
                key=f"undo__{decision.id}",
                on_click=_undo,
                args=(decision, on_decision),
                icon=":material/undo:",
            )
        elif decision.undone_at is not None:
            when = decision.undone_at.strftime(TIME_FORMAT)
            button_area.caption(plain_text(f"undone by {decision.undone_by} at {when}"))
