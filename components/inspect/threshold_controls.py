"""The threshold, REVIEW band and heatmap-opacity sliders, with the colour-scale legend under them; at its default
the threshold slider leaves each run judged at the false-alarm budget's thresholds, moved it overrides them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.inspect import heat_legend
from components.shared import false_alarm_budget, sign_in
from services.access import Action
from services.inference.detector import Prediction
from services.postprocessing.regions import CALIBRATED_THRESHOLD
from services.postprocessing.verdict import Verdict, judge
from services.records.capture import ThresholdBand
from services.registry.run_calibration import fitted_budget
from services.registry.runs import Run

MAX_BAND = 0.5
"""Furthest the REVIEW band reaches on either side of the threshold (normalised score)."""
DEFAULT_OPACITY = 0.5


@dataclass(frozen=True)
class RecordedThresholds:
    """The thresholds a recorded inspection was judged at, and the false-alarm budget they were fitted to (``None``:
    set by hand, or the run had no normal scores)."""

    band: ThresholdBand
    budget: float | None


@dataclass(frozen=True)
class ViewSettings:
    """How predictions are judged and drawn; changing them never re-runs a model."""

    threshold: float
    opacity: float
    budget: float
    """The session's false-alarm budget (a share of good parts)."""
    review_below: float = 0.0
    """How far below each run's threshold the REVIEW band reaches (0: no band below)."""
    review_above: float = 0.0
    """How far above each run's threshold the REVIEW band reaches (0: no band above)."""
    recorded: RecordedThresholds | None = None
    """Set when a past inspection is shown: it is judged at its recorded thresholds, whatever the sliders say."""

    @property
    def manual(self) -> bool:
        """Whether the slider was moved: its threshold overrides the budget's."""
        return self.threshold != CALIBRATED_THRESHOLD

    def budget_for(self, run: Run) -> float | None:
        """The false-alarm budget ``run`` is judged at; ``None`` where the slider overrides it or the run has no
        normal scores to fit it to."""
        return None if self.manual else fitted_budget(run, self.budget)

    def judge(self, prediction: Prediction, run: Run) -> Prediction:
        """``prediction`` at the recorded thresholds where set, else the manual threshold, else at the budget's image
        and pixel thresholds for ``run`` (its own, 0.5, where it has no normal scores)."""
        if self.recorded is not None:
            return prediction.at_threshold(self.recorded.band.upper, self.recorded.band.pixel)
        return prediction.at_threshold(self.threshold) if self.manual else prediction.at_budget(run, self.budget)

    def band(self, judged: Prediction) -> ThresholdBand:
        """The thresholds ``judged`` (from :meth:`judge`) is recorded and given its verdict at: the REVIEW band around
        its image threshold (within [0, 1]) and its map threshold; the recorded ones for a past inspection."""
        if self.recorded is not None:
            return self.recorded.band
        return ThresholdBand(
            lower=max(0.0, judged.threshold - self.review_below),
            upper=min(1.0, judged.threshold + self.review_above),
            pixel=judged.map_threshold,
        )

    def verdict(self, judged: Prediction) -> Verdict:
        """OK, NG or REVIEW for ``judged`` (from :meth:`judge`) at :meth:`band`."""
        band = self.band(judged)
        return judge(judged.score, band.lower, band.upper)


def _fixed() -> ViewSettings:
    """For a user who may not change thresholds: the opacity slider, each run's thresholds at the budget, no band."""
    opacity = st.slider(
        "Heatmap opacity", min_value=0.0, max_value=1.0, value=DEFAULT_OPACITY, step=0.05, key="opacity"
    )
    st.caption("Each run judges at its thresholds for the false-alarm budget; an engineer changes them.")
    heat_legend.render(CALIBRATED_THRESHOLD, CALIBRATED_THRESHOLD, CALIBRATED_THRESHOLD)
    return ViewSettings(threshold=CALIBRATED_THRESHOLD, opacity=opacity, budget=false_alarm_budget.current())


def render() -> ViewSettings:
    """The threshold and opacity sliders side by side, the REVIEW band's two sliders under them, and the legend; only
    the opacity slider for a user who may not change thresholds."""
    if not sign_in.acting_user().may(Action.THRESHOLDS):
        return _fixed()
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
    opacity = right.slider(
        "Heatmap opacity", min_value=0.0, max_value=1.0, value=DEFAULT_OPACITY, step=0.05, key="opacity"
    )
    band_help = (
        "The REVIEW band: a score from the threshold minus 'below' (exclusive) to the threshold plus 'above' "
        "(inclusive) is judged REVIEW, for a person to decide on the Review page; at or below it OK, above it NG. "
        "Both at 0: no band, every part is OK or NG."
    )
    below = left.slider(
        "REVIEW band below the threshold", 0.0, MAX_BAND, 0.0, step=0.01, key="review_below", help=band_help
    )
    above = right.slider(
        "REVIEW band above the threshold", 0.0, MAX_BAND, 0.0, step=0.01, key="review_above", help=band_help
    )
    heat_legend.render(threshold, max(0.0, threshold - below), min(1.0, threshold + above))
    return ViewSettings(
        threshold=threshold,
        opacity=opacity,
        budget=false_alarm_budget.current(),
        review_below=below,
        review_above=above,
    )
