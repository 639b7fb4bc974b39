"""The two-threshold verdict rule."""

from __future__ import annotations

import pytest

from services.postprocessing.verdict import Verdict, judge


@pytest.mark.parametrize(
    ("score", "lower", "upper", "expected"),
    [
        (0.2, 0.4, 0.6, Verdict.OK),
        (0.4, 0.4, 0.6, Verdict.OK),
        (0.41, 0.4, 0.6, Verdict.REVIEW),
        (0.6, 0.4, 0.6, Verdict.REVIEW),
        (0.61, 0.4, 0.6, Verdict.NG),
        (0.5, 0.5, 0.5, Verdict.OK),
        (0.5001, 0.5, 0.5, Verdict.NG),
    ],
)
def test_ok_at_or_below_lower_ng_above_upper_review_between(
    score: float, lower: float, upper: float, expected: Verdict
) -> None:
    assert judge(score, lower, upper) is expected


def test_both_thresholds_default_to_the_calibrated_one_so_review_is_empty() -> None:
    scores = [i / 1000 for i in range(1001)]
    verdicts = {judge(score) for score in scores}
    assert verdicts == {Verdict.OK, Verdict.NG}
    assert judge(0.5) is Verdict.OK and judge(0.501) is Verdict.NG


def test_a_lower_threshold_above_the_upper_is_refused() -> None:
    with pytest.raises(ValueError, match=r"lower threshold 0\.7 is above the upper threshold 0\.6"):
        judge(0.5, 0.7, 0.6)
