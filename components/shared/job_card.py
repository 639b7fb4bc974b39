"""One background job: its title, state, stage, progress bar, elapsed time and ETA, its result or error, Cancel."""

from __future__ import annotations

import time

import streamlit as st

from components.shared import sign_in
from components.shared.style import plain_text
from services.access import AccessDeniedError, Action
from services.jobs.runner import JobError, cancel_job, jobs_root
from services.jobs.status import LOG_FILE, JobStatus
from services.settings import get_settings

STATE_LABELS = {
    "starting": "starting",
    "running": "running",
    "succeeded": "finished",
    "failed": "failed",
    "cancelled": "cancelled",
}


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _timing(job: JobStatus, now: float) -> str:
    elapsed = f"{format_duration(job.elapsed_s(now))} elapsed"
    if not job.active:
        return elapsed
    eta = job.eta_s(now)
    return f"{elapsed} · ETA {format_duration(eta) if eta is not None else 'estimated after the first step'}"


def _cancel(job: JobStatus) -> None:
    try:
        cancel_job(get_settings(), job.id, user=sign_in.acting_user())
    except (JobError, OSError, AccessDeniedError) as exc:
        st.error(f"Could not cancel {job.title}: {exc}", icon=":material/error:")


def render(job: JobStatus, cancellable: bool = True) -> None:
    """The job as it stands; an active one gets a progress bar and, when ``cancellable`` and the user may train, a
    Cancel button."""
    now = time.time()
    with st.container(border=True):
        st.markdown(f"**{job.title}** · {STATE_LABELS.get(job.state, job.state)}")
        if job.active:
            st.progress(job.fraction, text=f"{job.stage or 'starting'} ({job.fraction:.0%})")
            st.caption(_timing(job, now))
            if cancellable and sign_in.acting_user().may(Action.TRAIN):
                st.button("Cancel", key=f"cancel_{job.id}", on_click=_cancel, args=(job,), icon=":material/cancel:")
        elif job.state == "succeeded":
            st.success(f"{job.result} ({_timing(job, now)})", icon=":material/check_circle:")
        elif job.state == "cancelled":
            st.warning(f"Cancelled after {format_duration(job.elapsed_s(now))}.", icon=":material/cancel:")
        else:
            st.error(f"Failed: {plain_text(job.error or '')}", icon=":material/error:")
            log = jobs_root(get_settings()) / job.id / LOG_FILE
            st.caption(f"The command's full output is in `{log}`.")
