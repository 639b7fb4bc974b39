"""Vectors for defect regions and whole images, for similar-defect search, from a packaged ImageNet backbone.

Image vectors always come from here; region vectors of PatchCore runs come from the run's own features instead
(:mod:`services.similarity.residual_embedder`, which measured better), those of other models from here.

Region vector (``REGION_DIM`` = 271 values, L2-normalised), built from the region's core (its pixels scoring at least
``CORE_FRACTION`` of its peak that connect to the peak: what is most anomalous, not the normal surface a
generous threshold lets in) and a context crop around that core resized to ``CROP_SIZE``, so that it does not depend
on where the defect sits or how large the image is:

* appearance, 264 values: offline ImageNet EfficientNet-Lite0 features of the crop (stride 8 ``blocks.2``, 40
  channels; stride 16 ``blocks.4``, 112 channels), averaged inside the region's mask, plus the maximum of
  ``blocks.4`` inside the mask; each part L2-normalised;
* shape, 5 values: log relative area, elongation, solidity, extent and fill of the bounding box;
* anomaly statistics, 2 values: maximum and mean normalised anomaly score inside the region.

Shape and statistics are weighted (``SHAPE_WEIGHT``, ``STATS_WEIGHT``) against the unit-norm appearance part.
Image vector (``IMAGE_DIM`` = 152): global average of the two feature maps of the whole image at ``CROP_SIZE``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import timm
import torch
from torch.nn import functional

from services.modeling.backbones import load_pretrained_weights
from services.postprocessing.regions import DefectRegion, extract_regions, region_mask
from services.settings import Settings

BACKBONE = "tf_efficientnet_lite0"
FEATURE_INDICES = (2, 3)  # blocks.2 (stride 8), blocks.4 (stride 16)
CROP_SIZE = 128
CONTEXT = 0.5  # margin added on each side of the bounding box, as a fraction of its size
MIN_CROP_PX = 24
CORE_FRACTION = 0.85
"""Share of the region's peak score that bounds its core; the best of several on the synthetic PatchCore runs'
leave-one-image-out precision@5 (docs/results.md)."""
SHAPE_WEIGHT = 0.5
STATS_WEIGHT = 0.25
REGION_DIM = 40 + 112 + 112 + 5 + 2
IMAGE_DIM = 40 + 112
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def unit_length(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to L2 norm 1 (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def region_core(anomaly_map: np.ndarray, region: DefectRegion) -> DefectRegion:
    """The region's most anomalous part: its pixels at ≥ ``CORE_FRACTION`` of its peak, connected to the peak."""
    mask = region_mask(region, *anomaly_map.shape[:2]) & (anomaly_map >= CORE_FRACTION * region.max_score)
    cores = extract_regions(anomaly_map, mask, min_area_px=1)
    return cores[0] if cores else region  # ranked by max score: the part holding the peak


def shape_features(region: DefectRegion, mask: np.ndarray, image_area: int) -> np.ndarray:
    """Log relative area, elongation, solidity, extent, bbox fill (each roughly within [0, 1])."""
    points = np.argwhere(mask)[:, ::-1].astype(np.float32)
    (_, _), (side_a, side_b), _ = cv2.minAreaRect(points) if len(points) >= 3 else ((0, 0), (1.0, 1.0), 0)
    long_side, short_side = max(side_a, side_b, 1.0), max(min(side_a, side_b), 1.0)
    hull_area = cv2.contourArea(cv2.convexHull(points)) if len(points) >= 3 else 1.0
    area = float(mask.sum())
    _, _, box_w, box_h = region.bbox
    return np.array(
        [
            np.log10(max(area, 1.0) / image_area) / -6.0 + 1.0,
            1.0 - short_side / long_side,
            min(area / max(hull_area, 1.0), 1.0),
            min(area / (long_side * short_side), 1.0),
            area / max(box_w * box_h, 1),
        ],
        dtype=np.float32,
    )


@dataclass(frozen=True)
class RegionCrop:
    """The context crop around a region and the region's mask inside it."""

    rgb: np.ndarray
    mask: np.ndarray


def crop_region(rgb: np.ndarray, region: DefectRegion, mask: np.ndarray | None = None) -> RegionCrop:
    """A square context crop around the region's bounding box, clipped to the image.

    ``mask``: the region's :func:`~services.postprocessing.regions.region_mask` at the image's size, when the caller
    has it already.
    """
    height, width = rgb.shape[:2]
    x, y, w, h = region.bbox
    side = max(int(max(w, h) * (1 + 2 * CONTEXT)), MIN_CROP_PX)
    cx, cy = x + w / 2, y + h / 2
    left = int(np.clip(cx - side / 2, 0, max(width - side, 0)))
    top = int(np.clip(cy - side / 2, 0, max(height - side, 0)))
    right, bottom = min(left + side, width), min(top + side, height)
    full_mask = region_mask(region, height, width) if mask is None else mask
    return RegionCrop(rgb=rgb[top:bottom, left:right], mask=full_mask[top:bottom, left:right])


class Embedder:
    """Computes region and image vectors with the packaged ImageNet backbone (loaded once, thread-safe)."""

    def __init__(self, settings: Settings, device: str = "cpu") -> None:
        self.device = device
        self.backbone = timm.create_model(BACKBONE, pretrained=False, features_only=True, out_indices=FEATURE_INDICES)
        load_pretrained_weights(self.backbone, BACKBONE, settings)
        self.backbone.eval().to(device)
        self._lock = threading.Lock()

    @torch.inference_mode()
    def _features(self, rgb_batch: list[np.ndarray]) -> list[torch.Tensor]:
        resized = [cv2.resize(rgb, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA) for rgb in rgb_batch]
        tensor = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float().div_(255.0)
        tensor = ((tensor - IMAGENET_MEAN) / IMAGENET_STD).to(self.device)
        with self._lock:
            return [feature.cpu() for feature in self.backbone(tensor)]

    def region_vectors(self, rgb: np.ndarray, anomaly_map: np.ndarray, regions: list[DefectRegion]) -> np.ndarray:
        """(len(regions), REGION_DIM) unit vectors for regions of one image (map at the image's resolution)."""
        if not regions:
            return np.zeros((0, REGION_DIM), np.float32)
        regions = [region_core(anomaly_map, region) for region in regions]
        masks = [region_mask(region, *rgb.shape[:2]) for region in regions]
        crops = [crop_region(rgb, region, mask) for region, mask in zip(regions, masks, strict=True)]
        fine, coarse = self._features([crop.rgb for crop in crops])
        vectors = []
        image_area = rgb.shape[0] * rgb.shape[1]
        for i, (crop, region, full_mask) in enumerate(zip(crops, regions, masks, strict=True)):
            weights = torch.from_numpy(crop.mask.astype(np.float32))[None, None]
            parts = []
            for feature in (fine[i : i + 1], coarse[i : i + 1]):
                grid = functional.interpolate(weights, size=feature.shape[-2:], mode="area")[0, 0]
                grid = grid if grid.sum() > 0 else torch.ones_like(grid)
                parts.append(unit_length(((feature[0] * grid).sum((-2, -1)) / grid.sum()).numpy()))
            grid = functional.interpolate(weights, size=coarse.shape[-2:], mode="area")[0, 0] > 0
            inside = coarse[i][:, grid] if grid.any() else coarse[i].flatten(1)
            parts.append(unit_length(inside.amax(dim=1).numpy()))
            values = anomaly_map[full_mask] if full_mask.any() else np.array([region.max_score])
            stats = np.array([float(values.max()), float(values.mean())], np.float32)
            parts.append(SHAPE_WEIGHT * shape_features(region, full_mask, image_area))
            parts.append(STATS_WEIGHT * stats)
            vectors.append(unit_length(np.concatenate(parts).astype(np.float32)))
        return np.stack(vectors)

    def image_vector(self, rgb: np.ndarray) -> np.ndarray:
        """(IMAGE_DIM,) unit vector of the whole image."""
        fine, coarse = self._features([rgb])
        pooled = [unit_length(feature[0].mean((-2, -1)).numpy()) for feature in (fine, coarse)]
        return unit_length(np.concatenate(pooled).astype(np.float32))
