"""Beside a verdict: which thresholds judged it and what they rest on (the false-alarm budget and its evidence, the
manual override, or what is known of a run without normal scores)."""

from __future__ import annotations

import streamlit as st

from components.inspect.threshold_controls import RecordedThresholds, ViewSettings
from services.postprocessing.false_alarm import RULE_TEXT
from services.registry.run_calibration import (
    RunCalibration,
    calibration_status,
    percent,
    rate_text,
    run_calibration,
    sources_text,
    too_few_text,
)
from services.registry.runs import Run


def evidence_line(judged: RunCalibration, budget: float) -> str:
    """``Threshold for a 1 % false-alarm budget · rests on 60 normal images the model did not learn from · …``."""
    image = judged.calibration.image
    return (
        f"Threshold for a {percent(budget)} % false-alarm budget · rests on {image.n_normals} normal images the model "
        f"did not learn from · evidence supports {rate_text(image)}"
    )


def _evidence_help(judged: RunCalibration) -> str:
    image, pixel = judged.calibration.image, judged.calibration.pixel
    return (
        f"Rule: {RULE_TEXT.get(image.rule, image.rule)}. Normal images: {sources_text(judged.calibration.sources)}. "
        f"Image threshold {judged.image_threshold:.2f} and pixel threshold {judged.pixel_threshold:.2f} on the "
        f"normalised scale; {image.n_above} of {image.n_normals} normal images score above the image threshold. "
        f"The rate of good parts judged NG is at most {percent(image.expected_rate)} % on average, with its 95 % "
        f"interval; good parts showing any region: {rate_text(pixel)}. Set the budget on the Models page."
    )


def recorded_line(recorded: RecordedThresholds) -> str:
    """``Recorded thresholds: OK ≤ 0.45, NG > 0.60, REVIEW between · map 0.62 · for a 1 % false-alarm budget``."""
    band = recorded.band
    image = (
        f"OK ≤ {band.lower:.2f}, NG > {band.upper:.2f}, REVIEW between"
        if band.lower != band.upper
        else f"image {band.upper:.2f}"
    )
    source = (
        f"for a {percent(recorded.budget)} % false-alarm budget"
        if recorded.budget is not None
        else "set by hand, or the run's own"
    )
    return f"Recorded thresholds: {image} · map {band.pixel:.2f} · {source}"


def render(run: Run, view: ViewSettings) -> None:
    """One caption with the evidence on hover, and a warning when the normals are too few for the budget; for a past
    inspection, the thresholds it was recorded at."""
    if view.recorded is not None:
        st.caption(recorded_line(view.recorded))
        return
    if view.manual:
        st.caption(
            f"Manual threshold {view.threshold:.2f} (image and pixel): the {percent(view.budget)} % false-alarm "
            f"budget no longer applies. Set the slider back to 0.50 to judge at the budget."
        )
        return
    judged = run_calibration(run, view.budget)
    if judged is None:
        st.caption(
            f"The model's own threshold · {calibration_status(run)}",
            help="This run has no scores of normal images it did not learn from, so no false-alarm budget can be "
            "applied to it; retrain it here to get them.",
        )
        return
    st.caption(evidence_line(judged, view.budget), help=_evidence_help(judged))
    if not judged.calibration.image.enough_normals:
        st.warning(too_few_text(judged.calibration.image), icon=":material/warning:")
