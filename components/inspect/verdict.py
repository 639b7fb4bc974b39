"""One model's verdict on one image: score against the thresholds, OK / NG / REVIEW, and how long inference took."""

from __future__ import annotations

import streamlit as st

from services.inference.detector import Detector, Prediction
from services.postprocessing.verdict import Verdict, judge
from services.records.capture import ThresholdBand

BADGES = {
    Verdict.OK: ":green-badge[:material/check_circle: OK · Normal]",
    Verdict.NG: ":red-badge[:material/warning: NG · Anomalous]",
    Verdict.REVIEW: ":orange-badge[:material/help: REVIEW · Uncertain]",
}


def rule_text(score: float, band: ThresholdBand) -> str:
    """Where the score lies against the thresholds: ``Score > threshold 0.50``, or against the REVIEW band."""
    if band.lower == band.upper:
        return f"Score {'>' if score > band.upper else '≤'} threshold {band.upper:.2f}"
    where = {
        Verdict.OK: f"≤ {band.lower:.2f}, below the REVIEW band",
        Verdict.REVIEW: f"in the REVIEW band ({band.lower:.2f}, {band.upper:.2f}]",
        Verdict.NG: f"> {band.upper:.2f}, above the REVIEW band",
    }
    return f"Score {where[judge(score, band.lower, band.upper)]}"


def render(prediction: Prediction, band: ThresholdBand, detector: Detector) -> None:
    """Score, verdict badge at ``band`` (with the defect count for NG and REVIEW), timings and what ran (backend,
    arithmetic, device; the reason on hover); ``prediction`` is judged already."""
    score, verdict = st.columns([1, 1])
    outcome = judge(prediction.score, band.lower, band.upper)
    score.metric(
        "Anomaly score",
        f"{prediction.score:.3f}",
        help=f"OK at or below {band.lower:.2f}, NG above {band.upper:.2f}, REVIEW between (for a person to decide)",
    )
    regions = len(prediction.regions)
    count = f" · {regions} defect region{'s' if regions != 1 else ''}" if outcome is not Verdict.OK else ""
    verdict.markdown(f"**Verdict**  \n{BADGES[outcome]}{count}")
    timings = prediction.timings_ms
    st.caption(
        f"{rule_text(prediction.score, band)} · inference "
        f"{timings.get('total', float('nan')):.0f} ms (model {timings.get('model', float('nan')):.0f} ms, "
        f"decode {timings.get('decode', float('nan')):.0f} ms, regions {timings.get('regions', float('nan')):.0f} ms) "
        f"on {detector.choice.backend} {detector.choice.precision} ({detector.choice.device})",
        help=f"Why this backend and arithmetic: {detector.choice.summary()}",
    )
