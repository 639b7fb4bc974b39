"""The decision on one queued record: confirmed defect (a known type picked, or a new one typed) or false alarm,
with an optional note; recorded by the button, then handed to the learning hook."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.review import outcome, queue_controls
from components.review.learning_hook import DecisionHook, notify
from components.shared import resources
from services.access import AccessDeniedError
from services.records.record import InspectionRecord
from services.records.review import MAX_DEFECT_TYPE, MAX_NOTE, Decision, ReviewError, decide
from services.records.store import UNAVAILABLE

NEW_TYPE = "Another type (type it)…"


@dataclass(frozen=True)
class FormKeys:
    """The session-state keys of one record's form (a fresh form per record)."""

    decision: str
    known: str
    typed: str
    note: str

    @classmethod
    def of(cls, record: InspectionRecord) -> FormKeys:
        """Keys of ``record``'s form."""
        base = f"decide__{record.id}"
        return cls(decision=f"{base}__decision", known=f"{base}__type", typed=f"{base}__new_type", note=f"{base}__note")


def _defect_type(keys: FormKeys) -> str:
    """The typed type where the picker asks for one (or offers none), else the picked one."""
    picked = st.session_state.get(keys.known)
    return str(st.session_state.get(keys.typed, "")) if picked in (None, NEW_TYPE) else str(picked)


def _submit(record: InspectionRecord, keys: FormKeys, on_decision: DecisionHook) -> None:
    """Button callback: record the decision from the form's values, say what became of it, call the hook."""
    decision = Decision(st.session_state[keys.decision])
    defect_type = _defect_type(keys) if decision is Decision.DEFECT else None
    try:
        made = decide(
            resources.record_store(),
            record.id,
            decision,
            user=queue_controls.reviewer(),
            defect_type=defect_type,
            note=str(st.session_state.get(keys.note, "")),
        )
    except (ReviewError, AccessDeniedError) as exc:
        outcome.refused("recorded", exc)
        return
    except UNAVAILABLE as exc:
        outcome.unavailable("recorded", "record the decision again", exc)
        return
    kind = f" ({made.defect_type})" if made.defect_type else ""
    outcome.remember(
        "success",
        f"Recorded {decision.label}{kind} on {record.image_name} by {made.reviewer}; it left the queue (undo it under "
        "Recent decisions).",
    )
    failure = notify(on_decision, made, record)
    if failure:
        outcome.remember("warning", f"The decision is recorded, but learning from it failed: {failure}")


def render(record: InspectionRecord, known_types: tuple[str, ...], on_decision: DecisionHook) -> None:
    """The decision radio, the defect type (for a confirmed defect), the note and the button."""
    keys = FormKeys.of(record)
    choice = st.radio(
        "Decision",
        [decision.value for decision in Decision],
        format_func=lambda value: Decision(value).label.capitalize(),
        index=None,
        horizontal=True,
        key=keys.decision,
    )
    if choice == Decision.DEFECT.value:
        picked = None
        if known_types:
            picked = st.selectbox(
                "Defect type",
                [*known_types, NEW_TYPE],
                index=None,
                key=keys.known,
                placeholder="Pick the run's known type, or type another",
            )
        if not known_types or picked == NEW_TYPE:
            st.text_input("New defect type", key=keys.typed, max_chars=MAX_DEFECT_TYPE, placeholder="e.g. scratch")
    st.text_area("Note (optional)", key=keys.note, max_chars=MAX_NOTE, height=80)
    st.button(
        "Record decision",
        type="primary",
        key=f"decide__{record.id}__submit",
        disabled=choice is None,
        on_click=_submit,
        args=(record, keys, on_decision),
        icon=":material/gavel:",
    )
