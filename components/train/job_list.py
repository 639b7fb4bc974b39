"""The training and demo-build jobs, newest first, refreshed on a timer while any is active."""

from __future__ import annotations

import streamlit as st

from components.shared import job_card
from services.jobs.runner import list_jobs
from services.settings import get_settings

REFRESH_S = 2.0
SHOWN = 10
ACTIVE_SEEN_KEY = "_train_active_jobs"


def _draw() -> None:
    jobs = list_jobs(get_settings())[:SHOWN]
    active = {job.id for job in jobs if job.active}
    ended = st.session_state.get(ACTIVE_SEEN_KEY, set()) - active
    st.session_state[ACTIVE_SEEN_KEY] = active
    if ended:
        st.rerun()  # a job ended: rerun the app so the sidebar lists its runs
    if not jobs:
        st.caption("No training job yet.")
    for job in jobs:
        job_card.render(job)


_live = st.fragment(run_every=REFRESH_S)(_draw)


def render() -> None:
    """Each job's stage, progress, ETA and Cancel button, or its result or error; refreshed while any runs."""
    st.subheader("Jobs")
    if any(job.active for job in list_jobs(get_settings())):
        _live()
    else:
        _draw()
