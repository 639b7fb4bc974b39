"""The verdict rule with two thresholds: OK at or below the lower, NG above the upper, REVIEW in between.

Both default to the calibrated threshold, so REVIEW stays empty until an engineer widens the band (as industrial
inspection tools flag an uncertain zone between two thresholds for a person to decide).
"""

from __future__ import annotations

from enum import StrEnum

from services.postprocessing.regions import CALIBRATED_THRESHOLD


class Verdict(StrEnum):
    """What an inspection concludes for one image and one model."""

    OK = "OK"
    NG = "NG"
    REVIEW = "REVIEW"


def judge(score: float, lower: float = CALIBRATED_THRESHOLD, upper: float = CALIBRATED_THRESHOLD) -> Verdict:
    """``OK`` for ``score ≤ lower``, ``NG`` for ``score > upper``, else ``REVIEW``; ``lower`` may not exceed ``upper``.

    At or below the lower threshold is OK, as a single threshold judges a score equal to it normal.
    """
    if lower > upper:
        raise ValueError(f"the lower threshold {lower} is above the upper threshold {upper}")
    if score <= lower:
        return Verdict.OK
    return Verdict.NG if score > upper else Verdict.REVIEW
