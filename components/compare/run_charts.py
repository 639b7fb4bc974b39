"""The charts read from one category's run folders: ROC and PR curves, and the test-score distributions."""

from __future__ import annotations

import streamlit as st

from components.compare import curve_chart, score_chart
from services.postprocessing.regions import CALIBRATED_THRESHOLD
from services.registry.artefacts import read_curves, read_scores
from services.registry.runs import Run


def render(runs: dict[str, Run], category: str) -> None:
    """ROC and PR side by side, then the score histograms with the calibrated threshold."""
    curves = {model: read_curves(run) for model, run in runs.items()}
    auc = {
        model: run.record.metrics["image_auroc"] for model, run in runs.items() if "image_auroc" in run.record.metrics
    }
    roc, pr = st.columns(2)
    with roc:
        curve_chart.render({model: c["roc"] for model, c in curves.items()}, "roc", category, auc)
    with pr:
        curve_chart.render({model: c["pr"] for model, c in curves.items()}, "pr", category, {})
    score_chart.render({model: read_scores(run) for model, run in runs.items()}, CALIBRATED_THRESHOLD, category)
