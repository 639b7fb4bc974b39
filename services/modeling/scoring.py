"""Run a fitted anomalib model on image tensors: raw and normalised scores and maps, without a Lightning Trainer.

This is the single forward path shared by evaluation (``services.training.evaluation``) and serving
(``services.inference.detector``): the model's own pre-processor transform, its torch model (or a compiled copy of
it with the same raw outputs, e.g. the OpenVINO IR of ``services.inference.openvino_backend``), then its
post-processor (min-max normalisation around the validation threshold, which maps to 0.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from anomalib.data import InferenceBatch
from anomalib.models.components.base import AnomalibModule
from torchvision.tv_tensors import Mask

RawForward = Callable[[torch.Tensor], InferenceBatch]


@dataclass(frozen=True)
class Thresholds:
    """The calibrated values stored in a checkpoint's post-processor (raw score units)."""

    image: float
    pixel: float
    image_min: float
    image_max: float
    pixel_min: float
    pixel_max: float

    @classmethod
    def of(cls, model: AnomalibModule) -> Thresholds:
        """Read them from a model's post-processor buffers."""
        post = model.post_processor
        return cls(
            image=float(post.image_threshold),
            pixel=float(post.pixel_threshold),
            image_min=float(post.image_min),
            image_max=float(post.image_max),
            pixel_min=float(post.pixel_min),
            pixel_max=float(post.pixel_max),
        )


@dataclass(frozen=True)
class ScoredBatch:
    """Model outputs for N images at the model's resolution (h, w)."""

    raw_scores: np.ndarray  # (N,) float32, model units
    raw_maps: np.ndarray  # (N, h, w) float32, model units
    scores: np.ndarray  # (N,) float32 in [0, 1]; 0.5 is the calibrated threshold
    maps: np.ndarray  # (N, h, w) float32 in [0, 1]; 0.5 is the calibrated pixel threshold
    labels: np.ndarray  # (N,) bool
    masks: np.ndarray  # (N, h, w) bool


def model_inputs(model: AnomalibModule, images: torch.Tensor, masks: torch.Tensor | None = None) -> tuple:
    """Apply the model's pre-processing transform to images in [0, 1] (N, 3, H, W) and, optionally, masks."""
    transform = model.pre_processor.transform
    if masks is None:
        return transform(images), None
    transformed, transformed_masks = transform(images, Mask(masks))
    return transformed, transformed_masks.as_subclass(torch.Tensor).bool()


def rgb_inputs(model: AnomalibModule, images: Sequence[np.ndarray]) -> torch.Tensor:
    """Pre-processed (N, 3, h, w) inputs for H×W×3 uint8 images of any sizes, each through the model's transform."""
    tensors = [torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().div_(255.0)[None] for rgb in images]
    return torch.cat([model_inputs(model, tensor)[0] for tensor in tensors])  # one by one: sizes may differ


@torch.inference_mode()
def score_inputs(model: AnomalibModule, inputs: torch.Tensor, forward: RawForward | None = None) -> ScoredBatch:
    """Score already pre-processed inputs: raw outputs of ``forward`` (default: the torch model), then the
    post-processor's normalisation by the checkpoint's thresholds and min/max."""
    raw: InferenceBatch = (forward or model.model)(inputs)
    post: InferenceBatch = model.post_processor(raw)
    raw_maps = raw.anomaly_map.float()
    return ScoredBatch(
        raw_scores=raw.pred_score.float().reshape(-1).cpu().numpy(),
        raw_maps=raw_maps.reshape(raw_maps.shape[0], *raw_maps.shape[-2:]).cpu().numpy(),
        scores=post.pred_score.float().reshape(-1).cpu().numpy(),
        maps=post.anomaly_map.float().reshape(raw_maps.shape[0], *raw_maps.shape[-2:]).cpu().numpy(),
        labels=post.pred_label.reshape(-1).cpu().numpy().astype(bool),
        masks=post.pred_mask.reshape(raw_maps.shape[0], *raw_maps.shape[-2:]).cpu().numpy().astype(bool),
    )


def concat(batches: list[ScoredBatch]) -> ScoredBatch:
    """Join scored batches in order."""
    return ScoredBatch(
        **{name: np.concatenate([getattr(b, name) for b in batches]) for name in ScoredBatch.__dataclass_fields__}
    )
