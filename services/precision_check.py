"""Images that check a reduced-precision forward (bf16, fp16) against f32 before the Detector uses it.

The run's normal training images (``train/good``, evenly spaced) and a pseudo-anomalous copy of each
(:func:`services.pseudo_anomalies.synthesize_anomaly`, natural-photo patches and perturbations), so that the check
sees anomalous activations as well as normal ones. No test image or label is read. Random noise, the earlier probe,
saturates every score far above the threshold, where a drift means nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from anomalib.models.components.base import AnomalibModule

from services.datasets import list_samples
from services.images import load_image
from services.natural_images import natural_photos
from services.pseudo_anomalies import synthesize_anomaly
from services.registry import Run
from services.scoring import rgb_inputs

MAX_TRAINING_IMAGES = 8  # with their copies: 16 check images
PSEUDO_ANOMALY_SEED = 0


class PrecisionCheckError(RuntimeError):
    """The run's training images, which the check needs, cannot be read."""


def check_inputs(module: AnomalibModule, run: Run, max_pixels: int) -> torch.Tensor:
    """Pre-processed (N, 3, h, w): up to ``MAX_TRAINING_IMAGES`` training images, each followed by its copy."""
    record = run.record
    try:
        samples = list_samples(Path(record.dataset_root), record.category, "train")
    except Exception as exc:  # a moved or missing dataset
        raise PrecisionCheckError(f"no training images to check on: {exc}") from exc
    if not samples:
        raise PrecisionCheckError(f"no training images to check on in {Path(record.dataset_root) / record.category}")
    picks = np.unique(np.linspace(0, len(samples) - 1, min(len(samples), MAX_TRAINING_IMAGES)).round().astype(int))
    photos = [photo.rgb for photo in natural_photos()]
    images = []
    for n, i in enumerate(picks):
        rgb = load_image(samples[i].path, max_pixels=max_pixels).rgb
        anomalous, _ = synthesize_anomaly(rgb, np.random.default_rng([PSEUDO_ANOMALY_SEED, n]), photos)
        images += [rgb, anomalous]
    return rgb_inputs(module, images)
