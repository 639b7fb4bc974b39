"""The threshold and heatmap-opacity sliders, with the colour-scale legend under them; at its default the threshold
slider leaves each run judged at the false-alarm budget's thresholds, moved it overrides them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.inspect import heat_legend
from components.shared import false_alarm_budget
from services.inference.detector import Prediction
from services.postprocessing.regions import CALIBRATED_THRESHOLD
from services.registry.run_calibration import fitted_budget
from services.registry.runs import Run


@dataclass(frozen=True)
class ViewSettings:
    """How predictions are judged and drawn; changing them never re-runs a model."""

    threshold: float
    opacity: float
    budget: float
    """The session's false-alarm budget (a share of good parts)."""

    @property
    def manual(self) -> bool:
        """Whether the slider was moved: its threshold overrides the budget's."""
        return self.threshold != CALIBRATED_THRESHOLD

    def budget_for(self, run: Run) -> float | None:
        """The false-alarm budget ``run`` is judged at; ``None`` where the slider overrides it or the run has no
        normal scores to fit it to."""
        return None if self.manual else fitted_budget(run, self.budget)

    def judge(self, prediction: Prediction, run: Run) -> Prediction:
        """``prediction`` at the manual threshold, else at the budget's image and pixel thresholds for ``run`` (its
        own, 0.5, where it has no normal scores)."""
        return prediction.at_threshold(self.threshold) if self.manual else prediction.at_budget(run, self.budget)


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
        help=f"At {CALIBRATED_THRESHOLD} each run is judged at its thresholds for the false-alarm budget (image and "
        "pixel apart, set on the Models page). Moving it overrides them with one manual threshold and re-judges the "
        "stored anomaly maps (verdicts, masks, regions) without running the model again.",
    )
    opacity = right.slider("Heatmap opacity", min_value=0.0, max_value=1.0, value=0.5, step=0.05, key="opacity")
    heat_legend.render(threshold)
    return ViewSettings(threshold=threshold, opacity=opacity, budget=false_alarm_budget.current())
