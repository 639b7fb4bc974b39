"""Review: REVIEW and NG records still to decide, newest first; each marked a confirmed defect or a false alarm,
recorded with who and when, and undone from the recent decisions."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.history import past_inspection, records_table, records_unavailable
from components.review import decision_form, decision_list, learning_hook, outcome, queue_controls
from components.shared import app_shell, page_access, resources
from services.postprocessing.verdict import Verdict
from services.records.history import filter_choices
from services.records.review import decisions, known_defect_types, pending, pending_count
from services.settings import get_settings

QUEUE_LIMIT = 500
RECENT = 20

app_shell.ensure_app()
page_access.require("review")

st.title("Review")
outcome.render()  # first: a decision the database did not take is said even while the queue cannot be read
store = resources.record_store()
try:
    product = queue_controls.render(filter_choices(store).products)
    counts = pending_count(store, product=product)
    queue = pending(store, product=product, limit=QUEUE_LIMIT)
    recent = decisions(store, limit=RECENT)
except (SQLAlchemyError, OSError) as exc:
    records_unavailable.render(exc)
    st.stop()
waiting = sum(counts.values())
if queue:
    listed = f" (the newest {len(queue)} listed)" if len(queue) < waiting else ""
    st.caption(
        f"{waiting} record{'s' if waiting != 1 else ''} to decide: {counts[Verdict.REVIEW]} REVIEW, "
        f"{counts[Verdict.NG]} NG{listed}, newest first. Parts the product gate turned away are not queued."
    )
    chosen = records_table.render(queue, key="review")
    if chosen is not None:
        with st.container(border=True):
            decision_form.render(chosen, known_defect_types(store, chosen, get_settings()), learning_hook.on_decision)
        past_inspection.render(chosen)
else:
    st.success("Nothing waits for review: every REVIEW and NG record has a decision.", icon=":material/done_all:")
st.subheader("Recent decisions")
decision_list.render(recent, learning_hook.on_decision)
