"""Score a fitted model on the test split and compute honest metrics.

Image and pixel F1 use the thresholds fitted on the validation split (no test labels). F1Max is reported
separately as the oracle-threshold F1: the best F1 over all thresholds on the test set itself, which is what
anomalib's MVTec default (validation = test) reports as F1 and what the reference study's protocol amounts to.

Pixel metrics count the images whose pixel truth is known: normal images (no defect pixel) and defective images with
a mask. A metric the test split cannot define (no labelled defect, no mask) is ``NaN`` with its reason in
:attr:`MetricValues.unavailable`, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

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
IMAGE_METRICS = ("image_auroc", "image_f1", "image_f1max")
PIXEL_METRICS = ("pixel_auroc", "pixel_f1", "pixel_f1max", "pixel_aupro")
NO_DEFECTS = "no labelled defects"
NO_NORMALS = "no normal test images"
NO_MASKS = "no ground-truth masks"
EMPTY_MASKS = "ground-truth masks hold no defect pixel"


@dataclass(frozen=True)
class ScoredTestSet:
    """Everything the model said about the test split, aligned with ``samples``."""

    samples: tuple[Sample, ...]
    scored: ScoredBatch
    gt_masks: np.ndarray  # (N, h, w) bool at the model's resolution; all False where no mask is known

    @property
    def gt_labels(self) -> np.ndarray:
        """Ground-truth image labels (True = anomalous)."""
        return np.array([s.is_anomalous for s in self.samples], dtype=bool)

    @property
    def pixel_truth_known(self) -> np.ndarray:
        """Per image: its pixel truth is known (a normal image, or a defective one with a mask)."""
        return np.array([not s.is_anomalous or s.mask_path is not None for s in self.samples], dtype=bool)


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
    unavailable: dict[str, str] = field(default_factory=dict)
    """Metric name → why it is ``NaN`` (e.g. ``pixel_auroc`` → ``no ground-truth masks``)."""

    def as_dict(self) -> dict[str, float]:
        """The metrics as plain floats for JSON (NaN where unavailable)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self) if f.name != "unavailable"}


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
    """Run the model over samples of any sizes: each image goes through the model's pre-processor on its own, as the
    Detector's are, and its mask with it (nearest-neighbour); ground truth is kept at the model's resolution."""
    model.eval().to(device)
    batches, masks = [], []
    for start in range(0, len(samples), batch_size):
        prepared = [
            model_inputs(model, image[None], mask[None])
            for image, mask in map(_load, samples[start : start + batch_size])
        ]
        batches.append(score_inputs(model, torch.cat([inputs for inputs, _ in prepared]).to(device)))
        masks.append(torch.cat([gt_masks for _, gt_masks in prepared]).cpu().numpy())
    return ScoredTestSet(samples=tuple(samples), scored=concat(batches), gt_masks=np.concatenate(masks))


def _f1max(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = precision_recall_curve(labels, scores)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )
    return float(f1.max())


def _aupro(raw_maps: np.ndarray, gt_masks: np.ndarray) -> float:
    metric = _AUPRO(fpr_limit=AUPRO_FPR_LIMIT)
    metric.update(torch.from_numpy(raw_maps), torch.from_numpy(gt_masks))
    return float(metric.compute())


def _image_reason(labels: np.ndarray) -> str | None:
    """Why image AUROC cannot be computed on these labels, or ``None`` when it can."""
    if not labels.any():
        return NO_DEFECTS
    return None if not labels.all() else NO_NORMALS


def _pixel_reason(scores: ScoredTestSet) -> str | None:
    """Why pixel metrics cannot be computed on this test set, or ``None`` when they can."""
    labels, known = scores.gt_labels, scores.pixel_truth_known
    if not labels.any():
        return NO_DEFECTS
    if not (labels & known).any():
        return NO_MASKS
    pixel_labels = scores.gt_masks[known]
    return None if pixel_labels.any() and not pixel_labels.all() else EMPTY_MASKS


def _image_metrics(labels: np.ndarray, scored: ScoredBatch, with_auroc: bool) -> dict[str, float]:
    return {
        "image_auroc": float(roc_auc_score(labels, scored.raw_scores)) if with_auroc else float("nan"),
        "image_f1": float(f1_score(labels, scored.labels, zero_division=0)),
        "image_f1max": _f1max(labels, scored.raw_scores),
    }


def _pixel_metrics(scores: ScoredTestSet) -> dict[str, float]:
    known = scores.pixel_truth_known
    gt_masks, raw_maps = scores.gt_masks[known], scores.scored.raw_maps[known]
    pixel_labels, pixel_scores = gt_masks.reshape(-1), raw_maps.reshape(-1)
    return {
        "pixel_auroc": float(roc_auc_score(pixel_labels, pixel_scores)),
        "pixel_f1": float(f1_score(pixel_labels, scores.scored.masks[known].reshape(-1), zero_division=0)),
        "pixel_f1max": _f1max(pixel_labels, pixel_scores),
        "pixel_aupro": _aupro(raw_maps, gt_masks),
    }


def compute_metrics(scores: ScoredTestSet) -> MetricValues:
    """AUROC and F1 at image and pixel level, F1Max (oracle) and AUPRO (FPR ≤ 0.3); pixel metrics over the images
    whose pixel truth is known. What the test split cannot define is ``NaN``, with the reason."""
    labels = scores.gt_labels
    image_reason, pixel_reason = _image_reason(labels), _pixel_reason(scores)
    unavailable_image = IMAGE_METRICS if image_reason == NO_DEFECTS else ("image_auroc",) if image_reason else ()
    unavailable = {
        **dict.fromkeys(unavailable_image, image_reason),
        **(dict.fromkeys(PIXEL_METRICS, pixel_reason) if pixel_reason else {}),
    }
    image = (
        dict.fromkeys(IMAGE_METRICS, float("nan"))
        if image_reason == NO_DEFECTS
        else _image_metrics(labels, scores.scored, with_auroc=image_reason is None)
    )
    pixel = dict.fromkeys(PIXEL_METRICS, float("nan")) if pixel_reason else _pixel_metrics(scores)
    return MetricValues(**image, **pixel, unavailable=unavailable)


def _thin(x: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> Curve:
    keep = np.unique(np.linspace(0, len(x) - 1, min(len(x), CURVE_POINTS)).round().astype(int))
    finite = np.nan_to_num(thresholds[keep], posinf=np.finfo(np.float32).max, neginf=np.finfo(np.float32).min)
    return Curve(x=x[keep].tolist(), y=y[keep].tolist(), thresholds=finite.tolist())


def image_curves(scores: ScoredTestSet) -> dict[str, Curve]:
    """Image-level ROC (x = FPR, y = TPR) and PR (x = recall, y = precision) on normalised scores; none when the test
    split lacks defective or normal images."""
    labels, values = scores.gt_labels, scores.scored.scores
    if _image_reason(labels):
        return {}
    fpr, tpr, roc_thresholds = roc_curve(labels, values)
    precision, recall, pr_thresholds = precision_recall_curve(labels, values)
    return {
        "roc": _thin(fpr, tpr, roc_thresholds),
        "pr": _thin(recall[:-1], precision[:-1], pr_thresholds),
    }
