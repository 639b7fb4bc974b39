"""A past inspection as it was judged: its recorded values and, where its stored image and the very model that
judged it are still there, its heatmap and verdict redrawn at its recorded thresholds by the Inspect page's panel."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.inspect import inspection_panel
from components.inspect.batch_runner import InspectedImage
from components.inspect.image_source import ImageInput
from components.inspect.threshold_controls import DEFAULT_OPACITY, RecordedThresholds, ViewSettings
from components.shared import false_alarm_budget, resources
from components.shared.style import model_label, plain_text
from services.data.images import ImageInputError
from services.records.capture import ThresholdBand
from services.records.record import InspectionRecord
from services.records.reopen import PastInspection, locate
from services.registry.run_calibration import percent
from services.settings import get_settings

SCORE_TOLERANCE = 1e-4
"""A score scored again further than this from the recorded one is pointed out (another backend or arithmetic)."""


def facts(record: InspectionRecord) -> pd.DataFrame:
    """The record's values as (field, value) rows, as text."""
    budget = "—" if record.false_alarm_budget is None else f"{percent(record.false_alarm_budget)} %"
    rows = {
        "Recorded (UTC)": record.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
        "Station": record.station,
        "Part / lot": f"{record.part_id or '—'} / {record.lot_id or '—'}",
        "Operator": record.operator or "—",
        "Image": f"{record.image_name} (sha256 {record.image_sha256[:12]}…)",
        "Run": record.run_id,
        "Checkpoint sha256": record.checkpoint_sha256 or "—",
        "Model": f"{model_label(record.model)} · {record.backbone} · {record.backend} {record.precision}",
        "Score": f"{record.score:.4f} (raw {'—' if record.raw_score is None else f'{record.raw_score:.4f}'})",
        "Thresholds": f"lower {record.threshold_lower:.3f} · upper {record.threshold_upper:.3f} · map "
        f"{record.threshold_pixel:.3f} · budget {budget}",
        "Verdict": record.shown_verdict,
        "Regions": str(len(record.regions)),
    }
    return pd.DataFrame({"Field": list(rows), "Value": list(rows.values())})


def _stored_image(past: PastInspection) -> None:
    """The stored image alone, where it is there but its model is not."""
    if past.image is None:
        return
    try:
        image = resources.decoded(past.record.image_name, past.image)
    except ImageInputError as exc:
        st.warning(plain_text(str(exc)), icon=":material/broken_image:")
        return
    st.image(image.rgb, caption="The stored image, as inspected (no heatmap: see above)", width=360)


def _redraw(past: PastInspection) -> None:
    """The Inspect panel on the stored image, scored again by the same run and judged at the recorded thresholds."""
    record, run, data = past.record, past.run, past.image
    assert run is not None and data is not None
    try:
        image = resources.decoded(record.image_name, data)
    except ImageInputError as exc:
        st.warning(plain_text(str(exc)), icon=":material/broken_image:")
        return
    prediction = resources.predict(run, image, record.image_sha256)
    band = ThresholdBand(lower=record.threshold_lower, upper=record.threshold_upper, pixel=record.threshold_pixel)
    view = ViewSettings(
        threshold=band.upper,
        opacity=DEFAULT_OPACITY,
        budget=false_alarm_budget.current(),
        recorded=RecordedThresholds(band=band, budget=record.false_alarm_budget),
    )
    source = ImageInput(record.image_name, data)
    inspected = InspectedImage(source, record.image_sha256, image, {record.model: prediction})
    figure_area, detail_area = st.columns([3, 2], gap="medium")
    inspection_panel.render(
        inspected,
        record.model,
        run,
        view,
        figure_area=figure_area,
        detail_area=detail_area,
        neighbour_area=st.container(),
        neighbour_columns=5,
    )
    verdict = view.verdict(view.judge(prediction, run))
    if abs(prediction.score - record.score) > SCORE_TOLERANCE or verdict is not record.verdict:
        choice = resources.detector(run).choice
        st.warning(
            f"Scored again, this image scores {prediction.score:.4f} ({verdict.value}); it was recorded at "
            f"{record.score:.4f} ({record.verdict.value}) on {record.backend} {record.precision}, and runs on "
            f"{choice.backend} {choice.precision} now.",
            icon=":material/difference:",
        )


def render(record: InspectionRecord) -> None:
    """What is missing or changed (each said plainly), the recorded values, then the redrawn inspection."""
    past = locate(record, get_settings())
    for problem in past.problems:
        st.warning(plain_text(problem), icon=":material/history_toggle_off:")
    with st.expander("Recorded values", expanded=not past.reproducible):
        st.dataframe(facts(record), hide_index=True)
    if past.reproducible:
        _redraw(past)
    else:
        _stored_image(past)
