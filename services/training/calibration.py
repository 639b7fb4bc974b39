"""Decision thresholds fitted to a false-alarm budget from normal images the model did not learn from.

The old rule (the highest score of ~10 held-out normals) judged most new good parts NG: images from the same parts
and lighting as the training images score below new parts, and a maximum of a few says nothing about the next
hundred. The thresholds are now fitted by a rule of :mod:`services.postprocessing.false_alarm` to out-of-sample
normal scores — PatchCore's training and held-out normals scored without their look-alike group's patches, other
models' held-out normals — so that the share of new good parts judged NG (image threshold) or shown any region
(pixel threshold, fitted to map peaks) stays within the budget. No test image or label is read. anomalib's min-max
normalisation statistics are kept, so the normalised threshold stays at 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anomalib.models.components.base import AnomalibModule

from services.data.datasets import Sample
from services.data.images import read_rgb
from services.modeling.scoring import rgb_inputs
from services.postprocessing.false_alarm import DEFAULT_RULE
from services.registry.normal_scores import (
    LEAVE_GROUP_OUT,
    VALIDATION,
    VALIDATION_OUT_OF_GROUP,
    Calibration,
    NormalScores,
    fit_calibration,
)
from services.training.evaluation import score_samples


class CalibrationError(ValueError):
    """The images given for calibration cannot set thresholds."""


def out_of_sample_normals(model: AnomalibModule, normals: Sequence[Sample], device: str = "cpu") -> NormalScores:
    """The held-out ``normals`` scored by the fitted model, after its training images scored left out, if any.

    A PatchCore fitted with look-alike groups scores the held-out normals without their group's bank rows too
    (:mod:`services.modeling.patchcore.left_out`); other models score them as they would any image.
    """
    if not normals or any(sample.is_anomalous for sample in normals):
        raise CalibrationError("calibration needs at least one image, and only normal (defect-free) images")
    out_of_group = getattr(model, "score_out_of_group", None)
    held_out = out_of_group(rgb_inputs(model, [read_rgb(s.path) for s in normals])) if out_of_group else None
    if held_out is not None:
        held_image, held_peak, held_source = held_out.image, held_out.pixel_peak, VALIDATION_OUT_OF_GROUP
    else:
        scored = score_samples(model, normals, device=device).scored
        held_image, held_peak = scored.raw_scores, scored.raw_maps.reshape(len(normals), -1).max(axis=1)
        held_source = VALIDATION
    left_out = getattr(model, "left_out", None)
    train_image, train_peak = (left_out.image, left_out.pixel_peak) if left_out is not None else ((), ())
    sources = {LEAVE_GROUP_OUT: len(train_image)} if train_image else {}
    sources[held_source] = len(held_image)
    return NormalScores(
        image=tuple(map(float, (*train_image, *held_image))),
        pixel_peak=tuple(map(float, (*train_peak, *np.asarray(held_peak)))),
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
