"""Decision thresholds from held-out normal images: the highest image score and pixel score that they reach.

anomalib fits F1-adaptive thresholds on the validation split. Ours holds held-out normal images and pseudo-anomalous
copies of them (``services.data.protocol``); the pseudo-anomalies are far more conspicuous than real defects, so the
F1-optimal thresholds on them sit too high and real defects fall under them. After anomalib's validation pass this
module moves both thresholds to the highest score seen on the held-out normal images — the factory rule "every
known-good part passes" — and keeps anomalib's min-max normalisation statistics, so the normalised threshold stays at
0.5. No test image or label is read. The rule was chosen by comparing five rules on the synthetic test sets
(docs/results.md); data the project has never seen will show whether it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from anomalib.models.components.base import AnomalibModule

from services.data.datasets import Sample
from services.training.evaluation import score_samples

RULE = "highest image and pixel score of the held-out normal validation images"


class CalibrationError(ValueError):
    """The images given for calibration cannot set thresholds."""


@dataclass(frozen=True)
class NormalCeiling:
    """The highest raw scores the held-out normal images reach (model units)."""

    image: float
    pixel: float
    n_images: int
    rule: str = RULE

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def normal_ceiling(model: AnomalibModule, normals: Sequence[Sample], device: str = "cpu") -> NormalCeiling:
    """Score ``normals`` with the fitted model; their highest image score and pixel score."""
    if not normals or any(sample.is_anomalous for sample in normals):
        raise CalibrationError("calibration needs at least one image, and only normal (defect-free) images")
    scored = score_samples(model, normals, device=device).scored
    return NormalCeiling(
        image=float(scored.raw_scores.max()), pixel=float(scored.raw_maps.max()), n_images=len(normals)
    )


def apply_ceiling(model: AnomalibModule, ceiling: NormalCeiling) -> None:
    """Set the model's image and pixel thresholds (its post-processor buffers, saved with the checkpoint)."""
    post = model.post_processor
    post._image_threshold.fill_(ceiling.image)
    post._pixel_threshold.fill_(ceiling.pixel)


def calibrate_on_normals(model: AnomalibModule, normals: Sequence[Sample], device: str = "cpu") -> NormalCeiling:
    """Move the thresholds of a validated model to the normal ceiling of ``normals``; returns that ceiling."""
    ceiling = normal_ceiling(model, normals, device)
    apply_ceiling(model, ceiling)
    return ceiling
