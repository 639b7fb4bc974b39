"""The charts read from one category's run folders: ROC and PR curves, and the test-score distributions."""

from __future__ import annotations

import math

import streamlit as st

from components.compare import curve_chart, score_chart
from components.shared.style import model_label
from services.postprocessing.regions import CALIBRATED_THRESHOLD
from services.registry.artefacts import read_curves, read_scores
from services.registry.runs import Run


def _no_curves_text(runs: dict[str, Run]) -> str:
    """Why the named runs have no ROC or PR curve: the reason their record gives for image AUROC."""
    reasons = {
        model_label(model): run.record.unavailable.get("image_auroc", "no stored curve") for model, run in runs.items()
    }
    return "; ".join(f"{model}: {reason}" for model, reason in reasons.items())


def render(runs: dict[str, Run], category: str) -> None:
    """ROC and PR side by side (where the test split has defective and normal images, else why not), then the score
    histograms with the calibrated threshold."""
    stored = {model: read_curves(run) for model, run in runs.items()}
    curves = {model: found for model, found in stored.items() if found}
    auc = {
        model: run.record.metrics["image_auroc"]
        for model, run in runs.items()
        if model in curves and not math.isnan(run.record.metrics.get("image_auroc", math.nan))
    }
    missing = {model: run for model, run in runs.items() if model not in curves}
    if missing:
        st.info(f"No ROC or PR curve · {category}: {_no_curves_text(missing)}.", icon=":material/info:")
    if curves:
        roc, pr = st.columns(2)
        with roc:
            curve_chart.render({model: c["roc"] for model, c in curves.items()}, "roc", category, auc)
        with pr:
            curve_chart.render({model: c["pr"] for model, c in curves.items()}, "pr", category, {})
    score_chart.render({model: read_scores(run) for model, run in runs.items()}, CALIBRATED_THRESHOLD, category)
