"""Every run's thresholds at the session's false-alarm budget: the rule, the normal images they rest on, the rate the
evidence supports, and a warning for each run whose normals are too few for the budget."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.shared.style import dataset_label, model_label
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
from services.registry.runs import NOT_AVAILABLE, Run, list_runs
from services.settings import get_settings


def run_name(run: Run) -> str:
    """``<dataset> · <model> · <category> · <run>`` for display."""
    record = run.record
    return f"{dataset_label(record.dataset)} · {model_label(record.model)} · {record.category} · {record.run}"


def _row(run: Run, judged: RunCalibration | None, budget: float) -> dict[str, object]:
    if judged is None:
        unknown = dict.fromkeys(("Normal images", "False alarms (image)", "Good parts with a region"), NOT_AVAILABLE)
        return {"Run": run_name(run), "Budget": NOT_AVAILABLE, "Rule": calibration_status(run), **unknown}
    image, pixel = judged.calibration.image, judged.calibration.pixel
    return {
        "Run": run_name(run),
        "Budget": f"{percent(budget)} %",
        "Rule": RULE_TEXT.get(image.rule, image.rule),
        "Normal images": f"{image.n_normals} ({sources_text(judged.calibration.sources)})",
        "False alarms (image)": rate_text(image),
        "Good parts with a region": rate_text(pixel),
    }


def _warnings(judged: list[tuple[Run, RunCalibration | None]]) -> list[str]:
    return [
        f"{run_name(run)}: {too_few_text(calibration.calibration.image)}"
        for run, calibration in judged
        if calibration is not None and not calibration.calibration.image.enough_normals
    ]


def render(budget: float) -> None:
    """The table of every complete run at ``budget``, then the runs whose normals cannot support it."""
    judged = [(run, run_calibration(run, budget)) for run in list_runs(get_settings())]
    st.dataframe(
        pd.DataFrame([_row(run, calibration, budget) for run, calibration in judged]),
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
        },
    )
    for warning in _warnings(judged):
        st.warning(warning, icon=":material/warning:")
