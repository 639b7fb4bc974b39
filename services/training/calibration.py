"""Decision thresholds fitted to a false-alarm budget from normal images the model did not learn from.

The old rule (the highest score of ~10 held-out normals) judged most new good parts NG: images from the same parts
and lighting as the training images score below new parts, and a maximum of a few says nothing about the next
hundred. The thresholds are now fitted by a rule of :mod:`services.postprocessing.false_alarm` to out-of-sample
normal scores — PatchCore's training images scored leave-one-image-out, plus the held-out validation normals — so that
the share of new good parts judged NG (image threshold) or shown any region (pixel threshold, fitted to map peaks)
stays within the budget. No test image or label is read. anomalib's min-max normalisation statistics are kept, so
the normalised threshold stays at 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anomalib.models.components.base import AnomalibModule

from services.data.datasets import Sample
from services.postprocessing.false_alarm import DEFAULT_RULE
from services.registry.normal_scores import LEAVE_ONE_OUT, VALIDATION, Calibration, NormalScores, fit_calibration
from services.training.evaluation import score_samples


class CalibrationError(ValueError):
    """The images given for calibration cannot set thresholds."""


def out_of_sample_normals(model: AnomalibModule, normals: Sequence[Sample], device: str = "cpu") -> NormalScores:
    """The held-out ``normals`` scored by the fitted model, after its leave-one-image-out training scores if any."""
    if not normals or any(sample.is_anomalous for sample in normals):
        raise CalibrationError("calibration needs at least one image, and only normal (defect-free) images")
    scored = score_samples(model, normals, device=device).scored
    peaks = scored.raw_maps.reshape(len(normals), -1).max(axis=1)
    left_out = getattr(model, "leave_one_out", None)
    loo_image, loo_peak = (left_out.image, left_out.pixel_peak) if left_out is not None else ((), ())
    sources = {LEAVE_ONE_OUT: len(loo_image), VALIDATION: len(normals)} if loo_image else {VALIDATION: len(normals)}
    return NormalScores(
        image=tuple(map(float, (*loo_image, *scored.raw_scores))),
        pixel_peak=tuple(map(float, (*loo_peak, *np.asarray(peaks)))),
        sources=sources,
    )


def apply_calibration(model: AnomalibModule, calibration: Calibration) -> None:
    """Set the model's image and pixel thresholds (its post-processor buffers, saved with the checkpoint)."""
    post = model.post_processor
    post._image_threshold.fill_(calibration.image.threshold)
    post._pixel_threshold.fill_(calibration.pixel.threshold)


def calibrate(
    model: AnomalibModule,
    normals: Sequence[Sample],
    budget: float,
    device: str = "cpu",
    rule: str = DEFAULT_RULE,
) -> tuple[Calibration, NormalScores]:
    """Fit thresholds for ``budget`` to the model's out-of-sample normal scores and set them on the model."""
    scores = out_of_sample_normals(model, normals, device)
    calibration = fit_calibration(scores, budget, rule)
    apply_calibration(model, calibration)
    return calibration, scores
