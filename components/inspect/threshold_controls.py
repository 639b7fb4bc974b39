"""The threshold and heatmap-opacity sliders, with the colour-scale legend under them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.inspect import heat_legend
from services.postprocessing.regions import CALIBRATED_THRESHOLD


@dataclass(frozen=True)
class ViewSettings:
    """How predictions are judged and drawn; changing them never re-runs a model."""

    threshold: float
    opacity: float


def render() -> ViewSettings:
    """Two sliders side by side and the legend."""
    left, right = st.columns(2)
    threshold = left.slider(
        "Threshold (normalised score)",
        min_value=0.0,
        max_value=1.0,
        value=CALIBRATED_THRESHOLD,
        step=0.01,
        key="threshold",
        help=f"{CALIBRATED_THRESHOLD} is the threshold calibrated on validation data. Moving it re-judges the "
        "stored anomaly maps (verdicts, masks, regions) without running the model again.",
    )
    opacity = right.slider("Heatmap opacity", min_value=0.0, max_value=1.0, value=0.5, step=0.05, key="opacity")
    heat_legend.render(threshold)
    return ViewSettings(threshold=threshold, opacity=opacity)
