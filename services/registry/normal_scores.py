"""A run's out-of-sample normal scores (``normal_scores.json``) and the calibration fitted to them at a budget.

Training writes the scores of normal images the model did not learn from: its training images scored with their own
patches left out of PatchCore's memory bank, and the held-out validation normals. Keeping them in the run lets any
false-alarm budget be applied later, without retraining and without any test image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.postprocessing.false_alarm import DEFAULT_RULE, FalseAlarmEvidence, fit_threshold

NORMAL_SCORES = "normal_scores.json"
LEAVE_GROUP_OUT = "training images scored without their look-alike group"
VALIDATION = "held-out validation normals"
VALIDATION_OUT_OF_GROUP = "held-out validation normals scored without their look-alike group"


@dataclass(frozen=True)
class NormalScores:
    """Per out-of-sample normal image: its image score and the highest value of its anomaly map (raw units)."""

    image: tuple[float, ...]
    pixel_peak: tuple[float, ...]
    sources: dict[str, int]
    """Where the scores come from → how many (``LEAVE_GROUP_OUT``, ``VALIDATION_OUT_OF_GROUP`` or ``VALIDATION``)."""

    def __post_init__(self) -> None:
        if len(self.image) != len(self.pixel_peak) or sum(self.sources.values()) != len(self.image):
            raise ValueError("normal scores: image scores, map peaks and source counts disagree in length")

    def write(self, folder: Path) -> Path:
        """Write ``normal_scores.json`` into a run folder."""
        path = folder / NORMAL_SCORES
        record = {"image": list(self.image), "pixel_peak": list(self.pixel_peak), "sources": self.sources}
        path.write_text(json.dumps(record, indent=1))
        return path

    @classmethod
    def read(cls, folder: Path) -> NormalScores | None:
        """The run's scores, or ``None`` for a run written before they were kept (or imported)."""
        path = folder / NORMAL_SCORES
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(image=tuple(data["image"]), pixel_peak=tuple(data["pixel_peak"]), sources=dict(data["sources"]))


@dataclass(frozen=True)
class Calibration:
    """Image and pixel thresholds fitted to one false-alarm budget, each with its evidence.

    The pixel threshold is fitted to the peaks of normal maps, so the budget also bounds how often a good part shows
    any region.
    """

    image: FalseAlarmEvidence
    pixel: FalseAlarmEvidence
    sources: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (``metrics.json`` → ``protocol.calibration``)."""
        return {"image": self.image.as_dict(), "pixel": self.pixel.as_dict(), "sources": self.sources}

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> Calibration:
        """Read back what :meth:`as_dict` wrote."""
        return cls(
            image=FalseAlarmEvidence.from_dict(values["image"]),  # type: ignore[arg-type]
            pixel=FalseAlarmEvidence.from_dict(values["pixel"]),  # type: ignore[arg-type]
            sources=dict(values["sources"]),  # type: ignore[arg-type]
        )


def fit_calibration(scores: NormalScores, budget: float, rule: str = DEFAULT_RULE) -> Calibration:
    """Thresholds for ``budget`` from out-of-sample normal scores alone."""
    return Calibration(
        image=fit_threshold(scores.image, budget, rule),
        pixel=fit_threshold(scores.pixel_peak, budget, rule),
        sources=scores.sources,
    )
