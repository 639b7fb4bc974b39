"""Each inspection recorded once per session, and one line saying whether the records database took it."""

from __future__ import annotations

import uuid

import streamlit as st

from components.inspect.batch_runner import InspectedImage
from components.inspect.threshold_controls import ViewSettings
from components.shared import resources, sign_in
from components.shared.style import plain_text
from services.records.capture import InspectionContext, dedup_key, inspection_record
from services.records.part_id import part_id_for
from services.records.record import InspectionRecord
from services.records.store import RecordStatus
from services.registry.runs import Run
from services.settings import get_settings

SESSION_KEY = "_record_session"
RECORDED_KEY = "_recorded"
STATUS_KEY = "_record_status"
RECORDED = "Recorded"
UNAVAILABLE = "Records database unavailable — kept locally, written when it is back"
LOST = "Records database unavailable and the local spool cannot be written: this inspection is not recorded"


def _new_records(
    images: list[InspectedImage], runs: dict[str, Run], view: ViewSettings, typed_part: str
) -> tuple[list[InspectionRecord], dict[str, bytes]]:
    """Records of the (image, run, thresholds) this session has not recorded yet, and those images' bytes."""
    settings = get_settings()
    session: str = st.session_state.setdefault(SESSION_KEY, uuid.uuid4().hex)
    recorded: set[str] = st.session_state.setdefault(RECORDED_KEY, set())
    context = InspectionContext.of(settings, operator=sign_in.acting_user().operator, session=session)
    records: list[InspectionRecord] = []
    data: dict[str, bytes] = {}
    for inspected in images:
        part = part_id_for(inspected.source.name, typed_part, settings.part_id_pattern)
        for model, run in runs.items():
            judged = view.judge(inspected.predictions[model], run)
            band = view.band(judged)
            if dedup_key(session, inspected.digest, run, band) in recorded:
                continue
            records.append(
                inspection_record(
                    judged,
                    run,
                    resources.detector(run).choice,
                    settings=settings,
                    context=context,
                    image_sha256=inspected.digest,
                    image_name=inspected.source.name,
                    part=part,
                    budget=view.budget_for(run),
                    thresholds=band,
                )
            )
            data[inspected.digest] = inspected.source.data
    return records, data


def record(images: list[InspectedImage], runs: dict[str, Run], view: ViewSettings, typed_part: str) -> RecordStatus:
    """Record what this session has not recorded yet (one insert, images kept by sha256); the latest status."""
    records, data = _new_records(images, runs, view, typed_part)
    if not records:
        return st.session_state.get(STATUS_KEY, RecordStatus())
    status = resources.record_store().record(records, data)
    if not status.lost:
        st.session_state[RECORDED_KEY].update(item.dedup_key for item in records)
    st.session_state[STATUS_KEY] = status
    return status


def render(status: RecordStatus) -> None:
    """Says "Recorded", or that the database is unavailable and where the records went (never a traceback)."""
    if status.lost:
        st.warning(LOST, icon=":material/error:")
    elif not status.stored:
        st.warning(UNAVAILABLE, icon=":material/cloud_off:")
    if status.error:
        st.caption(f"Why: {status.error}")
    if status.stored:
        flushed = f" · {status.flushed} kept locally written now" if status.flushed else ""
        st.caption(f":material/database: {RECORDED}{flushed}")
    if status.image_error:
        st.caption(f"The image itself could not be kept with its record: {plain_text(status.image_error)}")
