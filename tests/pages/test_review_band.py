"""The REVIEW band: the thresholds around each run's threshold (clipped to the scale), the verdict at them, the
sentence under the score, and the legend's band, with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from components.inspect.threshold_controls import RecordedThresholds, ViewSettings
from components.inspect.verdict import rule_text
from services.inference.detector import Prediction
from services.postprocessing.verdict import Verdict
from services.records.capture import ThresholdBand

MAP = np.zeros((4, 4), np.float32)


def _judged(score: float, threshold: float = 0.625, pixel: float = 0.75) -> Prediction:
    return Prediction("part.png", "patchcore", "run", score, threshold, MAP, (), pixel_threshold=pixel)


def _view(below: float, above: float, recorded: RecordedThresholds | None = None) -> ViewSettings:
    return ViewSettings(
        threshold=0.5, opacity=0.5, budget=0.01, review_below=below, review_above=above, recorded=recorded
    )


def test_the_band_reaches_below_and_above_each_runs_own_threshold_and_keeps_its_map_threshold() -> None:
    assert _view(0.125, 0.25).band(_judged(0.7)) == ThresholdBand(lower=0.5, upper=0.875, pixel=0.75)
    assert _view(0.0, 0.0).band(_judged(0.7)) == ThresholdBand(lower=0.625, upper=0.625, pixel=0.75)
    assert _view(0.5, 0.5).band(_judged(0.7)) == ThresholdBand(lower=0.125, upper=1.0, pixel=0.75), "clipped at 1"
    assert _view(0.5, 0.0).band(_judged(0.1, threshold=0.25)).lower == 0.0, "clipped at 0"


@pytest.mark.parametrize(
    ("score", "verdict"),
    [(0.5, Verdict.OK), (0.5001, Verdict.REVIEW), (0.875, Verdict.REVIEW), (0.8751, Verdict.NG), (0.1, Verdict.OK)],
)
def test_the_verdict_is_ok_at_or_below_the_lower_ng_above_the_upper_review_between(
    score: float, verdict: Verdict
) -> None:
    assert _view(0.125, 0.25).verdict(_judged(score)) is verdict


def test_without_a_band_the_single_threshold_judges() -> None:
    assert [_view(0.0, 0.0).verdict(_judged(score)) for score in (0.625, 0.6251)] == [Verdict.OK, Verdict.NG]


def test_a_recorded_inspection_is_judged_at_its_recorded_thresholds_whatever_the_sliders() -> None:
    band = ThresholdBand(lower=0.25, upper=0.375, pixel=0.125)
    view = _view(0.5, 0.5, RecordedThresholds(band=band, budget=None))
    judged = view.judge(_judged(0.3), run=None)  # type: ignore[arg-type]
    assert (judged.threshold, judged.map_threshold) == (0.375, 0.125)
    assert view.band(judged) == band
    assert view.verdict(judged) is Verdict.REVIEW


def test_the_sentence_under_the_score_names_the_band() -> None:
    assert rule_text(0.7, ThresholdBand(0.5, 0.5, 0.5)) == "Score > threshold 0.50"
    assert rule_text(0.5, ThresholdBand(0.5, 0.5, 0.5)) == "Score ≤ threshold 0.50"
    band = ThresholdBand(0.45, 0.6, 0.5)
    assert rule_text(0.45, band) == "Score ≤ 0.45, below the REVIEW band"
    assert rule_text(0.5, band) == "Score in the REVIEW band (0.45, 0.60]"
    assert rule_text(0.61, band) == "Score > 0.60, above the REVIEW band"


def _legend(lower: float, upper: float) -> None:
    from components.inspect import heat_legend

    heat_legend.render(0.5, lower, upper)


@pytest.mark.parametrize(("lower", "upper", "label"), [(0.4, 0.7, "REVIEW 0.40–0.70 · threshold 0.50"), (0.5, 0.5, "")])
def test_the_legend_outlines_the_band_only_where_it_is_not_empty(lower: float, upper: float, label: str) -> None:
    app = AppTest.from_function(_legend, args=(lower, upper), default_timeout=60).run()
    (html,) = [element.proto.body for element in app.get("html")]
    assert ("left:40.0%;width:30.0%" in html) is bool(label)
    assert (label in html) if label else "REVIEW" not in html
