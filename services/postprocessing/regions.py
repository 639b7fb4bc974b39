"""Defect regions: the 8-connected components of a binary anomaly mask, described with their anomaly scores.

Coordinates are pixels of the mask, ``x`` = column and ``y`` = row, with pixel ``(x, y)`` centred on ``(x, y)``
(it covers ``[x-½, x+½) × [y-½, y+½)``): the convention of OpenCV contours and of plotly image click events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

CALIBRATED_THRESHOLD = 0.5
"""Where the validation-calibrated threshold lies on normalised scores and maps (anomalib's min-max
post-processing maps it to 0.5); the default for verdicts, masks and the regions of indexed cases."""
DEFAULT_MIN_AREA_PX = 16
"""Components smaller than this (a 4×4 patch) are treated as specks and dropped."""


class RegionInputError(ValueError):
    """The anomaly map or mask given to :func:`extract_regions` is not accepted."""


@dataclass(frozen=True)
class DefectRegion:
    """One connected defect region; ``id`` is its rank by ``max_score`` (1 = most anomalous)."""

    id: int
    bbox: tuple[int, int, int, int]
    """``(x, y, width, height)`` of the tight bounding box."""
    area_px: int
    area_pct: float
    """Share of the whole map, in percent."""
    max_score: float
    mean_score: float
    centroid: tuple[float, float]
    """``(x, y)`` mean pixel position."""
    contour: tuple[tuple[int, int], ...]
    """Simplified external outline as ``(x, y)`` pixel vertices; holes are not traced."""


def _validate(anomaly_map: np.ndarray, mask: np.ndarray, min_area_px: int) -> None:
    if not isinstance(anomaly_map, np.ndarray) or anomaly_map.ndim != 2:
        shape = getattr(anomaly_map, "shape", type(anomaly_map).__name__)
        raise RegionInputError(f"anomaly_map must be a 2-D array (height × width), got {shape}")
    if not np.issubdtype(anomaly_map.dtype, np.floating):
        raise RegionInputError(f"anomaly_map must have a floating-point dtype, got {anomaly_map.dtype}")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise RegionInputError(f"mask must be a boolean array (threshold the anomaly map first), got {dtype}")
    if mask.shape != anomaly_map.shape:
        raise RegionInputError(f"mask shape {mask.shape} differs from anomaly_map shape {anomaly_map.shape}")
    if not np.isfinite(anomaly_map).all():
        raise RegionInputError("anomaly_map contains NaN or infinite values")
    if min_area_px < 1:
        raise RegionInputError(f"min_area_px must be at least 1, got {min_area_px}")


def _outline(component: np.ndarray, left: int, top: int) -> tuple[tuple[int, int], ...]:
    """External contour of the single component drawn in ``component`` (a crop whose origin is ``(left, top)``)."""
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=len).reshape(-1, 2)
    return tuple((int(x) + left, int(y) + top) for x, y in outline)


def extract_regions(
    anomaly_map: np.ndarray, mask: np.ndarray, min_area_px: int = DEFAULT_MIN_AREA_PX
) -> list[DefectRegion]:
    """Regions of ``mask`` (8-connected) with at least ``min_area_px`` pixels, scored on ``anomaly_map``.

    Sorted by maximum score, highest first (ties: larger area, then top-left first); ids are 1..n in that order.
    Raises :class:`RegionInputError` for maps and masks that are not same-shaped 2-D float and boolean arrays.
    """
    _validate(anomaly_map, mask, min_area_px)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    total_px = mask.size
    found: list[DefectRegion] = []
    for label in range(1, count):
        left, top, width, height, area = (int(v) for v in stats[label])
        if area < min_area_px:
            continue
        component = labels[top : top + height, left : left + width] == label
        scores = anomaly_map[top : top + height, left : left + width][component]
        found.append(
            DefectRegion(
                id=0,
                bbox=(left, top, width, height),
                area_px=area,
                area_pct=100.0 * area / total_px,
                max_score=float(scores.max()),
                mean_score=float(scores.mean()),
                centroid=(float(centroids[label][0]), float(centroids[label][1])),
                contour=_outline(component, left, top),
            )
        )
    found.sort(key=lambda r: (-r.max_score, -r.area_px, r.bbox[1], r.bbox[0]))
    return [replace(region, id=rank) for rank, region in enumerate(found, start=1)]


def region_mask(region: DefectRegion, height: int, width: int) -> np.ndarray:
    """``(height, width)`` boolean mask of the region's filled outline."""
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.array(region.contour, np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)
