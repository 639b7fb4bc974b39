"""Delete a run, for a user who may (an admin; everyone where sign-in is off): pick it, confirm, and its
similar-defect vectors and its folder are removed; why not, where the index or the registry refuses."""

from __future__ import annotations

import streamlit as st

from components.shared import resources, sign_in
from components.shared.style import plain_text
from services.access import AccessDeniedError, Action
from services.registry.runs import Run, list_runs
from services.registry.writable import NotWritableError
from services.settings import get_settings
from services.similarity.run_deletion import delete_run
from services.similarity.store import StoreUnavailableError

OUTCOME_KEY = "_run_deletion_outcome"


def _delete(run: Run) -> None:
    """Button callback: delete the run and say what was removed, or why nothing was."""
    try:
        deleted = delete_run(run, settings=get_settings(), store=resources.store(), user=sign_in.acting_user())
    except (AccessDeniedError, NotWritableError, StoreUnavailableError) as exc:
        st.session_state[OUTCOME_KEY] = ("error", f"Not deleted: {exc}")
        return
    st.session_state[OUTCOME_KEY] = (
        "success",
        f"Deleted run {deleted.run} and its {deleted.points} similar-defect vectors.",
    )


def render() -> None:
    """An expander with the run picker, the confirmation and the button; nothing for a user who may not delete."""
    if not sign_in.acting_user().may(Action.DELETE_RUNS):
        return
    outcome = st.session_state.pop(OUTCOME_KEY, None)
    if outcome is not None:
        kind, text = outcome
        (st.success if kind == "success" else st.error)(plain_text(text))
    settings = get_settings()
    runs = {run.relative_to(settings.registry_dir): run for run in list_runs(settings)}
    if not runs:
        return
    with st.expander("Delete a run", icon=":material/delete:"):
        chosen = st.selectbox("Run", list(runs), index=None, key="delete_run", placeholder="Pick the run to delete")
        confirmed = st.checkbox(
            "Delete this run and its similar-defect vectors: this cannot be undone", key="delete_run_confirm"
        )
        st.button(
            "Delete run",
            key="delete_run_button",
            icon=":material/delete_forever:",
            disabled=chosen is None or not confirmed,
            on_click=_delete,
            args=(runs.get(chosen),),
        )
