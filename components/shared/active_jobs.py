"""The sidebar's view of background jobs still running (training, the demo build), refreshed on a timer.

When a run lands in the registry or a job ends, the whole app reruns so the sidebar offers the new run.
"""

from __future__ import annotations

import streamlit as st

from services.jobs.runner import list_jobs
from services.registry.runs import list_runs
from services.settings import get_settings

REFRESH_S = 3.0
RUNS_SEEN_KEY = "_runs_seen"


def _registry_changed() -> bool:
    runs = sorted(str(run.path) for run in list_runs(get_settings()))
    changed = st.session_state.get(RUNS_SEEN_KEY, runs) != runs
    st.session_state[RUNS_SEEN_KEY] = runs
    return changed


@st.fragment(run_every=REFRESH_S)
def _progress() -> None:
    active = [job for job in list_jobs(get_settings()) if job.active]
    if _registry_changed() or not active:
        st.rerun()
    for job in active:
        st.caption(f"**{job.title}**")
        st.progress(job.fraction, text=f"{job.stage or 'starting'} ({job.fraction:.0%})")


def render() -> None:
    """Each active job's title, stage and progress in the sidebar; nothing (and no timer) when none runs."""
    if not any(job.active for job in list_jobs(get_settings())):
        st.session_state.pop(RUNS_SEEN_KEY, None)
        return
    with st.sidebar:
        st.caption("Background jobs")
        _progress()
