"""Score a fitted model on the test split and compute honest metrics.

Image and pixel F1 use the thresholds fitted on the validation split (no test labels). F1Max is reported
separately as the oracle-threshold F1: the best F1 over all thresholds on the test set itself, which is what
anomalib's MVTec default (validation = test) reports as F1 and what the reference study's protocol amounts to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from anomalib.metrics.aupro import _AUPRO
from anomalib.models.components.base import AnomalibModule
from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score, roc_curve

from services.data.datasets import Sample, read_mask
from services.data.images import read_rgb
from services.modeling.scoring import ScoredBatch, concat, model_inputs, score_inputs

AUPRO_FPR_LIMIT = 0.3
CURVE_POINTS = 200


@dataclass(frozen=True)
class ScoredTestSet:
    """Everything the model said about the test split, aligned with ``samples``."""

    samples: tuple[Sample, ...]
    scored: ScoredBatch
    gt_masks: np.ndarray  # (N, h, w) bool at the model's resolution

    @property
    def gt_labels(self) -> np.ndarray:
        """Ground-truth image labels (True = anomalous)."""
        return np.array([s.is_anomalous for s in self.samples], dtype=bool)


@dataclass(frozen=True)
class MetricValues:
    """Test metrics of one run; ``*_f1`` at validation thresholds, ``*_f1max`` at the oracle threshold."""

    image_auroc: float
    image_f1: float
    image_f1max: float
    pixel_auroc: float
    pixel_f1: float
    pixel_f1max: float
    pixel_aupro: float

    def as_dict(self) -> dict[str, float]:
        """Plain floats for JSON."""
        return {key: float(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Curve:
    """Points of a curve, thinned to at most ``CURVE_POINTS``."""

    x: list[float]
    y: list[float]
    thresholds: list[float]


def _load(sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
    rgb = read_rgb(sample.path).astype(np.float32) / 255.0
    image = torch.from_numpy(rgb).permute(2, 0, 1)
    if sample.mask_path is None:
        mask = torch.zeros(rgb.shape[:2], dtype=torch.bool)
    else:
        mask = torch.from_numpy(read_mask(sample.mask_path))
    return image, mask


def score_samples(
    model: AnomalibModule, samples: Sequence[Sample], device: str = "cpu", batch_size: int = 8
) -> ScoredTestSet:
    """Run the model over samples (images of one size per batch) and keep ground truth at model resolution."""
    model.eval().to(device)
    batches, masks = [], []
    for start in range(0, len(samples), batch_size):
        loaded = [_load(s) for s in samples[start : start + batch_size]]
        images = torch.stack([image for image, _ in loaded])
        gt = torch.stack([mask for _, mask in loaded])
        inputs, gt_masks = model_inputs(model, images, gt)
        batches.append(score_inputs(model, inputs.to(device)))
        masks.append(gt_masks.cpu().numpy())
    return ScoredTestSet(samples=tuple(samples), scored=concat(batches), gt_masks=np.concatenate(masks))


def _f1max(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = precision_recall_curve(labels, scores)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )
    return float(f1.max())


def _aupro(raw_maps: np.ndarray, gt_masks: np.ndarray) -> float:
    if not gt_masks.any():
        return float("nan")
    metric = _AUPRO(fpr_limit=AUPRO_FPR_LIMIT)
    metric.update(torch.from_numpy(raw_maps), torch.from_numpy(gt_masks))
    return float(metric.compute())


def compute_metrics(scores: ScoredTestSet) -> MetricValues:
    """AUROC and F1 at image and pixel level, F1Max (oracle) and AUPRO (FPR ≤ 0.3)."""
    labels, scored = scores.gt_labels, scores.scored
    pixel_labels = scores.gt_masks.reshape(-1)
    pixel_scores = scored.raw_maps.reshape(-1)
    has_pixels = bool(pixel_labels.any()) and not bool(pixel_labels.all())
    return MetricValues(
        image_auroc=float(roc_auc_score(labels, scored.raw_scores)),
        image_f1=float(f1_score(labels, scored.labels, zero_division=0)),
        image_f1max=_f1max(labels, scored.raw_scores),
        pixel_auroc=float(roc_auc_score(pixel_labels, pixel_scores)) if has_pixels else float("nan"),
        pixel_f1=float(f1_score(pixel_labels, scored.masks.reshape(-1), zero_division=0)),
        pixel_f1max=_f1max(pixel_labels, pixel_scores) if has_pixels else float("nan"),
        pixel_aupro=_aupro(scored.raw_maps, scores.gt_masks),
    )


def _thin(x: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> Curve:
    keep = np.unique(np.linspace(0, len(x) - 1, min(len(x), CURVE_POINTS)).round().astype(int))
    finite = np.nan_to_num(thresholds[keep], posinf=np.finfo(np.float32).max, neginf=np.finfo(np.float32).min)
    return Curve(x=x[keep].tolist(), y=y[keep].tolist(), thresholds=finite.tolist())


def image_curves(scores: ScoredTestSet) -> dict[str, Curve]:
    """Image-level ROC (x = FPR, y = TPR) and PR (x = recall, y = precision) on normalised scores."""
    labels, values = scores.gt_labels, scores.scored.scores
    fpr, tpr, roc_thresholds = roc_curve(labels, values)
    precision, recall, pr_thresholds = precision_recall_curve(labels, values)
    return {
        "roc": _thin(fpr, tpr, roc_thresholds),
        "pr": _thin(recall[:-1], precision[:-1], pr_thresholds),
    }
