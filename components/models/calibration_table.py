"""Every run's thresholds at the session's false-alarm budget: the rule, the normal images they rest on, the rate the
evidence supports, what the line shows (false alarms marked on Review), and a warning for each run whose normals are
too few for the budget or whose promise the line has broken."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.shared import resources
from components.shared.style import dataset_label, model_label
from services.postprocessing.false_alarm import RULE_TEXT
from services.records.line_check import LineEvidence, line_evidence
from services.registry.run_calibration import (
    RunCalibration,
    calibration_status,
    percent,
    rate_text,
    run_calibration,
    sources_text,
    too_few_text,
)
from services.registry.runs import NOT_AVAILABLE, Run, list_runs
from services.settings import get_settings


def run_name(run: Run) -> str:
    """``<dataset> · <model> · <category> · <run>`` for display."""
    record = run.record
    return f"{dataset_label(record.dataset)} · {model_label(record.model)} · {record.category} · {record.run}"


LINE_COLUMN = "On the line"
RECORDS_UNAVAILABLE = "records unavailable"


def line_text(line: LineEvidence | None) -> str:
    """``3 of 10 parts marked false alarms (at least 6.7 %)``, or that the run judged no part at this budget yet."""
    if line is None or line.rate_interval is None:
        return "no part judged at this budget yet"
    low = line.rate_interval[0]
    return f"{line.false_alarms} of {line.parts} parts marked false alarms (at least {percent(low)} %)"


def _row(run: Run, judged: RunCalibration | None, budget: float, line: str) -> dict[str, object]:
    if judged is None:
        unknown = dict.fromkeys(("Normal images", "False alarms (image)", "Good parts with a region"), NOT_AVAILABLE)
        return {
            "Run": run_name(run),
            "Budget": NOT_AVAILABLE,
            "Rule": calibration_status(run),
            **unknown,
            LINE_COLUMN: line,
        }
    image, pixel = judged.calibration.image, judged.calibration.pixel
    return {
        "Run": run_name(run),
        "Budget": f"{percent(budget)} %",
        "Rule": RULE_TEXT.get(image.rule, image.rule),
        "Normal images": f"{image.n_normals} ({sources_text(judged.calibration.sources)})",
        "False alarms (image)": rate_text(image),
        "Good parts with a region": rate_text(pixel),
        LINE_COLUMN: line,
    }


def broken_text(run: Run, line: LineEvidence, promise: RunCalibration) -> str:
    """Why a run's promise is broken on the line, and what to do."""
    return (
        f"{run_name(run)}: on the line {line_text(line)}, more than its normal images support "
        f"({rate_text(promise.calibration.image)}), even if every part it judged was good. Its new parts differ from "
        "the images it was calibrated on: keep marking false alarms on the Review page (each one teaches a new "
        "version of the run) or retrain with normal images of the new parts."
    )


def _warnings(judged: list[tuple[Run, RunCalibration | None, LineEvidence | None]]) -> list[str]:
    too_few = [
        f"{run_name(run)}: {too_few_text(calibration.calibration.image)}"
        for run, calibration, _ in judged
        if calibration is not None and not calibration.calibration.image.enough_normals
    ]
    broken = [
        broken_text(run, line, calibration)
        for run, calibration, line in judged
        if calibration is not None and line is not None and line.breaks(calibration.calibration.image)
    ]
    return too_few + broken


def _lines(budget: float) -> dict[str, LineEvidence] | None:
    """Each run's line evidence at ``budget``; ``None`` where the records database cannot be read."""
    try:
        return line_evidence(resources.record_store(), budget)
    except (SQLAlchemyError, OSError):
        return None


def render(budget: float) -> None:
    """The table of every complete run at ``budget``, then the runs whose normals cannot support it or whose promise
    the line has broken."""
    settings = get_settings()
    lines = _lines(budget)
    judged = [
        (run, run_calibration(run, budget), (lines or {}).get(run.relative_to(settings.registry_dir)))
        for run in list_runs(settings)
    ]
    st.dataframe(
        pd.DataFrame(
            [
                _row(run, calibration, budget, RECORDS_UNAVAILABLE if lines is None else line_text(line))
                for run, calibration, line in judged
            ]
        ),
        hide_index=True,
        key="calibration_table",
        column_config={
            "False alarms (image)": st.column_config.TextColumn(
                help="Share of new good parts judged NG that the normal images support: the bound on its expected "
                "value, (above + 1)/(n + 1), with its 95 % interval"
            ),
            "Good parts with a region": st.column_config.TextColumn(
                help="The same for good parts showing any defect region (pixel threshold, fitted to map peaks)"
            ),
            LINE_COLUMN: st.column_config.TextColumn(
                help="Parts this run judged at this budget (each image once, foreign parts and manual thresholds "
                "left out) and those marked as false alarms on the Review page; the rate among good parts is at "
                "least the lower end of its 95 % interval"
            ),
        },
    )
    for warning in _warnings(judged):
        st.warning(warning, icon=":material/warning:")
