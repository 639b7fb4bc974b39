"""One model's verdict on one image: score against the threshold, the verdict, and how long inference took."""

from __future__ import annotations

import streamlit as st

from services.inference.detector import Detector, Prediction


def render(prediction: Prediction, detector: Detector) -> None:
    """Score, verdict badge, defect count, timings and what ran (backend, arithmetic, device; the reason on hover);
    ``prediction`` is judged already."""
    score, verdict = st.columns([1, 1])
    score.metric("Anomaly score", f"{prediction.score:.3f}", help=f"Verdict threshold: {prediction.threshold:.2f}")
    if prediction.is_anomalous:
        verdict.markdown(
            f"**Verdict**  \n:red-badge[:material/warning: Anomalous] · {len(prediction.regions)} "
            f"defect region{'s' if len(prediction.regions) != 1 else ''}"
        )
    else:
        verdict.markdown("**Verdict**  \n:green-badge[:material/check_circle: Normal]")
    timings = prediction.timings_ms
    st.caption(
        f"Score {'>' if prediction.is_anomalous else '≤'} threshold {prediction.threshold:.2f} · inference "
        f"{timings.get('total', float('nan')):.0f} ms (model {timings.get('model', float('nan')):.0f} ms, "
        f"decode {timings.get('decode', float('nan')):.0f} ms, regions {timings.get('regions', float('nan')):.0f} ms) "
        f"on {detector.choice.backend} {detector.choice.precision} ({detector.choice.device})",
        help=f"Why this backend and arithmetic: {detector.choice.summary()}",
    )
