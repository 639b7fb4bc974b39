"""A run's thresholds at any false-alarm budget: the evidence, and where they lie on the model's normalised outputs.

A run's model normalises scores and maps around the thresholds it was calibrated with (anomalib min-max:
``clip((raw − threshold)/(max − min) + 0.5, 0, 1)``), so a threshold fitted to another budget is applied by judging
the normalised outputs at its normalised value; the model is not run again. Runs without out-of-sample normal scores
keep their own thresholds (0.5), and say what is known of them instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from services.postprocessing.false_alarm import DEFAULT_RULE, FalseAlarmEvidence
from services.registry.normal_scores import NORMAL_SCORES, Calibration, NormalScores, fit_calibration
from services.registry.runs import Run

CALIBRATION = "calibration"
FORMER_RULE = "former rule: the highest score of the held-out validation normals, false-alarm rate unknown"
IMPORTED = "imported: its own threshold, false-alarm rate unknown"


@dataclass(frozen=True)
class RunCalibration:
    """A run's calibration at one budget and the normalised image and pixel thresholds it means for the run."""

    calibration: Calibration
    image_threshold: float
    pixel_threshold: float


def normalised(raw: float, stored: float, low: float, high: float) -> float:
    """``raw`` on the model's normalised scale, where ``stored`` (its own threshold) is 0.5 and ``high − low`` is 1."""
    span = high - low
    if span <= 0:
        return 0.5 if raw == stored else float(raw > stored)
    return min(max((raw - stored) / span + 0.5, 0.0), 1.0)


def stored_calibration(run: Run) -> Calibration | None:
    """The calibration training wrote into the run's record, if any."""
    values = run.record.protocol.get(CALIBRATION)
    return Calibration.from_dict(values) if values else None


@lru_cache(maxsize=512)
def _refit(folder: Path, modified_ns: int, budget: float, rule: str) -> Calibration | None:
    """The run's normal scores refitted at ``budget``, once per version of the file: pages judge every image of every
    model at each rerun."""
    scores = NormalScores.read(folder)
    return None if scores is None else fit_calibration(scores, budget, rule)


def _at_budget(run: Run, budget: float) -> Calibration | None:
    stored = stored_calibration(run)
    if stored is not None and math.isclose(stored.image.budget, budget):
        return stored
    path = run.path / NORMAL_SCORES
    if not path.is_file():
        return None
    return _refit(run.path, path.stat().st_mtime_ns, budget, stored.image.rule if stored else DEFAULT_RULE)


def run_calibration(run: Run, budget: float) -> RunCalibration | None:
    """The run's calibration at ``budget`` (the stored one, or refitted to its normal scores) with its normalised
    thresholds; ``None`` for a run that cannot be judged at a budget (:func:`calibration_status` says why)."""
    calibration = _at_budget(run, budget)
    if calibration is None:
        return None
    stored = run.record.thresholds
    return RunCalibration(
        calibration=calibration,
        image_threshold=normalised(
            calibration.image.threshold, stored["image"], stored["image_min"], stored["image_max"]
        ),
        pixel_threshold=normalised(
            calibration.pixel.threshold, stored["pixel"], stored["pixel_min"], stored["pixel_max"]
        ),
    )


def fitted_budget(run: Run, budget: float) -> float | None:
    """``budget`` where the run's thresholds can be fitted to it (what a record names), ``None`` where they cannot."""
    return None if run_calibration(run, budget) is None else budget


def calibration_status(run: Run) -> str:
    """What is known of the thresholds of a run that cannot be judged at a budget; empty for one that can."""
    if run.record.source:
        return IMPORTED
    stored = stored_calibration(run)
    if stored is None:
        return FORMER_RULE
    if NormalScores.read(run.path) is None:
        return (
            f"fitted to a {100 * stored.image.budget:g} % false-alarm budget; its normal scores ({NORMAL_SCORES}) are "
            "missing, so no other budget can be applied"
        )
    return ""


def percent(share: float) -> str:
    """A share as a percentage with two significant digits, without the sign: ``0.016`` → ``1.6``."""
    return f"{100 * share:.2g}"


def sources_text(sources: dict[str, int]) -> str:
    """Where the normal scores come from: ``48 training images scored without their look-alike group + 12 …``."""
    return " + ".join(f"{count} {source}" for source, count in sources.items())


def rate_text(evidence: FalseAlarmEvidence) -> str:
    """The false-alarm rate the evidence supports: ``≤ 1.6 % (95 %: 0.04–6 %)``."""
    low, high = evidence.interval
    return f"≤ {percent(evidence.expected_rate)} % (95 %: {percent(low)}–{percent(high)} %)"


def too_few_text(evidence: FalseAlarmEvidence) -> str:
    """Why the normals cannot support the budget, and how many it needs (for evidence without enough normals)."""
    n = evidence.n_normals
    return (
        f"With {n} normal images no rule can promise less than 1/({n}+1) = {percent(evidence.floor)} %; "
        f"a {percent(evidence.budget)} % budget needs ≥ {evidence.normals_needed}."
    )
